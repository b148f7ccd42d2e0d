/**
 * A member of a consumer group (`run --source nats --group NAME`): any number of members share
 * one database and one durable JetStream pull consumer named NAME. The broker hands each
 * message to one member at a time; a member fetches a batch, validates and projects it as a
 * page of the API, writes it in one transaction, and only then acknowledges its messages.
 *
 * A member keeps no checkpoint and takes no feed lock: the consumer is the checkpoint. A member
 * that dies before its acknowledgements leaves its batch to come back (after the ack wait) to
 * any member, and writing it again changes nothing: parcel rows merge under the projection's
 * guards, whatever the order (docs/rules.md §3.6–3.7), and a rejection is stored once.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import type { Consumer, ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import { rawEventOfText, TRACEPARENT_HEADER } from "../domain/message.ts";
import { type PageResult, projectPage } from "../domain/project.ts";
import { MAX_STORED_TYPE_LENGTH } from "../domain/validate.ts";
import { ConfigError } from "../errors.ts";
import { backoffDelay, type BackoffPolicy, sleep } from "../retry.ts";
import { type BatchStore, isFatalStoreError, type PageWrite } from "../store/store.ts";
import { errorLine, type NatsLink } from "../nats/mod.ts";
import { traceProcess } from "../telemetry/mod.ts";
import { ensureGroupConsumer, type GroupState, groupStateOf } from "./_group_consumer.ts";

/** How long a fetch waits for messages when the consumer has none (1 s). */
const FETCH_WAIT_MS = 1000;

/** How often the consumer's counts are read while the member is busy (1 s). */
const STATE_INTERVAL_MS = 1000;

/** What a member reports as it goes (metrics, health). The monitor implements it. */
export interface GroupEvents {
  /** The member waits for messages, or writes a batch. */
  groupStep(step: "fetch" | "write" | "wait"): void;
  /**
   * A fetch came back with `messages` messages (0: the group has none for this member), or
   * failed (`ok` false): the broker answers, or not.
   */
  fetched(ok: boolean, messages?: number): void;
  /** A batch was written and acknowledged; `redelivered` of its messages had been handed out before. */
  batchWritten(result: PageResult, write: PageWrite, redelivered: number, ms: number): void;
  /** A batch's write failed (its messages are handed back to the group). */
  writeFailed(error: unknown): void;
  /** The broker did not confirm a batch's acknowledgements (its messages come back). */
  ackFailed(messages: number): void;
  /** The consumer's counts. */
  groupState(state: GroupState): void;
}

/** What a member needs. */
export interface GroupMemberOptions {
  /** The group: the durable consumer's name. */
  readonly group: string;
  /** Connects to the broker (retrying until it does); null when the signal aborts first. */
  readonly connect: (signal: AbortSignal) => Promise<NatsLink | null>;
  /** Where batches are written. */
  readonly store: BatchStore;
  /** Messages per batch at most. */
  readonly limit: number;
  /** Stop with "drained" once the consumer has nothing pending and nothing unacknowledged. */
  readonly drain: boolean;
  /** Aborts on shutdown: the batch in flight is written and acknowledged, then it stops. */
  readonly signal: AbortSignal;
  /** Retry spacing after a failure. */
  readonly backoff: BackoffPolicy;
  /** Where it logs. */
  readonly logger: Logger;
  /** Metrics and health hooks. */
  readonly events?: GroupEvents;
  /** Called once, when the member has joined the group (start-up is over). */
  readonly onActive?: () => void;
  /** How long a fetch waits when there is nothing (1000 ms). */
  readonly fetchWaitMs?: number;
}

/** How a member ended and what it did. */
export interface GroupSummary {
  /** "drained" (with `drain`, nothing left) or "stopped" (signal). */
  readonly reason: "drained" | "stopped";
  /** Batches written (and acknowledged, unless the broker did not confirm it). */
  readonly batches: number;
  /** Messages in them. */
  readonly messages: number;
  /** Events applied (valid, projected). */
  readonly applied: number;
  /** Rejections newly stored. */
  readonly rejected: number;
  /** Messages that had been handed to a member before. */
  readonly redelivered: number;
}

