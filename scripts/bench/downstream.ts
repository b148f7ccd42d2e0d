// deno-lint-ignore-file no-console -- run on its own, this script prints its report for people
/**
 * The downstream reader (`run --source nats`) in the bench: where its time goes per page, from
 * its own debug `Page …` lines (receive, parse, validate and project, write; the rest is the
 * loop, logging, GC outside those), and a stream filled directly from the feed for measuring the
 * reader on its own.
 *
 * Run on its own: `deno run -A scripts/bench/downstream.ts --events 200000 --store sqlite`
 * fills a private broker's stream with the feed (as the relay would publish it, without a
 * database or an outbox) and drains it with a downstream worker; `--keep` leaves the broker
 * running (its URL printed) for a profiler, `--json` prints JSON.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { projectPage } from "../../src/domain/project.ts";
import { messageId, outboxRows } from "../../src/domain/message.ts";
import { ensureStream } from "../../src/nats/mod.ts";
import { getLogger } from "@logtape/logtape";
import { feedShape } from "../../src/simulator/model.ts";
import { startNats } from "../nats_server.ts";
import { type BenchFeed, feedPages } from "./feed.ts";
import { round } from "./measure.ts";
import { benchLink } from "./delivery.ts";
import type { StoreKind } from "./targets.ts";
import { type LogLine, runWorker, type WorkerMeasure } from "./worker_run.ts";

/** Milliseconds per page the downstream reader's thread spends in each stage. */
export interface DownstreamStages {
  /**
   * Receiving the page's messages: the thread's time while the broker's client hands them over
   * (its protocol parsing included) and the reader keeps their positions and bodies.
   */
  receiveMs: number;
  /** Bodies to raw events (UTF-8 to text, JSON). */
  parseMs: number;
  /** Validation and projection. */
  validateMs: number;
  /** The store's write (wall time: on PostgreSQL mostly waiting for the server). */
  writeMs: number;
  /** The process's CPU per page, all threads. */
  cpuMs: number;
  /**
   * The CPU less the stages (on PostgreSQL less all but the write, whose client CPU falls here):
   * the loop, logging, GC outside the stages. The stages are the thread's time, not its CPU: on a
   * busy machine they can add up to a little more than the CPU.
   */
  restMs: number;
}

/** The downstream reader's run: the worker's measure and the reader's stages. */
export interface DownstreamMeasure extends WorkerMeasure {
  reader: DownstreamStages;
}

/** The stages of a downstream run, from its `Page …` lines and its CPU. */
export function downstreamStages(
  kind: StoreKind,
  pages: readonly LogLine[],
  cpuMs: number,
): DownstreamStages {
  const mean = (key: string) =>
    pages.reduce((sum, p) => sum + Number(p.properties[key] ?? 0), 0) / Math.max(1, pages.length);
  const stages = {
    receiveMs: mean("receiveMs"),
    parseMs: mean("parseMs"),
    validateMs: mean("projectMs"),
    writeMs: mean("writeMs"),
  };
  const perPage = cpuMs / Math.max(1, pages.length);
  const staged = stages.receiveMs + stages.parseMs + stages.validateMs +
    (kind === "sqlite" ? stages.writeMs : 0);
  return {
    receiveMs: round(stages.receiveMs, 3),
    parseMs: round(stages.parseMs, 3),
    validateMs: round(stages.validateMs, 3),
    writeMs: round(stages.writeMs, 3),
    cpuMs: round(perPage),
    restMs: round(perPage - staged),
  };
}

/** The reader's stages and memory, as one line of the bench's report. */
export function printReader(kind: string, measure: DownstreamMeasure): void {
  const r = measure.reader;
  console.log(
    `  ${kind}: downstream ms per page: receive ${r.receiveMs}, parse ${r.parseMs}, ` +
      `validate+project ${r.validateMs}, write ${r.writeMs}, rest ${r.restMs} (of ${r.cpuMs} CPU, ` +
      `all threads${
        kind === "postgres" ? "; the write is wall time, its CPU in the rest" : ""
      }); ` +
      `peak RSS ${measure.peakRssMb} MB`,
  );
}

/**
 * A downstream `run --source nats --drain` from the broker at `natsUrl` (its process `brokerPid`,
 * when known, to measure its CPU meanwhile) into a fresh database.
 */
export async function runDownstream(
  kind: StoreKind,
  limit: number,
  natsUrl: string,
  brokerPid: number | null = null,
): Promise<DownstreamMeasure> {
  let pages: LogLine[] = [];
  const measure = await runWorker({
    kind,
    limit,
    brokerPid,
    env: { NATS_URL: natsUrl },
    args: ["--source", "nats"],
    onLog: (lines) => pages = lines.filter((l) => l.message.startsWith("Page ")),
  });
  const cpuMs = (measure.stages?.cpuMs ?? 0) * pages.length;
  return { ...measure, reader: downstreamStages(kind, pages, cpuMs) };
}

/**
 * Fill the stream of the broker at `url` with the feed's accepted events, as the relay publishes
 * them (subject, body, `Nats-Msg-Id`), a page in flight at a time. Resolves with the count.
 */
export async function fillStream(url: string, feed: BenchFeed): Promise<number> {
  const link = await benchLink(url);
  try {
    await ensureStream(link, 0, getLogger(["bench"]));
    let count = 0;
    let checkpoint = 0;
    for (const page of feedPages(feed)) {
      const result = projectPage(checkpoint, page.events.map((e) => e.raw));
      checkpoint = result.to;
      await Promise.all(
        outboxRows(result.events).map((row) => {
          count++;
          return link.publisher.publish(
            row.subject,
            row.body,
            messageId(row.eventId),
            null,
            30_000,
          );
        }),
      );
    }
    return count;
  } finally {
    await link.close();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      events: { type: "string", default: "200000" },
      limit: { type: "string", default: "1000" },
      store: { type: "string", default: "sqlite" },
      keep: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
  });
  const events = Number(values.events);
  const limit = Number(values.limit);
  const feed: BenchFeed = {
    shape: feedShape({ seed: 1, events, parcels: Math.ceil(events / 10) }),
    events,
    limit,
  };
  const nats = await startNats();
  try {
    const started = performance.now();
    const published = await fillStream(nats.url, feed);
    const seconds = (performance.now() - started) / 1000;
    console.error(`filled ${published} messages in ${round(seconds)} s at ${nats.url}`);
    if (values.keep) {
      console.error("--keep: SIGINT or SIGTERM stops the broker");
      await new Promise<void>((resolve) => {
        Deno.addSignalListener("SIGINT", resolve);
        Deno.addSignalListener("SIGTERM", resolve);
      });
    } else {
      const result = await runDownstream(values.store as StoreKind, limit, nats.url);
      if (values.json) console.log(JSON.stringify(result, null, 2));
      else {
        console.log(`downstream ${values.store}: ${result.eventsPerSecond} events/s`);
        printReader(values.store, result);
      }
    }
  } finally {
    await nats.destroy();
  }
}
