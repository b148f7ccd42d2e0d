/**
 * The bench's in-process measurements: the store limit, the pipeline limit, the naive baseline
 * and the relay emptying a full outbox. No HTTP; the clock covers only the work named.
 *
 * @module
 */

import process from "node:process";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { parsePageBody } from "../../src/api/wire.ts";
import { relayFor } from "../../src/cli/wiring.ts";
import { resolveConfig } from "../../src/config.ts";
import { projectPage } from "../../src/domain/project.ts";
import { pageText } from "../../src/simulator/model.ts";
import type { Store } from "../../src/store/store.ts";
import { startNats } from "../nats_server.ts";
import { type BenchFeed, feedPages } from "./feed.ts";
import {
  type MachineLoad,
  machineLoad,
  machineTicks,
  meanStages,
  type Measure,
  measure,
  type RelayStages,
  relayStages,
  round,
  type Stages,
} from "./measure.ts";
import { freshTarget, type StoreKind } from "./targets.ts";

/**
 * The store limit: the feed's pages, generated and projected outside the clock, pushed through
 * `store.applyPage` alone. With `outbox`, the store also writes each page's outbox rows.
 */
export async function storeLimit(
  kind: StoreKind,
  feed: BenchFeed,
  outbox = false,
): Promise<Measure> {
  const target = await freshTarget(kind);
  const store = target.open({ outbox });
  try {
    await store.migrate();
    const pageMs = await writeFeed(store, feed);
    return measure(feed.events, sum(pageMs) / 1000, pageMs);
  } finally {
    await store.close();
    await target.drop();
  }
}

/** Write the whole feed, page by page, projected outside the clock; each write's milliseconds. */
async function writeFeed(store: Store, feed: BenchFeed): Promise<number[]> {
  let checkpoint = 0;
  const pageMs: number[] = [];
  for (const page of feedPages(feed)) {
    const result = projectPage(checkpoint, page.events.map((e) => e.raw));
    const started = performance.now();
    await store.applyPage(result);
    pageMs.push(performance.now() - started);
    checkpoint = result.to;
  }
  return pageMs;
}

/**
 * The pipeline limit: each page's body, rendered as text and encoded outside the clock, put
 * through exactly what the worker does once a response has arrived, on one thread: decode,
 * parse, validate and project, write. The ceiling of the worker's loop without HTTP.
 */
export async function pipelineLimit(kind: StoreKind, feed: BenchFeed): Promise<Measure> {
  const target = await freshTarget(kind);
  const store = target.open();
  const encoder = new TextEncoder();
  try {
    await store.migrate();
    let checkpoint = 0;
    const pageMs: number[] = [];
    const stages: Omit<Stages, "restMs" | "cpuMs">[] = [];
    for (const page of feedPages(feed)) {
      const bytes = encoder.encode(pageText(page.events));
      const t0 = performance.now();
      const text = new TextDecoder().decode(bytes);
      const t1 = performance.now();
      const body = parsePageBody(text);
      if (!body.ok) throw new Error(`page ${page.from}: ${body.problem}`);
      const t2 = performance.now();
      const result = projectPage(checkpoint, body.events);
      const t3 = performance.now();
      await store.applyPage(result);
      const t4 = performance.now();
      stages.push({ decodeMs: t1 - t0, parseMs: t2 - t1, projectMs: t3 - t2, writeMs: t4 - t3 });
      pageMs.push(t4 - t0);
      checkpoint = result.to;
    }
    return measure(feed.events, sum(pageMs) / 1000, pageMs, { stages: meanStages(stages) });
  } finally {
    await store.close();
    await target.drop();
  }
}

/** The naive baseline: one transaction per event through the same store, on the first `count`. */
export async function naive(kind: StoreKind, feed: BenchFeed, count: number): Promise<Measure> {
  const target = await freshTarget(kind);
  const store = target.open();
  try {
    await store.migrate();
    let checkpoint = 0;
    const eventMs: number[] = [];
    const started = performance.now();
    outer: for (const page of feedPages(feed)) {
      for (const event of page.events) {
        if (eventMs.length >= count) break outer;
        const t = performance.now();
        const result = projectPage(checkpoint, [event.raw]);
        await store.applyPage(result);
        eventMs.push(performance.now() - t);
        checkpoint = result.to;
      }
    }
    return measure(eventMs.length, (performance.now() - started) / 1000, eventMs);
  } finally {
    await store.close();
    await target.drop();
  }
}