/**
 * Hand messages back to the group at once (a negative acknowledgement), not after the ack wait;
 * on a closed connection they come back after it anyway.
 */
function handBack(batch: readonly JsMsg[]): void {
  try {
    for (const message of batch) message.nak();
  } catch {
    // closed: the ack wait brings them back
  }
}

/**
 * Whether an error ends a member instead of being retried: a fatal store error, or a
 * configuration mistake (a consumer that cannot serve a group, a NATS_STREAM that cannot hold the
 * worker's subjects).
 */
function isFatal(error: unknown): boolean {
  return isFatalStoreError(error) || error instanceof ConfigError;
}

/** Project a batch of messages as a page: every event counts (no checkpoint to skip below). */
export function projectBatch(messages: readonly JsMsg[]): PageResult {
  return projectPage(
    0,
    messages.map((message) => rawEventOfText(message.string())),
    MAX_STORED_TYPE_LENGTH,
  );
}

/**
 * Run one member until the signal aborts, or with `drain` until the group has nothing left.
 * Transient failures (broker, database) are logged and retried; a fatal store error, a consumer
 * that cannot serve a group or a stream that cannot hold the worker's subjects ends it by
 * throwing.
 */
export function runGroupMember(options: GroupMemberOptions): Promise<GroupSummary> {
  return new GroupMember(options).run();
}

/** One member's run and its state. */
class GroupMember {
  readonly #options: GroupMemberOptions;
  #link: NatsLink | null = null;
  #consumer: Consumer | null = null;
  #fetching: ConsumerMessages | null = null;
  #active = false;
  #stateAt = 0;
  #failures = 0;
  #totals = { batches: 0, messages: 0, applied: 0, rejected: 0, redelivered: 0 };

  constructor(options: GroupMemberOptions) {
    this.#options = options;
  }

