// deno-lint-ignore-file no-console -- this script prints its report for people
/**
 * `deno task bench`: how close the worker gets to what the store itself can absorb, on this
 * machine, and how far it is ahead of one transaction per event.
 *
 * For each store (SQLite file in WAL mode; PostgreSQL when reachable):
 *  1. store limit: the feed's pages, already generated, parsed and reduced in memory, pushed
 *     through `store.applyPage` alone;
 *  2. worker: a full `scan-worker run --drain` against the built-in simulator over HTTP;
 *  3. naive baseline: the same store with one transaction per event (the original design),
 *     on the first `--naive-events` events;
 *  4. with --instant-api: the worker again, against every page of the feed rendered once and
 *     served from this process's memory, an API that costs next to nothing: the worker's own
 *     ceiling on this machine, without the simulator's CPU.
 * Prints events/s, page latency p50/p99, the worker's peak RSS, the ratios, the CPU the worker
 * and the simulator spent per page (they share this machine's cores), and (--json) JSON.
 *
 * Options: --events N (1000000), --parcels P (events/10), --limit N (SCAN_API_LIMIT or 1000),
 * --store sqlite|postgres|all (all), --naive-events N (20000), --skip-limit, --skip-naive,
 * --instant-api, --json.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { cliCommand, startSimulatorProcess } from "./subprocess.ts";
// @ts-types="npm:@types/pg@^8.15.6"
import pg from "pg";
import { projectPage } from "../src/domain/project.ts";
import { feedShape, pageEvents, pageText } from "../src/simulator/model.ts";
import { PostgresStore } from "../src/store/postgres.ts";
import { SqliteStore } from "../src/store/sqlite.ts";
import type { Store } from "../src/store/store.ts";

const PG_URL = Deno.env.get("BENCH_PG_URL") ?? Deno.env.get("PG_TEST_URL") ??
  "postgres://postgres@127.0.0.1:5432/test";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    events: { type: "string", default: "1000000" },
    parcels: { type: "string" },
    limit: { type: "string", default: Deno.env.get("SCAN_API_LIMIT") ?? "1000" },
    store: { type: "string", default: "all" },
    "naive-events": { type: "string", default: "20000" },
    "skip-limit": { type: "boolean", default: false },
    "skip-naive": { type: "boolean", default: false },
    "instant-api": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});
const events = Number(values.events);
const parcels = Number(values.parcels ?? Math.ceil(events / 10));
const limit = Number(values.limit);
const naiveEvents = Math.min(events, Number(values["naive-events"]));
const seed = 1;
const shape = feedShape({ seed, events, parcels });

/** A fresh database of one kind, and how to drop it. */
interface Target {
  readonly kind: "sqlite" | "postgres";
  readonly url: string;
  open(): Store;
  drop(): Promise<void>;
}

