/**
 * The broker: the link to NATS JetStream (connect, retrying; watch the connection), the
 * worker's stream on it (made sure of, read by EventId), and the publisher (acknowledged
 * publishes, many in flight). The relay publishes through it; the stream source and `tail`
 * read through it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * // A stream's answer to a publish, read as the relay needs it.
 * const answer = (text: string) => ({
 *   data: new TextEncoder().encode(text),
 *   headers: undefined,
 *   string: () => text,
 * });
 * assert.deepEqual(parseAck(answer('{"stream":"SCAN_EVENTS","seq":7}')), {
 *   seq: 7,
 *   duplicate: false,
 * });
 * const refused = parseAck(answer('{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 6"}}'));
 * assert.ok(refused instanceof PublishRefusedError && refused.code === WRONG_LAST_SEQUENCE);
 * ```
 *
 * @module
 */

export { connectNats, errorLine, type LinkEvents, type NatsLink } from "./_link.ts";
export {
  type Ack,
  AckTimeoutError,
  eventHeaders,
  type Expected,
  LATE_HEADER,
  parseAck,
  Publisher,
  PublishRefusedError,
  WRONG_LAST_MSG_ID,
  WRONG_LAST_SEQUENCE,
} from "./_publisher.ts";
export {
  deletedBetween,
  DUPLICATE_WINDOW_MS,
  ensureStream,
  holdsEvent,
  messageAt,
  seqOfEventId,
  type StreamEnd,
  streamEnd,
  SUBJECTS_OVERLAP,
} from "./_stream.ts";
