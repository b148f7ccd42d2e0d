/**
 * The worker as operators run it: `scan-worker run --drain` as a subprocess, its time and
 * per-page stages read from its own debug log, its CPU and peak memory from /proc.
 *
 * @module
 */

import { cliCommand } from "../subprocess.ts";
import {
  type MachineLoad,
  machineLoad,
  machineTicks,
  meanStages,
  type Measure,
  measure,
  percentile,
  type RelayStages,
  relayStages,
  round,
  usage,
} from "./measure.ts";
import { freshTarget, type StoreKind } from "./targets.ts";

/** A worker run, and with NATS the relay's figures from the same run. */
export interface WorkerMeasure extends Measure {
  /** With NATS_URL: each page's time from its commit to the broker's ack of its last event. */
  commitToAck?: { pages: number; p50Ms: number; p99Ms: number; maxMs: number };
  /** With NATS_URL: events the relay published. */
  published?: number;
  /**
   * With NATS_URL: the relay's stages per 1000 events, from its batches' debug lines (the
   * process's CPU is ingest's and the relay's together: see the worker's stages).
   */
  relayStages?: RelayStages;
  /**
   * Late events (LATE_EVENT_WINDOW_MS, docs/rules.md §3.10): the worker's re-reads of the feed,
   * their time, and that time's share of the run (the budget is 5 % while catching up).
   */
  rereads?: { count: number; ms: number; sharePercent: number };
}

/** How to run the worker. */
export interface WorkerRun {
  readonly kind: StoreKind;
  /** Added to `run --drain --no-migrate` (e.g. `--source nats`). */
  readonly args?: readonly string[];
  /** Its settings besides DATABASE_URL, SCAN_API_LIMIT and logging. */
  readonly env: Record<string, string>;
  readonly limit: number;
  /** The simulator's process, to measure the CPU it spends meanwhile. */
  readonly simulatorPid?: number;
  /** The broker's process (a private nats-server), to measure the CPU it spends meanwhile. */
  readonly brokerPid?: number | null;
  /** Handed the worker's JSON log lines once it has exited (scripts/bench/downstream.ts). */
  readonly onLog?: (lines: readonly LogLine[]) => void;
}

/** One JSON log line of the worker. */
export interface LogLine {
  readonly "@timestamp": string;
  readonly message: string;
  readonly properties: Record<string, unknown>;
}