  async run(): Promise<GroupSummary> {
    const { signal, logger } = this.#options;
    const stopFetch = () => this.#fetching?.stop();
    signal.addEventListener("abort", stopFetch);
    let reason: GroupSummary["reason"] = "stopped";
    try {
      while (!signal.aborted) {
        try {
          const consumer = await this.#join();
          if (consumer === null) break;
          const batch = await this.#fetch(consumer);
          if (batch.length > 0) {
            await this.#apply(batch);
          } else if (await this.#drained(consumer)) {
            reason = "drained";
            break;
          }
          this.#failures = 0;
        } catch (error) {
          if (isFatal(error)) throw error;
          if (!await this.#retryAfter(error)) break;
        }
      }
    } finally {
      signal.removeEventListener("abort", stopFetch);
      await this.#link?.close();
      this.#link = null;
    }
    logger.info(
      "Group {group}: {batches} batches, {messages} messages, {applied} events applied, {rejected} rejected, {redelivered} redelivered",
      { group: this.#options.group, ...this.#totals },
    );
    return { reason, ...this.#totals };
  }

  /** Connect and join the group's consumer (again, after a failure); null on shutdown. */
  async #join(): Promise<Consumer | null> {
    const { connect, signal, group, logger, events } = this.#options;
    if (this.#consumer !== null) return this.#consumer;
    this.#link ??= await connect(signal);
    if (this.#link === null) return null;
    try {
      await ensureGroupConsumer(this.#link, group, logger);
      this.#consumer = await this.#link.js.consumers.get(this.#link.stream, group);
    } catch (error) {
      events?.fetched(false);
      throw error;
    }
    if (!this.#active) {
      this.#active = true;
      this.#options.onActive?.();
    }
    return this.#consumer;
  }

  /**
   * One batch: `limit` messages, or whatever came within the wait (1 s, the client's least).
   * The fetch is left early only when the member stops: messages the broker sends to it after
   * that sit unacknowledged until the ack wait (30 s) hands them to another member. Nothing is
   * lost; a peer running `--drain` waits for them.
   */
  async #fetch(consumer: Consumer): Promise<JsMsg[]> {
    const { limit, events, signal } = this.#options;
    events?.groupStep("fetch");
    const batch: JsMsg[] = [];
    try {
      const messages = await consumer.fetch({
        max_messages: limit,
        expires: this.#options.fetchWaitMs ?? FETCH_WAIT_MS,
      });
      this.#fetching = messages;
      if (signal.aborted) messages.stop();
      for await (const message of messages) {
        batch.push(message);
      }
    } catch (error) {
      handBack(batch);
      events?.fetched(false);
      throw error;
    } finally {
      this.#fetching = null;
    }
    events?.fetched(true, batch.length);
    return batch;
  }

  /** Project, write in one transaction, then acknowledge; on a failed write, hand them back. */
  async #apply(batch: JsMsg[]): Promise<void> {
    const { store, events, logger } = this.#options;
    events?.groupStep("write");
    const started = performance.now();
    const result = projectBatch(batch);
    let write: PageWrite;
    try {
      // One `process` span per batch, linked to the upstream pages its messages carry.
      write = await traceProcess(
        batch[0]?.info.stream ?? "",
        batch.map((m) => m.headers?.get(TRACEPARENT_HEADER) || null),
        () => store.applyBatch(result),
      );
    } catch (error) {
      handBack(batch);
      events?.writeFailed(error);
      throw error;
    }
    const redelivered = batch.filter((m) => m.redelivered).length;
    await this.#ack(batch);
    const ms = performance.now() - started;
    this.#totals.batches++;
    this.#totals.messages += batch.length;
    this.#totals.applied += result.applied;
    this.#totals.rejected += write.rejected.length;
    this.#totals.redelivered += redelivered;
    events?.batchWritten(result, write, redelivered, ms);
    logger.debug(
      "Batch of {messages} messages written and acknowledged: {applied} applied, {rejected} rejected, {redelivered} redelivered, {ms} ms",
      {
        messages: batch.length,
        applied: result.applied,
        rejected: write.rejected.length,
        redelivered,
        ms: Math.round(ms * 10) / 10,
      },
    );
    for (const r of write.rejected) {
      logger.warn("Rejected event {eventId}: {reason}", { eventId: r.eventId, reason: r.reason });
    }
    if (performance.now() - this.#stateAt >= STATE_INTERVAL_MS && this.#consumer !== null) {
      await this.#state(this.#consumer);
    }
  }

  /**
   * Acknowledge a written batch: each message, the last one waiting for the broker's
   * confirmation (the connection keeps their order, so it confirms the others' arrival). An
   * unconfirmed batch comes back after the ack wait, and changes nothing.
   */
  async #ack(batch: JsMsg[]): Promise<void> {
    let confirmed: boolean;
    try {
      for (const message of batch.slice(0, -1)) message.ack();
      const last = batch[batch.length - 1];
      confirmed = last === undefined || await last.ackAck();
    } catch {
      confirmed = false; // the connection is closed: the batch comes back
    }
    if (!confirmed) {
      this.#options.events?.ackFailed(batch.length);
      this.#options.logger.warn(
        "The broker did not confirm the acknowledgement of {messages} messages (written); they come back after the ack wait and change nothing",
        { messages: batch.length },
      );
    }
  }

  /** The consumer's counts, reported. */
  async #state(consumer: Consumer): Promise<GroupState> {
    const state = groupStateOf(await consumer.info(false));
    this.#stateAt = performance.now();
    this.#options.events?.groupState(state);
    return state;
  }

  /**
   * After an empty fetch: whether `drain` may stop (nothing pending, nothing unacknowledged:
   * a dead member's messages are waited for until they come back after the ack wait).
   */
  async #drained(consumer: Consumer): Promise<boolean> {
    const state = await this.#state(consumer);
    return this.#options.drain && state.pending === 0 && state.ackPending === 0;
  }

  /** After a failure: log, forget the consumer (join again), wait with backoff; false on shutdown. */
  async #retryAfter(error: unknown): Promise<boolean> {
    const { events, backoff, logger, signal, group } = this.#options;
    this.#failures++;
    this.#consumer = null;
    events?.groupStep("wait");
    const delayMs = backoffDelay(this.#failures, backoff);
    logger.warn(
      "Group {group} failed (attempt {attempt}): {error}; retrying in {delayMs} ms",
      { group, attempt: this.#failures, error: errorLine(error), delayMs },
    );
    return await sleep(delayMs, signal);
  }
}