async function freshTarget(kind: Target["kind"]): Promise<Target> {
  if (kind === "sqlite") {
    const dir = await Deno.makeTempDir({ prefix: "scan-worker-bench-" });
    const path = `${dir}/bench.db`;
    return {
      kind,
      url: `sqlite:${path}`,
      open: () => new SqliteStore(path),
      drop: () => Deno.remove(dir, { recursive: true }),
    };
  }
  const name = `scan_worker_bench_${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return {
    kind,
    url: url.href,
    open: () => new PostgresStore({ connectionString: url.href }),
    drop: async () => {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

async function postgresReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
}

/** Events/s and page latencies (ms) of one measurement. */
interface Measure {
  events: number;
  seconds: number;
  eventsPerSecond: number;
  pageP50Ms: number;
  pageP99Ms: number;
  peakRssMb?: number;
  fetchP50Ms?: number;
  fetchP99Ms?: number;
  /** CPU the worker process used per page (all its threads), in ms. */
  workerCpuMsPerPage?: number;
  /** CPU the simulator used per page while serving the worker, in ms. */
  simulatorCpuMsPerPage?: number;
}

function measure(
  count: number,
  seconds: number,
  pageMs: number[],
  extra: Partial<Measure> = {},
): Measure {
  const sorted = [...pageMs].sort((a, b) => a - b);
  return {
    events: count,
    seconds: Math.round(seconds * 100) / 100,
    eventsPerSecond: Math.round(count / seconds),
    pageP50Ms: Math.round(percentile(sorted, 0.5) * 100) / 100,
    pageP99Ms: Math.round(percentile(sorted, 0.99) * 100) / 100,
    ...extra,
  };
}

/** 1. The store alone: pages generated and reduced outside the clock. */
async function storeLimit(kind: Target["kind"]): Promise<Measure> {
  const target = await freshTarget(kind);
  const store = target.open();
  try {
    await store.migrate();
    let checkpoint = 0;
    let seconds = 0;
    const pageMs: number[] = [];
    for (;;) {
      const raw = pageEvents(shape, checkpoint + 1, limit, events).map((e) => e.raw);
      const result = projectPage(checkpoint, raw);
      if (result.empty) break;
      const started = performance.now();
      await store.applyPage(result);
      const ms = performance.now() - started;
      seconds += ms / 1000;
      pageMs.push(ms);
      checkpoint = result.to;
    }
    return measure(events, seconds, pageMs);
  } finally {
    await store.close();
    await target.drop();
  }
}

/** 3. One transaction per event through the same store. */
async function naive(kind: Target["kind"]): Promise<Measure> {
  const target = await freshTarget(kind);
  const store = target.open();
  try {
    await store.migrate();
    let checkpoint = 0;
    let done = 0;
    const eventMs: number[] = [];
    const started = performance.now();
    while (done < naiveEvents) {
      const page = pageEvents(shape, checkpoint + 1, Math.min(limit, naiveEvents - done), events);
      for (const event of page) {
        const t = performance.now();
        const result = projectPage(checkpoint, [event.raw]);
        await store.applyPage(result);
        eventMs.push(performance.now() - t);
        checkpoint = result.to;
        done++;
      }
    }
    return measure(done, (performance.now() - started) / 1000, eventMs);
  } finally {
    await store.close();
    await target.drop();
  }
}

/** A process's CPU time so far and resident memory, or null once it is gone. */
interface ProcessUsage {
  cpuMs: number;
  rssMb: number;
}

/**
 * Read a process's usage from `/proc/PID/stat` (through `cat`: Deno reads /proc only with
 * --allow-all). Linux only; elsewhere null. CPU is user + system time, in clock ticks of
 * 10 ms; RSS is in pages of 4 KiB.
 */
async function usage(pid: number): Promise<ProcessUsage | null> {
  const out = await new Deno.Command("cat", {
    args: [`/proc/${pid}/stat`],
    stdout: "piped",
    stderr: "null",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  // Fields after the command name (which may hold spaces) start at field 3.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  if (!out.success || fields.length < 22) return null;
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { cpuMs: ticks * 10, rssMb: Number(fields[21]) * 4096 / 1048576 };
}

/**
 * The simulator's own speed: pages of `limit` read back to back over HTTP, after as many again
 * to warm it up (its first pages run before the JIT has compiled the page code).
 */
async function simulatorSpeed(url: string): Promise<number> {
  const pages = Math.max(1, Math.min(300, Math.floor(Math.ceil(events / limit) / 2)));
  let from = 1;
  let started = performance.now();
  for (let i = 0; i < 2 * pages; i++) {
    if (i === pages) started = performance.now();
    const text = await (await fetch(`${url}?FromEventId=${from}&Limit=${limit}`)).text();
    const last = text.lastIndexOf('"EventId":');
    from = Number(/\d+/.exec(text.slice(last + 10))?.[0] ?? from) + 1;
  }
  return Math.round(pages / ((performance.now() - started) / 1000));
}

/**
 * 4. An API that costs next to nothing: every page the worker will ask for, rendered once and
 * served from memory (page k+1 starts after page k's last EventId, as the worker asks).
 */
function instantApi(): { url: string; close: () => Promise<void> } {
  const encoder = new TextEncoder();
  const empty = encoder.encode(pageText([]));
  const bodies = new Map<number, Uint8Array<ArrayBuffer>>();
  for (let from = 1;;) {
    const page = pageEvents(shape, from, limit, events);
    const last = page.at(-1);
    if (last === undefined) break;
    bodies.set(from, encoder.encode(pageText(page)));
    from = last.eventId + 1;
  }
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const from = Number(new URL(request.url).searchParams.get("FromEventId"));
    return new Response(bodies.get(from) ?? empty, {
      headers: { "content-type": "application/json" },
    });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/v1/scans/scanevents`,
    close: () => server.shutdown(),
  };
}

/**
 * 2. The worker, end to end, over HTTP, against `url`; with `simulatorPid`, the CPU that
 * process spends meanwhile is measured too.
 */
