/**
 * The stream as a page source (`run --source nats`): a downstream worker reads the accepted
 * events from JetStream instead of the Scan Event API, with the same rules, checkpoint and
 * lock. {@link StreamSource} is the ordered reader, forward from the worker's checkpoint;
 * {@link runGroupMember} is the other way, a member of a consumer group (`--group`) sharing one
 * database and a durable consumer with the others.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getLogger } from "@logtape/logtape";
 * // A connect that gives up (its signal aborted) ends the page as aborted, not as a failure.
 * const source = new StreamSource({
 *   connect: () => Promise.resolve(null),
 *   limit: 100,
 *   backoff: { baseMs: 10, capMs: 100 },
 *   logger: getLogger(["example"]),
 * });
 * await assert.rejects(source.fetchPage(1, new AbortController().signal), {
 *   name: "FetchAbortedError",
 * });
 * await source.close();
 * ```
 *
 * @module
 */

export { StreamSource, type StreamSourceEvents, type StreamSourceOptions } from "./_ordered.ts";
export {
  type GroupEvents,
  type GroupMemberOptions,
  type GroupSummary,
  projectBatch,
  runGroupMember,
} from "./_group.ts";
export {
  ensureGroupConsumer,
  GROUP_ACK_WAIT_MS,
  GROUP_MAX_ACK_PENDING,
  groupConsumerConfig,
  GroupConsumerError,
  type GroupState,
  groupStateOf,
  readGroupState,
} from "./_group_consumer.ts";
