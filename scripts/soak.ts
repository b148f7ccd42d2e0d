// deno-lint-ignore-file no-console -- this script prints its report for people
/**
 * `deno task soak`: memory over time at the head of a live feed (docs/performance.md, "Memory
 * over time"). Starts, as subprocesses of the CLI: the simulator growing by `--rate` events/s
 * (with `--malformed-rate` invalid events and `--fail-rate` 503 answers), a private nats-server,
 * the worker with NATS_URL, and a downstream `run --source nats` reading the stream into its own
 * database. Every `--interval-s` seconds it samples each process's resident memory (from
 * /proc) and the workers' JS heap, memory outside the heap and checkpoint (from their
 * /metrics), the memory as the lowest of its per-second readings in the interval; prints a
 * table, then, after `--warmup-minutes`, each series' least-squares slope in MB per hour, with
 * pass/fail against `--max-mb-per-hour` for the workers' RSS and heap.
 * Everything it started (processes, private server, databases, temporary folders) is removed
 * at the end, on a failure and on SIGINT/SIGTERM.
 *
 * Options: --minutes M (30), --interval-s S (10), --warmup-minutes W (min(5, M/3)), --rate R
 * (3000), --events N (backlog at start, 100000), --store sqlite|postgres (sqlite),
 * --malformed-rate (0.01), --fail-rate (0.02), --max-mb-per-hour (5), --floor-s F (60: the
 * slope goes through each F-second window's lowest value; 0: through every sample), --json;
 * --from FILE judges a report saved with --json again (with the warm-up, floor, limit given).
 * Exit: 0 flat, 1 growing or failed, 130 interrupted.
 *
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { checkArgs } from "./args.ts";
import { type PrivateNats, startNats } from "./nats_server.ts";
import { startSimulatorProcess } from "./subprocess.ts";
import { freshTarget, type StoreKind } from "./bench/targets.ts";
import { answering, startWorker, type WorkerProcess } from "./soak/processes.ts";
import {
  Lows,
  type Sample,
  sampleAll,
  type Sampled,
  type Slope,
  slopeOf,
  tableHeader,
  tableRow,
} from "./soak/sample.ts";

/** The soak's settings. */
interface Options {
  minutes: number;
  intervalS: number;
  warmupMinutes: number;
  rate: number;
  events: number;
  store: StoreKind;
  malformedRate: number;
  failRate: number;
  maxMbPerHour: number;
  /** The slope goes through each window of this many seconds' lowest value (0: every sample). */
  floorS: number;
  json: boolean;
}

/** The options; `--help` lists them with their defaults. */
const SOAK_OPTIONS = {
  minutes: { type: "string", default: "30" },
  "interval-s": { type: "string", default: "10" },
  "warmup-minutes": { type: "string" },
  rate: { type: "string", default: "3000" },
  events: { type: "string", default: "100000" },
  store: { type: "string", default: "sqlite" },
  "malformed-rate": { type: "string", default: "0.01" },
  "fail-rate": { type: "string", default: "0.02" },
  "max-mb-per-hour": { type: "string" },
  "floor-s": { type: "string" },
  from: { type: "string" },
  json: { type: "boolean", default: false },
} satisfies ParseArgsOptionsConfig;

/** The options given, and the saved report named by --from, if any. */
function options(): { options: Options; from: string | undefined; given: Partial<Options> } {
  checkArgs(
    "soak",
    "memory over time at the head of a live feed with NATS_URL and a downstream reader (docs/performance.md).",
    SOAK_OPTIONS,
  );
  const { values } = parseArgs({ args: Deno.args, options: SOAK_OPTIONS });
  const positive = (name: string, text: string | undefined) => {
    const value = Number(text);
    if (!Number.isFinite(value) || value < 0) throw new Error(`--${name}: ${text} is not a number`);
    return value;
  };
  const minutes = positive("minutes", values.minutes);
  if (values.store !== "sqlite" && values.store !== "postgres") {
    throw new Error(`--store: ${values.store} is neither sqlite nor postgres`);
  }
  const given: Partial<Options> = {};
  if (values["warmup-minutes"] !== undefined) {
    given.warmupMinutes = positive("warmup-minutes", values["warmup-minutes"]);
  }
  if (values["max-mb-per-hour"] !== undefined) {
    given.maxMbPerHour = positive("max-mb-per-hour", values["max-mb-per-hour"]);
  }
  if (values["floor-s"] !== undefined) given.floorS = positive("floor-s", values["floor-s"]);
  const options: Options = {
    minutes,
    intervalS: Math.max(1, positive("interval-s", values["interval-s"])),
    warmupMinutes: Math.min(5, minutes / 3),
    rate: positive("rate", values.rate),
    events: Math.round(positive("events", values.events)),
    store: values.store,
    malformedRate: positive("malformed-rate", values["malformed-rate"]),
    failRate: positive("fail-rate", values["fail-rate"]),
    maxMbPerHour: 5,
    floorS: 60,
    json: values.json,
    ...given,
  };
  return { options, from: values.from, given };
}

