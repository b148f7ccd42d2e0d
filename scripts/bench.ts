// deno-lint-ignore-file no-console -- this script prints its report for people
/**
 * `deno task bench`: how close the worker gets to its own ceilings on this machine, where its
 * time goes, how far it is ahead of one transaction per event, and what publishing to NATS
 * costs (docs/performance.md).
 *
 * For each store (SQLite file in WAL mode; PostgreSQL when reachable):
 *  - store limit: the feed's pages, generated and projected outside the clock, pushed through
 *    `store.applyPage` alone;
 *  - pipeline limit: each page's body, rendered outside the clock, put through what the worker
 *    does once a response has arrived (decode, parse, validate and project, write), in-process,
 *    on one thread, with no HTTP;
 *  - worker: `scan-worker run --drain` against the built-in simulator over HTTP, with its CPU
 *    per page split into stages from its own per-page timings (the rest: receiving, logging, GC);
 *  - naive baseline: one transaction per event (the original design), on `--naive-events`;
 *  - with --instant-api: the worker against every page rendered once and served from memory;
 *  - with nats-server installed (unless --skip-nats), on a private server: the broker limit
 *    (the relay's messages, prepared outside the clock, pushed into a fresh stream with nothing
 *    else around it: scripts/bench/broker.ts), the delivery limit (that stream read back by
 *    one reader with nothing else around it: scripts/bench/delivery.ts), the worker with
 *    NATS_URL (its drain ends once everything is published), each page's time from commit to
 *    ack, a downstream `run --source nats` draining the stream into another database, and the
 *    relay emptying an outbox holding the whole feed, with its stages;
 *  - for each subprocess run (worker, worker with NATS_URL, downstream) and the relay from a
 *    full outbox: how busy the whole machine was meanwhile, every process on it, from
 *    /proc/stat, and the broker's CPU per page;
 *  - with --otel N: the worker (with NATS_URL when measured) with OpenTelemetry off and on, N
 *    runs each, alternated, towards a collector that answers (scripts/bench/otel.ts).
 *
 * Options: --events N (1000000), --parcels P (events/10), --limit N (SCAN_API_LIMIT or 1000),
 * --store sqlite|postgres|all (all), --naive-events N (20000), --skip-limit, --skip-naive,
 * --skip-nats, --skip-downstream, --skip-relay-backlog, --instant-api, --otel N, --json.
 *
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { checkArgs } from "./args.ts";
import { feedShape } from "../src/simulator/model.ts";
import { natsServerProblem, startNats } from "./nats_server.ts";
import { startSimulatorProcess } from "./subprocess.ts";
import { type BenchFeed, instantApi, simulatorSpeed } from "./bench/feed.ts";
import { naive, pipelineLimit, relayBacklog, storeLimit } from "./bench/in_process.ts";
import { type MachineLoad, type Measure, type RelayStages, round } from "./bench/measure.ts";
import { type BrokerLimit, brokerLimit } from "./bench/broker.ts";
import { postgresReachable, type StoreKind } from "./bench/targets.ts";
import { runWorker, type WorkerMeasure } from "./bench/worker_run.ts";
import { otelCost, type OtelReport } from "./bench/otel.ts";
import { type DownstreamMeasure, printReader, runDownstream } from "./bench/downstream.ts";

/** The options; `--help` lists them with their defaults. */
const BENCH_OPTIONS = {
  events: { type: "string", default: "1000000" },
  parcels: { type: "string" },
  limit: { type: "string", default: Deno.env.get("SCAN_API_LIMIT") ?? "1000" },
  store: { type: "string", default: "all" },
  "naive-events": { type: "string", default: "20000" },
  "skip-limit": { type: "boolean", default: false },
  "skip-naive": { type: "boolean", default: false },
  "skip-nats": { type: "boolean", default: false },
  "skip-downstream": { type: "boolean", default: false },
  "skip-relay-backlog": { type: "boolean", default: false },
  "instant-api": { type: "boolean", default: false },
  otel: { type: "string" },
  json: { type: "boolean", default: false },
} satisfies ParseArgsOptionsConfig;
checkArgs(
  "bench",
  "how close the worker gets to its ceilings, where its time goes, and what publishing to NATS costs (docs/performance.md).",
  BENCH_OPTIONS,
);
const { values } = parseArgs({ args: Deno.args, options: BENCH_OPTIONS });
const events = Number(values.events);
const parcels = Number(values.parcels ?? Math.ceil(events / 10));
const limit = Number(values.limit);
const naiveEvents = Math.min(events, Number(values["naive-events"]));
const feed: BenchFeed = { shape: feedShape({ seed: 1, events, parcels }), events, limit };

/** Why the NATS measurements are left out, or null. */
function natsSkipped(): string | null {
  return values["skip-nats"] ? "--skip-nats" : natsServerProblem();
}