/** The relay emptying a full outbox, and the store limit with the outbox on. */
export interface RelayBacklog {
  /** The store limit while each page also writes its outbox rows. */
  readonly storeLimitWithOutbox: Measure;
  /** Events published per second from a full outbox to a private broker (acks awaited). */
  readonly relayEventsPerSecond: number;
  /** How many it published. */
  readonly published: number;
  /** Where the relay's time went, per 1000 events (the process's CPU: the relay's alone). */
  readonly stages: RelayStages;
  /** How busy the machine was meanwhile; its CPU per 1000 events published (`cpuMsPerPage`). */
  readonly machine: MachineLoad | null;
}

/**
 * Fill an outbox with the whole feed (timed: the store limit with the outbox on), then time the
 * relay publishing all of it to a private NATS server of its own, until the outbox is empty.
 */
export async function relayBacklog(kind: StoreKind, feed: BenchFeed): Promise<RelayBacklog> {
  const target = await freshTarget(kind);
  const store = target.open({ outbox: true });
  const nats = await startNats();
  try {
    await store.migrate();
    const pageMs = await writeFeed(store, feed);
    const storeLimitWithOutbox = measure(feed.events, sum(pageMs) / 1000, pageMs);
    const { rows } = await store.outbox.outboxBacklog();
    const { seconds, published, batches, cpuMs, machine } = await drainOutbox(
      store,
      nats.url,
      rows,
    );
    return {
      storeLimitWithOutbox,
      relayEventsPerSecond: Math.round(published / seconds),
      published,
      stages: relayStages(batches, kind, cpuMs),
      machine,
    };
  } finally {
    await nats.destroy();
    await store.close();
    await target.drop();
  }
}

/**
 * Run a relay from `store` to the broker at `url` until `rows` are published: its time, its
 * batches' debug lines (captured) and this process's CPU meanwhile.
 */
async function drainOutbox(
  store: Store,
  url: string,
  rows: number,
): Promise<
  {
    seconds: number;
    published: number;
    batches: Record<string, unknown>[];
    cpuMs: number;
    machine: MachineLoad | null;
  }
> {
  const batches: Record<string, unknown>[] = [];
  await configure({
    reset: true,
    sinks: {
      batches: (record: LogRecord) => {
        if (String(record.rawMessage).startsWith("Published ")) batches.push(record.properties);
      },
    },
    loggers: [
      { category: ["scan-worker", "relay"], sinks: ["batches"], lowestLevel: "debug" },
      { category: ["logtape", "meta"], sinks: [], lowestLevel: "warning" },
    ],
  });
  // The relay as `run` builds it, from NATS_URL and the defaults.
  const config = resolveConfig({
    flags: {},
    env: { NATS_URL: url },
    dotenv: {},
    stdoutIsTerminal: false,
  });
  let published = 0;
  let done = () => {};
  let fail = (_error: Error) => {};
  const empty = new Promise<void>((resolve, reject) => {
    done = resolve;
    fail = reject;
  });
  const relay = relayFor(config, store.outbox, {
    backlog: (left) => {
      if (left === 0 && published > 0) done();
    },
    published: (count) => published += count,
    committedToAcked: () => {},
    resynced: () => {},
    failed: (cause) => fail(new Error(`the relay failed (${cause})`)),
    paused: () => {},
    connected: () => {},
  });
  const machineBefore = await machineTicks();
  const started = performance.now();
  const cpu = process.cpuUsage();
  relay.start();
  try {
    await empty;
  } finally {
    await relay.stop();
    await reset();
  }
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const machineAfter = await machineTicks();
  if (published !== rows) throw new Error(`the relay published ${published} of ${rows} rows`);
  const machine = machineBefore && machineAfter
    ? machineLoad(machineBefore, machineAfter, seconds)
    : null;
  return {
    seconds,
    published,
    batches,
    cpuMs: (used.user + used.system) / 1000,
    machine: machine && { ...machine, cpuMsPerPage: round(machine.busyMs / (published / 1000)) },
  };
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