/** What the soak found. */
interface Report {
  options: Options;
  startedAt: string;
  /** Stopped early by SIGINT/SIGTERM. */
  interrupted: boolean;
  pids: Record<string, number | null>;
  samples: Sample[];
  /** Per process, per series: the slope after the warm-up, through the floors and every sample. */
  slopes: Record<string, Record<string, SeriesSlope>>;
  /** The workers: whether both their RSS and heap slopes are under the limit. */
  flat: Record<string, boolean>;
  /** Lines each worker logged at WARN and at ERROR. */
  logged: Record<string, { warn: number; error: number }>;
  /** Each worker's most frequent WARN and ERROR messages (digits as #), with their counts. */
  messages: Record<string, [string, number][]>;
}

/** A series' slope through its floors (judged), and through every sample. */
type SeriesSlope = Slope & { samplesMbPerHour: number | null };

/** Everything the soak started, stopped in reverse order. */
type Cleanup = (() => Promise<void>)[];

const WORKERS = ["worker", "downstream"];

/** Start the simulator, the private server and both workers; register how to remove them. */
async function startAll(o: Options, cleanup: Cleanup, signal: AbortSignal) {
  const nats: PrivateNats = await startNats();
  cleanup.push(() => nats.destroy());
  const upstreamDb = await freshTarget(o.store);
  cleanup.push(() => upstreamDb.drop());
  const downstreamDb = await freshTarget(o.store);
  cleanup.push(() => downstreamDb.drop());
  const simulator = await startSimulatorProcess([
    ...["--rate", String(o.rate), "--events", String(o.events), "--seed", "1"],
    ...["--malformed-rate", String(o.malformedRate), "--fail-rate", String(o.failRate)],
  ]);
  cleanup.push(() => simulator.stop());
  const worker = startWorker("worker", [], {
    SCAN_API_URL: simulator.url,
    DATABASE_URL: upstreamDb.url,
    NATS_URL: nats.url,
  });
  cleanup.push(() => worker.stop());
  const downstream = startWorker("downstream", ["--source", "nats"], {
    DATABASE_URL: downstreamDb.url,
    NATS_URL: nats.url,
  });
  cleanup.push(() => downstream.stop());
  for (const w of [worker, downstream]) await answering(w.metricsUrl, 60_000, signal);
  const sampled: Sampled[] = [
    { name: "worker", pid: worker.pid, metricsUrl: worker.metricsUrl },
    { name: "downstream", pid: downstream.pid, metricsUrl: downstream.metricsUrl },
    { name: "simulator", pid: simulator.pid },
    { name: "nats-server", pid: nats.pid ?? -1 },
  ];
  return { workers: [worker, downstream], sampled };
}

/** Resolve after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

/** Throw, with its last lines, when a worker has exited on its own. */
function checkAlive(workers: readonly WorkerProcess[], exited: ReadonlySet<string>): void {
  for (const w of workers) {
    if (exited.has(w.name)) {
      throw new Error(
        `the ${w.name} exited during the soak; its last lines:\n${w.tail().join("\n")}`,
      );
    }
  }
}

/** Sample every `intervalS` until the time is up or `signal` aborts. */
async function sampleUntil(
  o: Options,
  started: { workers: WorkerProcess[]; sampled: Sampled[] },
  signal: AbortSignal,
): Promise<Sample[]> {
  const exited = new Set<string>();
  for (const w of started.workers) w.status.then(() => exited.add(w.name));
  const names = started.sampled.map((p) => p.name);
  const print = o.json ? console.error : console.log;
  print(tableHeader(names, new Set(WORKERS)));
  const samples: Sample[] = [];
  const lows = new Lows();
  const t0 = performance.now();
  const end = t0 + o.minutes * 60_000;
  for (let next = t0; next <= end && !signal.aborted; next += o.intervalS * 1000) {
    while (performance.now() < next - 1000 && !signal.aborted) {
      await lows.probe(started.sampled);
      await pause(1000, signal);
    }
    await pause(Math.max(0, next - performance.now()), signal);
    if (signal.aborted) break;
    checkAlive(started.workers, exited);
    const sample = await sampleAll(started.sampled, (performance.now() - t0) / 1000);
    lows.apply(sample);
    samples.push(sample);
    print(tableRow(sample, names));
  }
  return samples;
}