/** Everything measured for one store. */
interface StoreReport {
  storeLimit: Measure | null;
  pipelineLimit: Measure | null;
  worker: WorkerMeasure;
  naive: Measure | null;
  workerInstantApi: WorkerMeasure | null;
  nats: NatsReport | null;
  otel?: OtelReport;
  ratios: Record<string, number | null>;
}

/** What publishing to NATS costs, and the downstream worker (each null when skipped). */
interface NatsReport {
  worker: WorkerMeasure;
  downstream: DownstreamMeasure | null;
  storeLimitWithOutbox: Measure | null;
  relayEventsPerSecond: number | null;
  /** The relay's stages per 1000 events from a full outbox (the process's CPU: its alone). */
  relayStages: RelayStages | null;
  /** How busy the machine was while the relay emptied the outbox. */
  relayMachine: MachineLoad | null;
}

/** `a / b` to two decimals, or null when either is missing. */
function ratio(a: Measure | null | undefined, b: Measure | null | undefined): number | null {
  return a && b ? round(a.eventsPerSecond / b.eventsPerSecond) : null;
}

/** The NATS measurements for one store, on a private server. */
async function natsMeasures(
  kind: StoreKind,
  simulator: { url: string; pid: number },
): Promise<NatsReport> {
  const nats = await startNats();
  try {
    const env = { NATS_URL: nats.url };
    const worker = await runWorker({
      kind,
      limit,
      env: { ...env, SCAN_API_URL: simulator.url },
      simulatorPid: simulator.pid,
      brokerPid: nats.pid,
    });
    const downstream = values["skip-downstream"]
      ? null
      : await runDownstream(kind, limit, nats.url, nats.pid);
    const backlog = values["skip-relay-backlog"] ? null : await relayBacklog(kind, feed);
    return {
      worker,
      downstream,
      storeLimitWithOutbox: backlog?.storeLimitWithOutbox ?? null,
      relayEventsPerSecond: backlog?.relayEventsPerSecond ?? null,
      relayStages: backlog?.stages ?? null,
      relayMachine: backlog?.machine ?? null,
    };
  } finally {
    await nats.destroy();
  }
}

/** Every measurement for one store. */
async function measureStore(
  kind: StoreKind,
  simulator: { url: string; pid: number },
  skipNats: string | null,
): Promise<StoreReport> {
  const limits = !values["skip-limit"];
  const report: StoreReport = {
    storeLimit: limits ? await storeLimit(kind, feed) : null,
    pipelineLimit: limits ? await pipelineLimit(kind, feed) : null,
    worker: await runWorker({
      kind,
      limit,
      env: { SCAN_API_URL: simulator.url },
      simulatorPid: simulator.pid,
    }),
    naive: values["skip-naive"] ? null : await naive(kind, feed, naiveEvents),
    workerInstantApi: null,
    nats: skipNats === null ? await natsMeasures(kind, simulator) : null,
    ratios: {},
  };
  if (values.otel !== undefined) {
    const nats = skipNats === null ? await startNats() : null;
    try {
      const env = { SCAN_API_URL: simulator.url, ...(nats ? { NATS_URL: nats.url } : {}) };
      report.otel = await otelCost(kind, limit, env, Number(values.otel), simulator.pid);
    } finally {
      await nats?.destroy();
    }
  }
  if (values["instant-api"]) {
    const api = instantApi(feed);
    try {
      report.workerInstantApi = await runWorker({ kind, limit, env: { SCAN_API_URL: api.url } });
    } finally {
      await api.close();
    }
  }
  report.ratios = {
    workerToPipelineLimit: ratio(report.worker, report.pipelineLimit),
    workerToStoreLimit: ratio(report.worker, report.storeLimit),
    pipelineToStoreLimit: ratio(report.pipelineLimit, report.storeLimit),
    workerToNaive: report.naive ? round(ratio(report.worker, report.naive) ?? 0, 1) : null,
    instantApiToPipelineLimit: ratio(report.workerInstantApi, report.pipelineLimit),
    natsWorkerToWorker: ratio(report.nats?.worker, report.worker),
    relayToBrokerLimit: report.nats?.relayEventsPerSecond && broker
      ? round(report.nats.relayEventsPerSecond / broker.messagesPerSecond)
      : null,
    natsWorkerToCeiling: report.nats && broker
      ? round(
        report.nats.worker.eventsPerSecond /
          Math.min(report.worker.eventsPerSecond, broker.messagesPerSecond),
      )
      : null,
    downstreamToWorker: ratio(report.nats?.downstream, report.worker),
    downstreamToCeiling: report.nats?.downstream && broker
      ? round(
        report.nats.downstream.eventsPerSecond /
          Math.min(report.worker.eventsPerSecond, broker.delivery.messagesPerSecond),
      )
      : null,
  };
  return report;
}