async function worker(
  kind: Target["kind"],
  url: string,
  simulatorPid: number | null,
): Promise<Measure> {
  const target = await freshTarget(kind);
  try {
    const migrate = await cliCommand(["migrate"], { env: { DATABASE_URL: target.url } })
      .output();
    if (!migrate.success) throw new Error(new TextDecoder().decode(migrate.stderr));
    const process = cliCommand(["run", "--drain", "--no-migrate"], {
      env: {
        SCAN_API_URL: url,
        SCAN_API_LIMIT: String(limit),
        DATABASE_URL: target.url,
        LOG_LEVEL: "debug",
        LOG_FORMAT: "json",
      },
    }).spawn();
    const simulatorBefore = simulatorPid === null ? null : await usage(simulatorPid);
    let peak = 0;
    let workerCpuMs = 0;
    let running = true;
    const sampling = (async () => {
      while (running) {
        const sample = await usage(process.pid);
        if (sample !== null) {
          peak = Math.max(peak, sample.rssMb);
          workerCpuMs = sample.cpuMs;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const [status, stdout] = await Promise.all([
      process.status,
      new Response(process.stdout).text(),
      new Response(process.stderr).text(),
    ]);
    running = false;
    await sampling;
    const simulatorAfter = simulatorPid === null ? null : await usage(simulatorPid);
    if (!status.success) throw new Error(`the worker exited with ${status.code}`);
    const lines = stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
    const pages = lines.filter((l) => String(l.message).startsWith("Page "));
    const first = lines.find((l) => String(l.message).startsWith("Starting at checkpoint"));
    const last = lines.find((l) => String(l.message).startsWith("Stopped at checkpoint"));
    const seconds = (Date.parse(last["@timestamp"]) - Date.parse(first["@timestamp"])) / 1000;
    const fetchMs = pages.map((p) => Number(p.properties.fetchMs)).sort((a, b) => a - b);
    const perPage = (ms: number) => Math.round(ms / pages.length * 100) / 100;
    return measure(events, seconds, pages.map((p) => Number(p.properties.ms)), {
      peakRssMb: Math.round(peak),
      fetchP50Ms: percentile(fetchMs, 0.5),
      fetchP99Ms: percentile(fetchMs, 0.99),
      // The last sample is up to 100 ms before the exit: a floor on the worker's CPU.
      workerCpuMsPerPage: perPage(workerCpuMs),
      simulatorCpuMsPerPage: simulatorBefore && simulatorAfter
        ? perPage(simulatorAfter.cpuMs - simulatorBefore.cpuMs)
        : undefined,
    });
  } finally {
    await target.drop();
  }
}

const stores: Target["kind"][] = values.store === "all"
  ? ["sqlite", ...(await postgresReachable() ? ["postgres" as const] : [])]
  : [values.store as Target["kind"]];

const report: Record<string, unknown> = {
  machine: { cpus: navigator.hardwareConcurrency, deno: Deno.version.deno, os: Deno.build.os },
  events,
  parcels,
  limit,
  naiveEvents,
  stores: {},
};
const simulator = await startSimulatorProcess(
  ["--events", String(events), "--parcels", String(parcels), "--max-limit", String(limit)],
);
try {
  report.simulatorPagesPerSecond = await simulatorSpeed(simulator.url);
  for (const kind of stores) {
    console.error(`bench: ${kind}…`);
    const limitMeasure = values["skip-limit"] ? null : await storeLimit(kind);
    const workerMeasure = await worker(kind, simulator.url, simulator.pid);
    const naiveMeasure = values["skip-naive"] ? null : await naive(kind);
    let instantMeasure: Measure | null = null;
    if (values["instant-api"]) {
      const api = instantApi();
      try {
        instantMeasure = await worker(kind, api.url, null);
      } finally {
        await api.close();
      }
    }
    (report.stores as Record<string, unknown>)[kind] = {
      storeLimit: limitMeasure,
      worker: workerMeasure,
      naive: naiveMeasure,
      workerInstantApi: instantMeasure,
      workerToLimit: limitMeasure
        ? Math.round(workerMeasure.eventsPerSecond / limitMeasure.eventsPerSecond * 100) / 100
        : null,
      workerToNaive: naiveMeasure
        ? Math.round(workerMeasure.eventsPerSecond / naiveMeasure.eventsPerSecond * 10) / 10
        : null,
    };
  }
} finally {
  await simulator.stop();
}

/** Row names of the measures. */
const LABELS = {
  storeLimit: "store limit",
  worker: "worker",
  naive: "naive",
  workerInstantApi: "instant API",
} as const;

if (values.json) {
  console.log(JSON.stringify(report, null, 2));
} else {
  console.log(
    `scan-worker bench: ${events} events, ${parcels} parcels, Limit ${limit}, ` +
      `${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}`,
  );
  console.log(`simulator: ${report.simulatorPagesPerSecond} pages/s of ${limit} over HTTP\n`);
  const row = (cells: string[]) =>
    console.log(cells.map((c, i) => i === 0 ? c.padEnd(24) : c.padStart(12)).join(""));
  row(["", "events/s", "page p50 ms", "page p99 ms", "peak RSS MB"]);
  for (
    const [kind, value] of Object.entries(
      report.stores as Record<string, Record<string, Measure | number | null>>,
    )
  ) {
    for (const name of ["storeLimit", "worker", "naive", "workerInstantApi"] as const) {
      const m = value[name] as Measure | null;
      if (m === null) continue;
      row([
        `${kind} ${LABELS[name]}`,
        String(m.eventsPerSecond),
        String(m.pageP50Ms),
        String(m.pageP99Ms),
        m.peakRssMb === undefined ? "" : String(m.peakRssMb),
      ]);
    }
    const w = value.worker as Measure;
    console.log(
      `  ${kind}: worker/limit ${value.workerToLimit ?? "-"}, worker/naive ${
        value.workerToNaive ?? "-"
      }` +
        ` (naive on the first ${naiveEvents} events, one transaction each)`,
    );
    console.log(
      `  ${kind}: CPU per page of ${limit} while the worker ran: worker ${
        w.workerCpuMsPerPage ?? "-"
      } ms, simulator ${
        w.simulatorCpuMsPerPage ?? "-"
      } ms (on ${navigator.hardwareConcurrency} cores)\n`,
    );
  }
}
