/**
 * The delivery limit: what this nats-server on this machine hands to one reader, with nothing
 * else around it (no database, no projection). The stream the broker limit filled with the
 * relay's messages is read back from its start by each way of reading; the best is the limit, the
 * ceiling of a downstream worker (`run --source nats`) on this machine.
 *
 * - `streamSource`: the downstream's own page source (`StreamSource`, its pull and its body
 *   parse), pages of `limit`, as the worker asks for them but with nothing done with a page;
 * - `orderedConsumer`: the client's ordered consumer (`consume()`), each message's body touched.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { jetstream } from "@nats-io/jetstream";
import { connectNats, type NatsLink } from "../../src/nats/mod.ts";
import { StreamSource } from "../../src/stream/mod.ts";
import { fastest, type MessageRate, messageRate } from "./measure.ts";

/** One way of reading: messages/s, and the CPU per message of the reader and of the server. */
export type ReadWay = MessageRate;

/** The delivery limit and each way measured. */
export interface DeliveryLimit {
  /** The best way's messages/s: what the broker hands to one reader here. */
  readonly messagesPerSecond: number;
  /** The way that made it. */
  readonly best: string;
  readonly ways: Record<string, ReadWay>;
}

/** A way of reading `count` messages from the stream's start. */
type Read = (link: NatsLink, count: number, limit: number) => Promise<void>;

/**
 * Read the stream `SCAN_EVENTS` of the broker at `url` (process `serverPid`, when known), which
 * holds `count` messages, by each way; the best is the limit.
 */
export async function deliveryLimit(
  url: string,
  serverPid: number | null,
  count: number,
  limit: number,
): Promise<DeliveryLimit> {
  const ways: Record<string, ReadWay> = {};
  ways.streamSource = await timed(url, serverPid, count, limit, streamSource);
  ways.orderedConsumer = await timed(url, serverPid, count, limit, orderedConsumer);
  const [best, way] = fastest(ways);
  return { messagesPerSecond: way.messagesPerSecond, best, ways };
}

/** A connection to the private broker at `url` (no credentials), to the stream `SCAN_EVENTS`. */
export async function benchLink(url: string): Promise<NatsLink> {
  const target = { servers: [url], user: null, pass: null, token: null };
  const config = { nats: target, natsForLog: url, natsCredsFile: null, natsStream: "SCAN_EVENTS" };
  const link = await connectNats(config, {
    logger: getLogger(["bench"]),
    signal: new AbortController().signal,
    backoff: { baseMs: 100, capMs: 1000 },
  });
  if (link === null) throw new Error(`no broker at ${url}`);
  return link;
}

/** Run `read` on a connection of its own; its rate and the CPU spent. */
async function timed(
  url: string,
  serverPid: number | null,
  count: number,
  limit: number,
  read: Read,
): Promise<ReadWay> {
  const link = await benchLink(url);
  try {
    return await messageRate(count, serverPid, () => read(link, count, limit));
  } finally {
    await link.close().catch(() => {}); // the stream source closes it itself
  }
}

/** The downstream's page source, page after page from the first EventId, nothing done with them. */
const streamSource: Read = async (link, count, limit) => {
  const source = new StreamSource({
    connect: () => Promise.resolve(link),
    limit,
    backoff: { baseMs: 100, capMs: 1000 },
    logger: getLogger(["bench"]),
    traceparents: false,
  });
  const signal = new AbortController().signal;
  let read = 0;
  let from = 1;
  try {
    while (read < count) {
      const page = await source.fetchPage(from, signal);
      if (page.events.length === 0) throw new Error(`the stream ended after ${read} of ${count}`);
      read += page.events.length;
      const last = page.events.at(-1) as { EventId: number };
      from = last.EventId + 1;
    }
  } finally {
    await source.close(); // its pull and the link
  }
};

/** The client's ordered consumer, each message's body touched. */
const orderedConsumer: Read = async (link, count) => {
  const consumer = await jetstream(link.nc).consumers.get(link.stream);
  const messages = await consumer.consume({ max_messages: 3000 });
  let read = 0;
  let bytes = 0;
  for await (const message of messages) {
    bytes += message.data.length;
    if (++read >= count) break;
  }
  await messages.close();
  if (bytes === 0) throw new Error("the stream's messages had no bodies");
};
