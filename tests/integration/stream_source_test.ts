/**
 * The ordered stream reader on its own (a private broker): it goes on across a broker restart
 * with every message once and in order, and passes a body that is not JSON on as its text (to
 * be rejected by the rules) instead of failing the page for ever. A page already received is
 * read only after what its caller queued meanwhile (the loop's write of the page in hand).
 */
import { nextTick } from "node:process";
import { getLogger } from "@logtape/logtape";
import { assertEquals, assertRejects } from "../helpers/assert.ts";
import {
  configWithoutBroker,
  linkTo,
  NATS_IGNORE,
  type PrivateNats,
  startNats,
} from "../helpers/nats_server.ts";
import { messageId } from "../../src/domain/message.ts";
import { StreamSource } from "../../src/stream/mod.ts";
import type { NatsLink } from "../../src/nats/mod.ts";
import { streamSource } from "../../src/cli/wiring.ts";
import { WorkerMonitor } from "../../src/ops/monitor.ts";
import { FetchAbortedError } from "../../src/source.ts";

const logger = getLogger(["test"]);
const backoff = { baseMs: 10, capMs: 100 };

/** Publish `bodies` as events `from`, `from + 1`, … (a body may be any text). */
async function publish(server: PrivateNats, from: number, bodies: readonly string[]) {
  const link = await linkTo(server)(new AbortController().signal);
  if (link === null) throw new Error("no broker");
  try {
    await Promise.all(bodies.map((body, i) =>
      link.publisher.publish(
        `scan.v1.events.STATUS.${1 + (i % 5)}`,
        body,
        messageId(from + i),
        null,
        10_000,
      )
    ));
  } finally {
    await link.close();
  }
}

/** An event's body as the relay publishes it. */
function body(eventId: number): string {
  return JSON.stringify({
    EventId: eventId,
    ParcelId: 1 + (eventId % 5),
    Type: "STATUS",
    CreatedDateTimeUtc: "2021-05-11T10:00:00.0000000Z",
    StatusCode: "",
    RunId: String(eventId),
  });
}

/** The EventIds of raw events (a text, not an event, as -1). */
function ids(events: readonly unknown[]): number[] {
  return events.map((e) => (typeof e === "object" ? (e as { EventId: number }).EventId : -1));
}

/**
 * Run `fn` with a private broker and a stream source of pages of `limit` on it; both are removed
 * afterwards, also on failure.
 */
async function withSource(
  limit: number,
  fn: (server: PrivateNats, source: StreamSource, link: () => NatsLink | null) => Promise<void>,
): Promise<void> {
  const server = await startNats();
  let link: NatsLink | null = null;
  const connect = async (signal: AbortSignal) => (link = await linkTo(server)(signal));
  const source = new StreamSource({ connect, limit, logger, backoff });
  try {
    await fn(server, source, () => link);
  } finally {
    await source.close();
    await server.destroy();
  }
}

/**
 * Wait until the reader's consumer on `link` has had every message up to stream sequence `seq`
 * sent, and `link`'s client has read them (a flush's answer follows them on the connection).
 */