/** Drain into a fresh database with the worker as a subprocess; what it did, from its log. */
export async function runWorker(run: WorkerRun): Promise<WorkerMeasure> {
  const target = await freshTarget(run.kind);
  try {
    const migrate = await cliCommand(["migrate"], { env: { DATABASE_URL: target.url } }).output();
    if (!migrate.success) throw new Error(new TextDecoder().decode(migrate.stderr));
    const process = cliCommand(["run", "--drain", "--no-migrate", ...run.args ?? []], {
      env: {
        ...run.env,
        SCAN_API_LIMIT: String(run.limit),
        DATABASE_URL: target.url,
        LOG_LEVEL: "debug",
        LOG_FORMAT: "json",
      },
    }).spawn();
    const simulatorBefore = run.simulatorPid ? await usage(run.simulatorPid) : null;
    const brokerBefore = run.brokerPid ? await usage(run.brokerPid) : null;
    const machineBefore = await machineTicks();
    const startedAt = performance.now();
    let peak = 0;
    let cpuMs = 0;
    let running = true;
    const sampling = (async () => {
      while (running) {
        const sample = await usage(process.pid);
        if (sample !== null) [peak, cpuMs] = [Math.max(peak, sample.rssMb), sample.cpuMs];
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const [status, stdout, stderr] = await Promise.all([
      process.status,
      new Response(process.stdout).text(),
      new Response(process.stderr).text(),
    ]);
    running = false;
    await sampling;
    const machineAfter = await machineTicks();
    const wallSeconds = (performance.now() - startedAt) / 1000;
    const simulatorAfter = run.simulatorPid ? await usage(run.simulatorPid) : null;
    const brokerAfter = run.brokerPid ? await usage(run.brokerPid) : null;
    if (!status.success) throw new Error(`the worker exited with ${status.code}: ${stderr}`);
    const lines: LogLine[] = stdout.split("\n").filter((l) => l.startsWith("{")).map((l) =>
      JSON.parse(l)
    );
    run.onLog?.(lines);
    return fromLog(run.kind, lines, {
      peakRssMb: Math.round(peak),
      // The last sample is up to 100 ms before the exit: a floor on the worker's CPU.
      cpuMs,
      simulatorCpuMs: simulatorBefore && simulatorAfter
        ? simulatorAfter.cpuMs - simulatorBefore.cpuMs
        : null,
      brokerCpuMs: brokerBefore && brokerAfter ? brokerAfter.cpuMs - brokerBefore.cpuMs : null,
      machine: machineBefore && machineAfter
        ? machineLoad(machineBefore, machineAfter, wallSeconds)
        : null,
    });
  } finally {
    await target.drop();
  }
}

/** The measure a worker's log gives, with its process's usage. */
function fromLog(
  kind: StoreKind,
  lines: readonly LogLine[],
  used: {
    peakRssMb: number;
    cpuMs: number;
    simulatorCpuMs: number | null;
    brokerCpuMs: number | null;
    machine: MachineLoad | null;
  },
): WorkerMeasure {
  const starting = (prefix: string) => lines.filter((l) => l.message.startsWith(prefix));
  const pages = starting("Page ");
  const first = starting("Starting at checkpoint")[0];
  const last = starting("Stopped at checkpoint")[0];
  if (first === undefined || last === undefined || pages.length === 0) {
    throw new Error("the worker's log lacks its start, its pages or its end");
  }
  const seconds = (Date.parse(last["@timestamp"]) - Date.parse(first["@timestamp"])) / 1000;
  const events = pages.reduce((sum, p) => sum + Number(p.properties.events), 0);
  const number = (line: LogLine, key: string) => Number(line.properties[key] ?? 0);
  const fetchMs = pages.map((p) => number(p, "fetchMs")).sort((a, b) => a - b);
  const stages = meanStages(pages.map((p) => ({
    decodeMs: number(p, "decodeMs"),
    parseMs: number(p, "parseMs"),
    projectMs: number(p, "projectMs"),
    writeMs: number(p, "writeMs"),
  })));
  const cpuMs = used.cpuMs / pages.length;
  // SQLite writes on this thread: its write time is CPU. A server store's write is mostly
  // waiting for the server; the client's share of it falls in the rest.
  const staged = stages.decodeMs + stages.parseMs + stages.projectMs +
    (kind === "sqlite" ? stages.writeMs : 0);
  const result: WorkerMeasure = measure(events, seconds, pages.map((p) => number(p, "ms")), {
    peakRssMb: used.peakRssMb,
    fetchP50Ms: percentile(fetchMs, 0.5),
    fetchP99Ms: percentile(fetchMs, 0.99),
    stages: { ...stages, cpuMs: round(cpuMs), restMs: round(cpuMs - staged) },
    ...(used.simulatorCpuMs === null
      ? {}
      : { simulatorCpuMsPerPage: round(used.simulatorCpuMs / pages.length) }),
    machine: used.machine && {
      ...used.machine,
      cpuMsPerPage: round(used.machine.busyMs / pages.length),
      ...(used.brokerCpuMs === null
        ? {}
        : { brokerCpuMsPerPage: round(used.brokerCpuMs / pages.length) }),
    },
  });
  const rereads = starting("Read again from ");
  const rereadMs = rereads.reduce((sum, l) => sum + number(l, "ms"), 0);
  result.rereads = {
    count: rereads.length,
    ms: round(rereadMs),
    sharePercent: round((rereadMs / 1000 / seconds) * 100),
  };
  const published = starting("Published ");
  if (published.length > 0) {
    const acks = published.flatMap((l) => l.properties.commitToAckMs as number[])
      .sort((a, b) => a - b);
    result.published = published.reduce((sum, l) => sum + number(l, "count"), 0);
    result.relayStages = relayStages(published.map((l) => l.properties), kind);
    result.commitToAck = {
      pages: acks.length,
      p50Ms: percentile(acks, 0.5),
      p99Ms: percentile(acks, 0.99),
      maxMs: acks.at(-1) ?? Number.NaN,
    };
  }
  return result;
}
