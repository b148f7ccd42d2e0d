/**
 * One batch of the relay on the wire: its messages, each expecting the stream's last sequence
 * to be the one before it (`Nats-Expected-Last-Sequence`) and its last message to be the one
 * before it (`Nats-Expected-Last-Msg-Id`: the first message after the relay read the stream's
 * end expects only the sequence), handed to the client with one acknowledgement asked for, on
 * the last message (and, after the relay read the stream's end, one on the first: below). The
 * stream refuses the first message after one it did not store, and — by
 * the message id, whatever else was written to the stream meanwhile — every one after that; it
 * answers a duplicate of any message. So the last message's acknowledgement at exactly the
 * chain's last sequence, not a duplicate, says every message of the batch was stored, once and
 * in order. Anything else says nothing: the relay reads the stream's end again. (The sequence
 * alone would not do: a message of another writer in place of a refused one would let the
 * next one through, and the gap go unseen.)
 *
 * Only the first refusal says why (the stream full, its storage exhausted, a message too large):
 * every message after it is refused as out of chain (10071, 10070), and so is the last. After such
 * a refusal the relay reads the stream's end, which stops just before the refused message; so the
 * first message of the batch after a read of the stream's end asks for its own acknowledgement,
 * and a refusal of the stream's own comes back with its own code.
 *
 * @module
 */

import process from "node:process";
import { messageId } from "../domain/message.ts";
import { type Ack, eventHeaders, type Publisher } from "../nats/mod.ts";
import type { SequencedRow } from "../store/store.ts";

/** A message's headers, as {@link eventHeaders} writes them. */
type Headers = ReturnType<typeof eventHeaders>;

/** A batch handed to the broker, its acknowledgement pending. */
export interface SentBatch {
  readonly rows: readonly SequencedRow[];
  /** The stream's last sequence before its first message. */
  readonly base: number;
  /** Its last message's id: what the next batch's first message expects. */
  readonly lastMsgId: string;
  /** The acknowledgement of its last message (rejections already observed). */
  readonly ack: Promise<Ack>;
  /**
   * The acknowledgement of its first message, asked for when the chain starts afresh (after the
   * relay read the stream's end) and the batch has more than one; else null.
   */
  readonly firstAck: Promise<Ack> | null;
  /** CPU ms of reading the batch from the outbox (up to the store's first wait: all of SQLite's). */
  readonly readMs: number;
  /** CPU ms building the messages' headers. */
  readonly encodeMs: number;
  /** CPU ms handing the messages to the client (its encoding and buffering). */
  readonly publishMs: number;
}

/** Where a batch's chain starts: the stream's last sequence, and its last message's id when known. */
export interface ChainEnd {
  readonly seq: number;
  readonly msgId: string | null;
}

/**
 * Hand `rows` to the client, chained from `after`, the last one with a reply subject (and the
 * first one too when `after` names no message: the chain starts afresh).
 * @throws when the client refuses a message (closed): nothing of the batch can be trusted then.
 */
export function sendBatch(
  publisher: Publisher,
  rows: readonly SequencedRow[],
  after: ChainEnd,
  timeoutMs: number,
  readMs: number,
): SentBatch {
  const t0 = cpuMs();
  let lastMsgId = after.msgId;
  const headers = rows.map((row, i) => {
    const msgId = messageId(row.eventId);
    const expected = { lastSeq: after.seq + i, lastMsgId };
    lastMsgId = msgId;
    return eventHeaders(msgId, expected, row.traceparent, row.late);
  });
  const t1 = cpuMs();
  const last = rows.length - 1;
  let firstAck: Promise<Ack> | null = null;
  for (let i = 0; i < last; i++) {
    const row = rows[i] as SequencedRow;
    const wait = i === 0 && after.msgId === null ? timeoutMs : null;
    const answer = publisher.send(row.subject, row.body, headers[i] as Headers, wait);
    if (answer !== null) (firstAck = answer).catch(() => {}); // settled by the relay, in order
  }
  const row = rows[last] as SequencedRow;
  const ack = publisher.send(
    row.subject,
    row.body,
    headers[last] as Headers,
    timeoutMs,
  ) as Promise<Ack>;
  ack.catch(() => {}); // settled by the relay, in order
  const t2 = cpuMs();
  return {
    rows,
    base: after.seq,
    lastMsgId: lastMsgId as string,
    ack,
    firstAck,
    readMs,
    encodeMs: t1 - t0,
    publishMs: t2 - t1,
  };
}

/**
 * Whether `ack` proves the whole batch stored in order: at the chain's last sequence, and not
 * a duplicate (a duplicate is answered whatever came before it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const batch = { base: 10, rows: { length: 5 } };
 * assert.equal(provesBatch(batch, { seq: 15, duplicate: false }), true);
 * assert.equal(provesBatch(batch, { seq: 15, duplicate: true }), false);
 * assert.equal(provesBatch(batch, { seq: 12, duplicate: false }), false);
 * ```
 */
export function provesBatch(
  batch: { readonly base: number; readonly rows: { readonly length: number } },
  ack: Ack,
): boolean {
  return !ack.duplicate && ack.seq === batch.base + batch.rows.length;
}

/**
 * This process's CPU time so far, in ms (all threads: the stages are measured around work on
 * this thread, and CPU time holds under a shared machine where wall time does not).
 */
export function cpuMs(): number {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1000;
}