async function receivedUpTo(link: NatsLink | null, seq: number): Promise<void> {
  if (link === null) throw new Error("the source has no connection");
  const deadline = Date.now() + 10_000;
  for (;;) {
    const consumers = await link.jsm.consumers.list(link.stream).next();
    if (consumers.some((c) => c.delivered.stream_seq >= seq)) break;
    if (Date.now() > deadline) throw new Error(`the broker did not send up to ${seq}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await link.nc.flush();
}

/**
 * The EventIds of the pages from `from` until one past `last`, as the worker reads them: an
 * empty page (the broker not back yet) leaves the position where it was.
 */
async function readPages(
  source: StreamSource,
  from: number,
  last: number,
  signal: AbortSignal,
): Promise<number[]> {
  const read: number[] = [];
  while (from <= last) {
    const page = await source.fetchPage(from, signal);
    read.push(...ids(page.events));
    if (page.events.length > 0) from = Math.max(from, ...ids(page.events)) + 1;
  }
  return read;
}

Deno.test({
  name: "the stream source goes on across a broker restart: every message once, in order",
  ignore: NATS_IGNORE,
  fn: () =>
    withSource(40, async (server, source) => {
      const signal = new AbortController().signal;
      await publish(server, 1, Array.from({ length: 200 }, (_, i) => body(1 + i)));
      const read: number[] = [];
      const first = await source.fetchPage(1, signal);
      read.push(...ids(first.events));
      assertEquals(first.events[0], {
        EventId: 1,
        ParcelId: 2,
        Type: "STATUS",
        CreatedDateTimeUtc: "2021-05-11T10:00:00.0000000Z",
        StatusCode: "",
        User: { RunId: "1" },
      });
      await server.kill("SIGKILL");
      await server.start();
      await publish(server, 201, Array.from({ length: 50 }, (_, i) => body(201 + i)));
      read.push(...await readPages(source, 41, 250, signal));
      assertEquals(read, Array.from({ length: 250 }, (_, i) => 1 + i));
      assertEquals((await source.fetchPage(251, signal)).events, []);
    }),
});

Deno.test({
  name: "a body that is not JSON is passed on as its text, between the events around it",
  ignore: NATS_IGNORE,
  fn: () =>
    withSource(10, async (server, source) => {
      await publish(server, 1, [body(1), "not json \u0000 at all", body(3), "[1,2]", body(5)]);
      const page = await source.fetchPage(1, new AbortController().signal);
      assertEquals(ids(page.events), [1, -1, 3, -1, 5]);
      assertEquals([page.events[1], page.events[3]], ["not json \u0000 at all", "[1,2]"]);
      assertEquals(page.full, false);
    }),
});

Deno.test({
  name: "messages deleted from the stream are stepped over, where the reader starts and mid-read",
  ignore: NATS_IGNORE,
  fn: () =>
    withSource(3, async (server, source) => {
      // A reader that cannot get past a hole retries for ever: that fails the test instead.
      const stuck = new AbortController();
      const timer = setTimeout(() => stuck.abort(), 20_000);
      const signal = stuck.signal;
      try {
        await publish(server, 1, Array.from({ length: 10 }, (_, i) => body(1 + i)));
        const link = await linkTo(server)(signal);
        if (link === null) throw new Error("no broker");
        try {
          for (const seq of [5, 8]) await link.jsm.streams.deleteMessage(link.stream, seq);
        } finally {
          await link.close();
        }
        // From 5 (deleted: the reader starts there and its first message is 6), and from 1
        // (reading past 5 and 8 mid-read).
        for (const start of [5, 1]) {
          const read = await readPages(source, start, 10, signal);
          assertEquals(
            read,
            [1, 2, 3, 4, 6, 7, 9, 10].filter((id) => id >= start),
            `from ${start}`,
          );
        }
      } finally {
        clearTimeout(timer);
      }
    }),
});

Deno.test({
  name: "a page already received is read after what the caller queued (the write leaves first)",
  ignore: NATS_IGNORE,
  fn: () =>
    withSource(10, async (server, source, sourceLink) => {
      const signal = new AbortController().signal;
      await publish(server, 1, Array.from({ length: 30 }, (_, i) => body(1 + i)));
      const first = await source.fetchPage(1, signal);
      assertEquals(ids(first.events), Array.from({ length: 10 }, (_, i) => 1 + i));
      // The pages after it were asked for ahead: wait until the broker has sent them all, then
      // for a round trip on the source's connection (its answer comes after those messages).
      await receivedUpTo(sourceLink(), 30);
      // The worker loop asks for the next page, then writes the page in hand; PostgreSQL's
      // client sends the statement from a nextTick callback. That must not wait for the parse.
      const order: string[] = [];
      const next = source.fetchPage(11, signal).then((page) => {
        order.push("page read");
        return page;
      });
      nextTick(() => order.push("statement sent"));
      assertEquals(ids((await next).events), Array.from({ length: 10 }, (_, i) => 11 + i));
      assertEquals(order, ["statement sent", "page read"]);
    }),
});

Deno.test({
  name: "the stream source reports each read, and each failure with the wait before the next try",
  ignore: NATS_IGNORE,
  fn: async () => {
    const server = await startNats();
    let connects = 0;
    const connect = async (signal: AbortSignal) => {
      if (connects++ === 0) throw new Error("refused, the first time");
      return await linkTo(server)(signal);
    };
    const reads: string[] = [];
    const waits: number[] = [];
    const source = new StreamSource({
      connect,
      limit: 10,
      logger,
      backoff,
      events: { read: (outcome) => reads.push(outcome), retry: (_kind, ms) => waits.push(ms) },
    });
    try {
      await publish(server, 1, [body(1), body(2)]);
      const page = await source.fetchPage(1, new AbortController().signal);
      assertEquals([ids(page.events), page.attempts], [[1, 2], 2]);
      assertEquals(reads, ["stream", "ok"]);
      assertEquals(waits.length === 1 && (waits[0] ?? -1) >= 0 && (waits[0] ?? 999) <= 100, true);
    } finally {
      await source.close();
      await server.destroy();
    }
  },
});

Deno.test("a downstream worker's failed connections to the broker count as the stream's retries", async () => {
  const config = configWithoutBroker();
  const seen: string[] = [];
  const stop = new AbortController();
  /** The worker's monitor, with what it hears kept; the first retry stops the read. */
  class Watching extends WorkerMonitor {
    override connected(up: boolean) {
      seen.push(`connected ${up}`);
    }
    override read(outcome: "ok" | "stream") {
      seen.push(`read ${outcome}`);
    }
    override retry(kind: "api" | "stream" | "store", delayMs?: number) {
      super.retry(kind, delayMs);
      seen.push(`retry ${kind} ${typeof delayMs}`);
      stop.abort();
    }
  }
  const monitor = new Watching({ stuckAfterMs: 60_000, pollFreshMs: 30_000 });
  const source = streamSource(config, monitor);
  try {
    await assertRejects(source.fetchPage(1, stop.signal), FetchAbortedError);
    assertEquals(seen, ["retry stream number"]);
  } finally {
    await source.close();
  }
});
