/**
 * What the bench measures and how it reads a process's CPU and memory.
 *
 * @module
 */

import process from "node:process";

/** The `p` quantile (0..1) of sorted numbers; NaN for none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
}

/** Round to `digits` decimals. */
export function round(value: number, digits = 2): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** Milliseconds per page spent in each stage of the worker's thread. */
export interface Stages {
  /** Response bytes to text. */
  decodeMs: number;
  /** Text to JSON. */
  parseMs: number;
  /** Validation and projection. */
  projectMs: number;
  /** The store's write (wall time: on PostgreSQL mostly waiting for the server). */
  writeMs: number;
  /**
   * The process's CPU per page less the stages above (receiving, logging, GC, …; on a server
   * store, less all but the write, which is mostly waiting), when known.
   */
  restMs?: number;
  /** The process's CPU per page, all threads, when known. */
  cpuMs?: number;
}

/** Events/s and page latencies (ms) of one measurement. */
export interface Measure {
  events: number;
  seconds: number;
  eventsPerSecond: number;
  pageP50Ms: number;
  pageP99Ms: number;
  peakRssMb?: number;
  fetchP50Ms?: number;
  fetchP99Ms?: number;
  /** Per page, where the worker's thread spent its time. */
  stages?: Stages;
  /** CPU the simulator used per page while serving the worker, in ms. */
  simulatorCpuMsPerPage?: number;
  /** How busy the whole machine was meanwhile (a subprocess's run; null off Linux). */
  machine?: MachineLoad | null;
}

/**
 * How busy the machine was during a run: every process on it (the worker, the simulator, the
 * broker, the database server and anything else), from `/proc/stat`.
 */
export interface MachineLoad {
  /** Cores' worth of CPU time spent (user, nice, system, irq, softirq) per second of the run. */
  readonly coresBusy: number;
  /** Of the machine's cores. */
  readonly cores: number;
  /** The share of the cores' time the hypervisor gave to other machines (steal), %. */
  readonly stealPercent: number;
  /** CPU time spent on the machine, ms, all cores. */
  readonly busyMs: number;
  /** That per page: what a page costs the machine, every process together. */
  readonly cpuMsPerPage?: number;
  /** The broker's CPU per page, ms, when its process was known. */
  readonly brokerCpuMsPerPage?: number;
}

/** The whole machine's CPU time so far, in ms summed over its cores: spent, stolen and all. */
export interface MachineTicks {
  busyMs: number;
  stealMs: number;
  allMs: number;
}

/**
 * The machine's CPU time from the first line of `/proc/stat` (clock ticks of 10 ms: user, nice,
 * system, idle, iowait, irq, softirq, steal; guest time is counted in user). Null off Linux.
 */
export async function machineTicks(): Promise<MachineTicks | null> {
  const out = await new Deno.Command("cat", {
    args: ["/proc/stat"],
    stdout: "piped",
    stderr: "null",
  })
    .output().catch(() => null);
  if (out === null || !out.success) return null;
  const first = new TextDecoder().decode(out.stdout).split("\n")[0] ?? "";
  const ticks = first.split(/\s+/).slice(1, 9).map(Number);
  if (!first.startsWith("cpu ") || ticks.length < 8 || ticks.some(Number.isNaN)) return null;
  const tick = (field: number) => (ticks[field] ?? 0) * 10;
  // user, nice, system, idle, iowait, irq, softirq, steal
  const busyMs = tick(0) + tick(1) + tick(2) + tick(5) + tick(6);
  return { busyMs, stealMs: tick(7), allMs: busyMs + tick(3) + tick(4) + tick(7) };
}

/** The machine's load between two readings `seconds` apart. */
export function machineLoad(
  before: MachineTicks,
  after: MachineTicks,
  seconds: number,
): MachineLoad {
  const all = Math.max(1, after.allMs - before.allMs);
  return {
    busyMs: after.busyMs - before.busyMs,
    coresBusy: round((after.busyMs - before.busyMs) / 1000 / seconds),
    cores: navigator.hardwareConcurrency,
    stealPercent: round(((after.stealMs - before.stealMs) / all) * 100, 1),
  };
}

/** Some work on messages: messages/s, and the CPU per message of this process and of the server. */
export interface MessageRate {
  readonly messages: number;
  readonly seconds: number;
  readonly messagesPerSecond: number;
  /** This process's CPU per message, µs (the client's work; the server's is its own). */
  readonly clientCpuUsPerMessage: number;
  /** The server's CPU per message, µs (NaN when its process is not known). */
  readonly serverCpuUsPerMessage: number;
}

