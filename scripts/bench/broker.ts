/**
 * The broker limit: what this nats-server on this machine takes from one client, with nothing
 * else around it (no database, no outbox). The same messages as the relay publishes — the
 * feed's accepted events in commit order, their subjects, headers (`Nats-Msg-Id`,
 * `Nats-Expected-Last-Sequence`, `Nats-Expected-Last-Msg-Id`) and bodies — prepared outside the
 * clock (bodies and header blocks encoded), then pushed into a fresh stream (as the worker
 * creates it) on a private server by each way the client allows; the limit is the best of them.
 *
 * @module
 */

import { connect, nanos, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, type JetStreamClient, jetstreamManager } from "@nats-io/jetstream";
import { projectPage } from "../../src/domain/project.ts";
import { messageId, outboxRows } from "../../src/domain/message.ts";
import { type Ack, DUPLICATE_WINDOW_MS, eventHeaders, Publisher } from "../../src/nats/mod.ts";
import { startNats } from "../nats_server.ts";
import { type BenchFeed, feedPages } from "./feed.ts";
import { fastest, type MessageRate, messageRate } from "./measure.ts";
import { type DeliveryLimit, deliveryLimit } from "./delivery.ts";

/** At most this many messages are pushed per way (the rate does not depend on the stream's length). */
const MAX_MESSAGES = 1_000_000;
/** Messages per batch, as the relay reads them. */
const BATCH = 2000;
/**
 * The best way is measured this many times and its median run kept: the same broker took
 * 146k–207k messages/s in four runs within two minutes (docs/performance.md).
 */
const BEST_WAY_RUNS = 3;
/** The `JetStreamClient.publish` way is slow: it is measured on this many messages. */
const JS_CLIENT_MESSAGES = 20_000;
/** The acknowledgement-per-message way, on this many. */
const ACK_PER_MESSAGE_MESSAGES = 200_000;

/** One way of publishing: messages/s and the CPU per message of the client and the server. */
export type BrokerWay = MessageRate;

/** The broker limit and each way measured. */
export interface BrokerLimit {
  /** The best way's messages/s: what the broker takes here. */
  readonly messagesPerSecond: number;
  /** The way that made it. */
  readonly best: string;
  readonly ways: Record<string, BrokerWay>;
  /** Each run's messages/s of the way measured several times (`ackPerBatch`), in run order. */
  readonly runs: readonly number[];
  /**
   * What the broker hands back to one reader: the stream the best-known way filled
   * (`ackPerBatch`), read from its start (scripts/bench/delivery.ts).
   */
  readonly delivery: DeliveryLimit;
}

/** A message ready to go: its headers as the relay writes them, chained from an empty stream. */
interface Prepared {
  readonly subject: string;
  readonly body: Uint8Array;
  readonly msgId: string;
  readonly headers: ReturnType<typeof eventHeaders>;
}

/** The feed's outbox messages in commit order, bodies encoded: outside the clock. */
function prepare(feed: BenchFeed): Prepared[] {
  const encoder = new TextEncoder();
  const messages: Prepared[] = [];
  let checkpoint = 0;
  for (const page of feedPages(feed)) {
    const result = projectPage(checkpoint, page.events.map((e) => e.raw));
    for (const row of outboxRows(result.events)) {
      if (messages.length >= MAX_MESSAGES) return messages;
      const msgId = messageId(row.eventId);
      const expected = { lastSeq: messages.length, lastMsgId: messages.at(-1)?.msgId ?? null };
      messages.push({
        subject: row.subject,
        body: encoder.encode(row.body),
        msgId,
        headers: eventHeaders(msgId, expected),
      });
    }
    checkpoint = result.to;
  }
  return messages;
}

/**
 * Measure the broker limit on a private server: each way into a fresh stream of its own
 * (created by the worker's rules), the best one the limit.
 */
export async function brokerLimit(feed: BenchFeed): Promise<BrokerLimit> {
  const messages = prepare(feed);
  const ways: Record<string, BrokerWay> = {};
  let delivery: DeliveryLimit | null = null;
  const readBack = async (url: string, pid: number | null) => {
    delivery = await deliveryLimit(url, pid, messages.length, feed.limit);
  };
  const runs: BrokerWay[] = [];
  for (let run = 0; run < BEST_WAY_RUNS; run++) {
    runs.push(await onFreshServer(messages, ackPerBatch, run === 0 ? readBack : undefined));
  }
  const sorted = [...runs].sort((a, b) => a.messagesPerSecond - b.messagesPerSecond);
  ways.ackPerBatch = sorted[Math.floor(sorted.length / 2)] as BrokerWay;
  ways.ackPerMessage = await onFreshServer(
    messages.slice(0, ACK_PER_MESSAGE_MESSAGES),
    ackPerMessage,
  );
  ways.jetstreamClient = await onFreshServer(
    messages.slice(0, JS_CLIENT_MESSAGES),
    jetstreamClient,
  );
  const [best, way] = fastest(ways);
  if (delivery === null) throw new Error("the stream was not read back");
  return {
    messagesPerSecond: way.messagesPerSecond,
    best,
    ways,
    runs: runs.map((r) => r.messagesPerSecond),
    delivery,
  };
}