const stores: StoreKind[] = values.store === "all"
  ? ["sqlite", ...(await postgresReachable() ? ["postgres" as const] : [])]
  : [values.store as StoreKind];
const skipNats = natsSkipped();
const report = {
  machine: { cpus: navigator.hardwareConcurrency, deno: Deno.version.deno, os: Deno.build.os },
  events,
  parcels,
  limit,
  naiveEvents,
  natsSkipped: skipNats,
  simulatorPagesPerSecond: 0,
  /** What the broker takes from one client with nothing around it (null without NATS). */
  brokerLimit: null as BrokerLimit | null,
  stores: {} as Record<string, StoreReport>,
};
/** The broker limit, measured once before the stores (it does not depend on them). */
let broker: BrokerLimit | null = null;
const simulator = await startSimulatorProcess(
  ["--events", String(events), "--parcels", String(parcels), "--max-limit", String(limit)],
);
try {
  report.simulatorPagesPerSecond = await simulatorSpeed(simulator.url, feed);
  if (skipNats === null) {
    console.error("bench: broker limit…");
    report.brokerLimit = broker = await brokerLimit(feed);
  }
  for (const kind of stores) {
    console.error(`bench: ${kind}…`);
    report.stores[kind] = await measureStore(kind, simulator, skipNats);
  }
} finally {
  await simulator.stop();
}

if (values.json) {
  console.log(JSON.stringify(report, null, 2));
} else {
  printReport();
}

/** The report as a table, for people. */
function printReport(): void {
  console.log(
    `scan-worker bench: ${events} events, ${parcels} parcels, Limit ${limit}, ` +
      `${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}`,
  );
  console.log(`simulator: ${report.simulatorPagesPerSecond} pages/s of ${limit} over HTTP`);
  if (skipNats !== null) console.log(`NATS measurements skipped: ${skipNats}`);
  if (broker !== null) printBroker(broker);
  console.log();
  const row = (cells: string[]) =>
    console.log(cells.map((c, i) => i === 0 ? c.padEnd(30) : c.padStart(12)).join(""));
  row(["", "events/s", "page p50 ms", "page p99 ms", "peak RSS MB"]);
  for (const [kind, value] of Object.entries(report.stores)) {
    const rows: [string, Measure | null | undefined][] = [
      ["store limit", value.storeLimit],
      ["store limit, outbox on", value.nats?.storeLimitWithOutbox],
      ["pipeline limit", value.pipelineLimit],
      ["worker", value.worker],
      ["worker, instant API", value.workerInstantApi],
      ["worker, NATS_URL set", value.nats?.worker],
      ["downstream (--source nats)", value.nats?.downstream],
      ["naive", value.naive],
    ];
    for (const [label, m] of rows) {
      if (!m) continue;
      row([
        `${kind} ${label}`,
        String(m.eventsPerSecond),
        String(m.pageP50Ms),
        String(m.pageP99Ms),
        m.peakRssMb === undefined ? "" : String(m.peakRssMb),
      ]);
    }
    printRatios(kind, value);
  }
}

/** The ratios, stages and relay figures of one store. */
function printRatios(kind: string, value: StoreReport): void {
  const r = value.ratios;
  const show = (x: number | null | undefined) => x ?? "-";
  console.log(
    `  ${kind}: worker/pipeline limit ${show(r.workerToPipelineLimit)}, worker/store limit ${
      show(r.workerToStoreLimit)
    }, pipeline/store limit ${show(r.pipelineToStoreLimit)}, worker/naive ${
      show(r.workerToNaive)
    } (naive: first ${naiveEvents} events, one transaction each)${
      r.instantApiToPipelineLimit === null
        ? ""
        : `; instant API worker/pipeline limit ${r.instantApiToPipelineLimit}`
    }`,
  );
  const stages = (label: string, s: Measure["stages"]) => {
    if (!s) return;
    const rest = s.cpuMs === undefined
      ? ""
      : `, rest ${s.restMs} (of ${s.cpuMs} CPU, all threads${
        kind === "postgres" ? "; the write is wall time, its CPU in the rest" : ""
      })`;
    console.log(
      `  ${kind}: ${label} ms per page: decode ${s.decodeMs}, parse ${s.parseMs}, ` +
        `validate+project ${s.projectMs}, write ${s.writeMs}${rest}`,
    );
  };
  stages("pipeline limit", value.pipelineLimit?.stages);
  stages("worker", value.worker.stages);
  stages("worker with NATS_URL", value.nats?.worker.stages);
  console.log(
    `  ${kind}: simulator CPU per page while the worker ran: ${
      show(value.worker.simulatorCpuMsPerPage)
    } ms (on ${navigator.hardwareConcurrency} cores)`,
  );
  machine(kind, "worker", value.worker.machine);
  machine(kind, "worker with NATS_URL", value.nats?.worker.machine);
  machine(kind, "downstream", value.nats?.downstream?.machine);
  const rereads = value.worker.rereads;
  if (rereads) {
    console.log(
      `  ${kind}: late-event re-reads (LATE_EVENT_WINDOW_MS): ${rereads.count} for ${
        Math.round(value.worker.events / limit)
      } pages, ${rereads.ms} ms, ${rereads.sharePercent} % of the run`,
    );
  }
  const nats = value.nats;
  if (nats) {
    printRelay(kind, value, nats);
    if (nats.downstream) printReader(kind, nats.downstream);
  }
  if (value.otel) {
    const o = value.otel;
    console.log(
      `  ${kind}: OpenTelemetry on/off ${o.onToOff} (median of ${o.rounds} alternated runs each${
        skipNats === null ? ", NATS_URL set" : ""
      }; events/s off ${o.off.join(", ")}; on ${
        o.on.join(", ")
      }; ${o.requests} export requests); CPU per page off ${o.cpuMsPerPage.off} ms, on ${o.cpuMsPerPage.on} ms`,
    );
  }
  console.log();
}