/** Time `work` on `count` messages, with this process's CPU and the server's (`serverPid`). */
export async function messageRate(
  count: number,
  serverPid: number | null,
  work: () => Promise<void>,
): Promise<MessageRate> {
  const serverBefore = serverPid === null ? null : await usage(serverPid);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await work();
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const serverAfter = serverPid === null ? null : await usage(serverPid);
  const serverUs = serverBefore && serverAfter
    ? (serverAfter.cpuMs - serverBefore.cpuMs) * 1000
    : Number.NaN;
  return {
    messages: count,
    seconds: round(seconds),
    messagesPerSecond: Math.round(count / seconds),
    clientCpuUsPerMessage: round((cpu.user + cpu.system) / count),
    serverCpuUsPerMessage: round(serverUs / count),
  };
}

/** The fastest of several ways: its name and its rate. */
export function fastest<T extends { readonly messagesPerSecond: number }>(
  ways: Record<string, T>,
): [string, T] {
  return Object.entries(ways).sort((a, b) => b[1].messagesPerSecond - a[1].messagesPerSecond)[
    0
  ] as [string, T];
}

/** A measure from a count, the seconds it took and each page's milliseconds. */
export function measure(
  count: number,
  seconds: number,
  pageMs: readonly number[],
  extra: Partial<Measure> = {},
): Measure {
  const sorted = [...pageMs].sort((a, b) => a - b);
  return {
    events: count,
    seconds: round(seconds),
    eventsPerSecond: Math.round(count / seconds),
    pageP50Ms: round(percentile(sorted, 0.5)),
    pageP99Ms: round(percentile(sorted, 0.99)),
    ...extra,
  };
}

/** The mean per page of each stage, from per-page records. */
export function meanStages(pages: readonly Omit<Stages, "restMs" | "cpuMs">[]): Stages {
  const mean = (key: "decodeMs" | "parseMs" | "projectMs" | "writeMs") =>
    round(pages.reduce((sum, page) => sum + page[key], 0) / Math.max(1, pages.length), 3);
  return {
    decodeMs: mean("decodeMs"),
    parseMs: mean("parseMs"),
    projectMs: mean("projectMs"),
    writeMs: mean("writeMs"),
  };
}

/** A process's CPU time so far and resident memory. */
export interface ProcessUsage {
  cpuMs: number;
  rssMb: number;
}

/**
 * Read a process's usage from `/proc/PID/stat` (through `cat`: Deno reads /proc only with
 * --allow-all). Linux only; elsewhere, or once the process is gone, null. CPU is user + system
 * time, in clock ticks of 10 ms; RSS is in pages of 4 KiB.
 */
export async function usage(pid: number): Promise<ProcessUsage | null> {
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
 * Milliseconds per 1000 events the relay's thread spent in each stage, from its per-batch debug
 * line (`Published …`: readMs, encodeMs, publishMs, ackWaitMs, commitMs).
 */
export interface RelayStages {
  /** Batches published. */
  batches: number;
  /** Reading the batch from the outbox (on a server store mostly waiting for the server). */
  readMs: number;
  /** Building each message's headers. */
  encodeMs: number;
  /** Handing the messages to the client (its encoding and buffering). */
  publishMs: number;
  /** Waiting for the batch's acknowledgement (wall time: the broker's work, and the loop's). */
  ackWaitMs: number;
  /** Committing the cursor and pruning the rows published (one transaction). */
  commitMs: number;
  /** The process's CPU per 1000 events (all its work, the relay's and anything else), when known. */
  cpuMs?: number;
  /**
   * That CPU less the stages above that are CPU on this thread (on SQLite read and commit too;
   * on a server store they are mostly waiting): receiving the acks, the loop, GC, …
   */
  restMs?: number;
}

/** The relay's stages per 1000 events from its `Published …` lines' properties. */
export function relayStages(
  batches: readonly Record<string, unknown>[],
  kind: "sqlite" | "postgres",
  cpuMs?: number,
): RelayStages {
  const events = batches.reduce((sum, b) => sum + Number(b.count ?? 0), 0);
  const per1000 = (key: string) =>
    round(batches.reduce((sum, b) => sum + Number(b[key] ?? 0), 0) / Math.max(1, events) * 1000);
  const stages: RelayStages = {
    batches: batches.length,
    readMs: per1000("readMs"),
    encodeMs: per1000("encodeMs"),
    publishMs: per1000("publishMs"),
    ackWaitMs: per1000("ackWaitMs"),
    commitMs: per1000("commitMs"),
  };
  if (cpuMs === undefined) return stages;
  const cpu = cpuMs / Math.max(1, events) * 1000;
  const onThread = stages.encodeMs + stages.publishMs +
    (kind === "sqlite" ? stages.readMs + stages.commitMs : 0);
  return { ...stages, cpuMs: round(cpu), restMs: round(cpu - onThread) };
}