/** What a way does: publish all `messages`, chained from sequence 0, acks awaited. */
type Way = (nc: NatsConnection, js: JetStreamClient, messages: readonly Prepared[]) => Promise<
  void
>;

/**
 * Run `way` against a fresh private server and stream; its rate and CPU. `then`, when given,
 * reads the filled stream (the server's URL and process) before the server goes.
 */
async function onFreshServer(
  messages: readonly Prepared[],
  way: Way,
  then?: (url: string, pid: number | null) => Promise<void>,
): Promise<BrokerWay> {
  const server = await startNats();
  const nc = await connect({ servers: server.url.replace("nats://", "") });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({
      name: "SCAN_EVENTS",
      subjects: ["scan.v1.events.>"],
      duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    });
    const rate = await messageRate(
      messages.length,
      server.pid,
      () => way(nc, jetstream(nc), messages),
    );
    const { state } = await jsm.streams.info("SCAN_EVENTS");
    if (state.messages !== messages.length) {
      throw new Error(`the stream holds ${state.messages} of ${messages.length} messages`);
    }
    await then?.(server.url, server.pid);
    return rate;
  } finally {
    await nc.close();
    await server.destroy();
  }
}

/**
 * As the relay publishes: batches of 2000 without reply subjects but the last message of each,
 * whose acknowledgement says the whole chain before it was stored; two batches in flight.
 */
const ackPerBatch: Way = async (nc, _js, messages) => {
  const publisher = new Publisher(nc);
  try {
    let last: Promise<Ack> | null = null;
    for (let from = 0; from < messages.length; from += BATCH) {
      const to = Math.min(messages.length, from + BATCH);
      let ack: Promise<Ack> | null = null;
      for (let i = from; i < to; i++) {
        const m = messages[i] as Prepared;
        ack = publisher.send(m.subject, m.body, m.headers, i === to - 1 ? 30_000 : null);
      }
      if (last !== null) checkSeq(await last, from);
      last = ack;
    }
    if (last !== null) checkSeq(await last, messages.length);
  } finally {
    publisher.close();
  }
};

/** Each message with its own acknowledgement, 2048 in flight (the relay before round three). */
const ackPerMessage: Way = async (nc, _js, messages) => {
  const publisher = new Publisher(nc);
  const window = 2048;
  try {
    const inFlight: Promise<Ack>[] = [];
    let sent = 0;
    const send = () => {
      const m = messages[sent] as Prepared;
      inFlight.push(publisher.send(m.subject, m.body, m.headers, 30_000) as Promise<Ack>);
      sent++;
    };
    while (sent < Math.min(window, messages.length)) send();
    for (let acked = 0; acked < messages.length; acked++) {
      checkSeq(await (inFlight[acked] as Promise<Ack>), acked + 1);
      inFlight[acked] = Promise.resolve({ seq: 0, duplicate: false }); // drop the reference
      if (sent < messages.length) send();
    }
  } finally {
    publisher.close();
  }
};

/** The client's own `JetStreamClient.publish`, 256 in flight. */
const jetstreamClient: Way = async (_nc, js, messages) => {
  const window = 256;
  const inFlight: Promise<unknown>[] = [];
  let sent = 0;
  const send = () => {
    const m = messages[sent] as Prepared;
    inFlight.push(
      js.publish(m.subject, m.body, { msgID: m.msgId, expect: { lastSequence: sent } }),
    );
    sent++;
  };
  while (sent < Math.min(window, messages.length)) send();
  for (let acked = 0; acked < messages.length; acked++) {
    await inFlight[acked];
    if (sent < messages.length) send();
  }
};

/** An acknowledgement must be at the chain's next sequence. */
function checkSeq(ack: Ack, seq: number): void {
  if (ack.seq !== seq || ack.duplicate) {
    throw new Error(`acknowledged at ${ack.seq}${ack.duplicate ? " (duplicate)" : ""}, not ${seq}`);
  }
}