/**
 * How busy the whole machine was while `label` ran (every process on it), its CPU per `unit`
 * (a page, or 1000 events published by the relay).
 */
function machine(
  kind: string,
  label: string,
  m: MachineLoad | null | undefined,
  unit = "page",
): void {
  if (!m) return;
  const broker = m.brokerCpuMsPerPage === undefined
    ? ""
    : `; the broker ${m.brokerCpuMsPerPage} ms CPU per ${unit}`;
  console.log(
    `  ${kind}: ${label}: the machine was ${m.coresBusy} of ${m.cores} cores busy (${m.stealPercent} % stolen), ${m.cpuMsPerPage} ms CPU per ${unit}, all processes${broker}`,
  );
}

/** The broker limit and each way of publishing measured. */
function printBroker(limit: BrokerLimit): void {
  const ways = Object.entries(limit.ways).map(([name, w]) =>
    `${name} ${w.messagesPerSecond}/s (client ${w.clientCpuUsPerMessage} µs, server ${w.serverCpuUsPerMessage} µs CPU per message, ${w.messages} messages)`
  );
  console.log(
    `broker limit: ${limit.messagesPerSecond} messages/s (${limit.best}; ackPerBatch's median of ${limit.runs.length} runs: ${
      limit.runs.join(", ")
    }); ${ways.join("; ")}`,
  );
  const reads = Object.entries(limit.delivery.ways).map(([name, w]) =>
    `${name} ${w.messagesPerSecond}/s (client ${w.clientCpuUsPerMessage} µs, server ${w.serverCpuUsPerMessage} µs CPU per message)`
  );
  console.log(
    `delivery limit: ${limit.delivery.messagesPerSecond} messages/s to one reader (${limit.delivery.best}); ${
      reads.join("; ")
    }`,
  );
}

/** The relay's figures of one store: its ratios, commit to ack, and its stages. */
function printRelay(kind: string, value: StoreReport, nats: NatsReport): void {
  const r = value.ratios;
  const show = (x: number | null | undefined) => x ?? "-";
  const ack = nats.worker.commitToAck;
  console.log(
    `  ${kind}: NATS: worker with/without ${
      show(r.natsWorkerToWorker)
    }, with/min(without, broker limit) ${show(r.natsWorkerToCeiling)}, downstream/upstream ${
      show(r.downstreamToWorker)
    }, downstream/min(upstream, delivery limit) ${show(r.downstreamToCeiling)}; relay ${
      show(nats.relayEventsPerSecond)
    } events/s from a full outbox (${
      show(r.relayToBrokerLimit)
    } of the broker limit); commit to ack p50 ${show(ack?.p50Ms)} ms, p99 ${
      show(ack?.p99Ms)
    } ms, max ${show(ack?.maxMs)} ms over ${show(ack?.pages)} pages; ${
      show(nats.worker.published)
    } published`,
  );
  const stages = (label: string, s: RelayStages | null | undefined) => {
    if (!s) return;
    const rest = s.cpuMs === undefined ? "" : `, rest ${s.restMs} (of ${s.cpuMs} CPU)`;
    console.log(
      `  ${kind}: ${label} CPU ms per 1000 events: read ${s.readMs}, encode ${s.encodeMs}, ` +
        `publish ${s.publishMs}, commit+prune ${s.commitMs}${rest}; ack wait ${s.ackWaitMs} ms (wall), ${s.batches} batches`,
    );
  };
  stages("relay from a full outbox", nats.relayStages);
  machine(kind, "relay from a full outbox", nats.relayMachine, "1000 events");
  stages("relay beside ingest (NATS_URL)", nats.worker.relayStages);
}