/** The slopes after the warm-up, and the verdicts. */
function judge(o: Options, samples: readonly Sample[], names: readonly string[]) {
  const from = o.warmupMinutes * 60;
  const slopes: Report["slopes"] = {};
  const flat: Report["flat"] = {};
  for (const name of names) {
    const series = WORKERS.includes(name)
      ? (["rssMb", "heapMb", "externalMb"] as const)
      : (["rssMb"] as const);
    slopes[name] = Object.fromEntries(series.map((s) => [s, {
      ...slopeOf(samples, name, s, from, o.floorS),
      samplesMbPerHour: slopeOf(samples, name, s, from).mbPerHour,
    }]));
    if (!WORKERS.includes(name)) continue;
    flat[name] = [slopes[name].rssMb, slopes[name].heapMb].every((s) =>
      s !== undefined && s.mbPerHour !== null && s.mbPerHour < o.maxMbPerHour
    );
  }
  return { slopes, flat };
}

/** Print the slopes and verdicts for people. */
function printSlopes(report: Report): void {
  const o = report.options;
  console.log(
    `\nSlopes after ${o.warmupMinutes} min of warm-up, least squares through each ${o.floorS} s ` +
      `window's lowest value ± its standard error (through every sample in brackets), MB/h; ` +
      `limit ${o.maxMbPerHour}:`,
  );
  for (const [name, series] of Object.entries(report.slopes)) {
    const parts = Object.entries(series).map(([s, slope]) =>
      `${s.replace("Mb", "")} ${slope.mbPerHour ?? "-"} ± ${slope.errorMbPerHour ?? "-"} [${
        slope.samplesMbPerHour ?? "-"
      }]`
    );
    const verdict = name in report.flat ? (report.flat[name] ? "  PASS" : "  FAIL") : "";
    const logged = report.logged[name];
    const lines = logged ? `  [logged ${logged.warn} WARN, ${logged.error} ERROR]` : "";
    console.log(`  ${name.padEnd(11)} ${parts.join(", ")}${verdict}${lines}`);
    for (const [message, count] of report.messages[name] ?? []) {
      console.log(`    ${String(count).padStart(7)} × ${message}`);
    }
  }
  if (report.interrupted) console.log("Interrupted before the end.");
}

/** Run the soak; everything it starts is pushed onto `cleanup`. */
async function soak(o: Options, cleanup: Cleanup, signal: AbortSignal): Promise<Report> {
  const startedAt = new Date().toISOString();
  const started = await startAll(o, cleanup, signal);
  const pids = Object.fromEntries(started.sampled.map((p) => [p.name, p.pid]));
  console.error(`Soak started: ${JSON.stringify(pids)}`);
  const samples = await sampleUntil(o, started, signal);
  const names = started.sampled.map((p) => p.name);
  const logged = Object.fromEntries(started.workers.map((w) => [w.name, { ...w.logged }]));
  const messages = Object.fromEntries(started.workers.map((w) => [
    w.name,
    [...w.messages].sort((a, b) => b[1] - a[1]).slice(0, 5),
  ]));
  return {
    options: o,
    startedAt,
    interrupted: signal.aborted,
    pids,
    samples,
    ...judge(o, samples, names),
    logged,
    messages,
  };
}

/** Judge a report saved with --json again, with the warm-up, floor and limit given now. */
async function rejudge(path: string, given: Partial<Options>, json: boolean): Promise<number> {
  const saved: Report = JSON.parse(await Deno.readTextFile(path));
  const o = { ...saved.options, floorS: saved.options.floorS ?? 0, ...given, json };
  const report: Report = {
    ...saved,
    options: o,
    ...judge(o, saved.samples, Object.keys(saved.pids)),
  };
  if (json) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    const names = Object.keys(saved.pids);
    console.log(tableHeader(names, new Set(WORKERS)));
    for (const sample of saved.samples) console.log(tableRow(sample, names));
    printSlopes(report);
  }
  return Object.values(report.flat).every(Boolean) ? 0 : 1;
}

async function main(): Promise<number> {
  const { options: o, from, given } = options();
  if (from !== undefined) return await rejudge(from, given, o.json);
  const controller = new AbortController();
  const stop = () => controller.abort();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, stop);
  const cleanup: Cleanup = [];
  try {
    const report = await soak(o, cleanup, controller.signal);
    if (o.json) console.log(JSON.stringify(report, null, 2));
    else printSlopes(report);
    if (report.interrupted) return 130;
    return Object.values(report.flat).every(Boolean) ? 0 : 1;
  } catch (error) {
    console.error(`soak failed: ${error instanceof Error ? error.message : String(error)}`);
    return controller.signal.aborted ? 130 : 1;
  } finally {
    for (const remove of cleanup.reverse()) {
      await remove().catch((error) => console.error(`cleanup: ${error}`));
    }
    for (const s of signals) Deno.removeSignalListener(s, stop);
  }
}

Deno.exit(await main());
