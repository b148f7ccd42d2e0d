/**
 * The relay (docs/rules.md §7): publishes the outbox's events to the stream in commit order (a
 * late event after the page that found it, §3.10), many in flight, each with
 * `Nats-Msg-Id: scan-event-<EventId>` and chained on `Nats-Expected-Last-Sequence`; advances its
 * cursor (an outbox position) only over the acknowledged prefix, commits it and prunes exactly
 * the rows it published. So no EventId reaches the stream twice, none is skipped, across
 * broker restarts, the duplicate window, and kill -9 of the worker. The backlog it leaves, and
 * the gate that makes ingest wait for it, are in `_backlog.ts`; the broker is `nats/`.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { ConfigError } from "../errors.ts";
import {
  type Ack,
  errorLine,
  type NatsLink,
  PublishRefusedError,
  streamEnd,
  WRONG_LAST_MSG_ID,
  WRONG_LAST_SEQUENCE,
} from "../nats/mod.ts";
import { backoffDelay, type BackoffPolicy, sleep } from "../retry.ts";
import { isFatalStoreError, type OutboxStore, type SequencedRow } from "../store/store.ts";
import type { PageGate } from "../worker/gate.ts";
import { Backlog, OutboxGate, type RelayEvents } from "./_backlog.ts";
import { tracePublish } from "../telemetry/mod.ts";
import { type ChainEnd, cpuMs, provesBatch, sendBatch, type SentBatch } from "./_batch.ts";
import { checkStreamEnd, StreamOutOfPlaceError } from "./_resync.ts";
import { type Ahead, OutboxReader } from "./_reader.ts";

/** What the relay needs. */
export interface RelayOptions {
  /** Where the outbox is. */
  readonly store: OutboxStore;
  /** Connects to the broker (retrying until it does); null when the signal aborts first. */
  readonly connect: (signal: AbortSignal) => Promise<NatsLink | null>;
  /** Where it logs. */
  readonly logger: Logger;
  /** Retry spacing after a failure. */
  readonly backoff: BackoffPolicy;
  /** `OUTBOX_MAX_ROWS`: ingest waits while this many rows wait in the outbox. */
  readonly maxRows: number;
  /**
   * Rows read and published per batch (2000), one acknowledgement each; two batches are in
   * flight at a time.
   */
  readonly batch?: number;
  /**
   * While the relay publishes, ingest waits once this many rows wait (four batches: 8000, at
   * most `maxRows`): a page then waits for at most that many rows ahead of it. While it cannot
   * publish (the broker away), ingest goes on up to `maxRows`.
   */
  readonly paceRows?: number;
  /** How long a batch may wait for its acknowledgement (5000 ms). */
  readonly publishTimeoutMs?: number;
  /** How long the relay sleeps with nothing to do before looking again (1000 ms). */
  readonly pollMs?: number;
  /** How often, at most, the outbox is counted from the database (10 000 ms). */
  readonly countEveryMs?: number;
  /** Metrics and health hooks. */
  readonly events?: RelayEvents;
}

/**
 * The relay, in the ingest loop's process. Its {@link Relay.gate} is the loop's gate: it
 * starts the relay when this instance holds the feed lock, wakes it after each page commits,
 * and makes ingest wait while the outbox is full. Stopped at the end.
 */
export class Relay {
  readonly #options: RelayOptions;
  /** Aborts the run under way; null once stopped for good. */
  #stop: AbortController | null = new AbortController();
  readonly #gate: OutboxGate;
  #running: Promise<void> | null = null;
  #link: NatsLink | null = null;
  /**
   * Where the chain ends, as the next message expects it: the stream's last sequence (once read
   * from the stream) and its last message's id (once the relay has sent one since).
   */
  #chain: ChainEnd | null = null;
  /** The outbox position the stream holds (committed). */
  #cursor = 0;
  /** The batch handed to the broker and not yet settled. */
  #inFlight: SentBatch | null = null;
  /** The last read of the stream's end left the cursor where it was (and nothing was proven since). */
  #stalled = false;
  /** Where the batches come from: the rows pages commit, else the outbox; and the idle wait. */
  readonly #reader: OutboxReader;

  /** @param options the outbox, the broker, limits and hooks. */
  constructor(options: RelayOptions) {
    this.#options = options;
    const batch = options.batch ?? 2000;
    const paceRows = options.paceRows ?? 4 * batch;
    this.#reader = new OutboxReader(options.store, batch, Math.min(options.maxRows, paceRows));
    this.#gate = new OutboxGate({
      backlog: new Backlog(options.store),
      countEveryMs: options.countEveryMs,
      maxRows: options.maxRows,
      paceRows,
      start: () => this.start(),
      pause: () => this.stop(false),
      committed: (write) => this.#reader.committed(write),
      logger: options.logger,
      events: options.events,
    });
  }

  /** The gate between the loop and the relay: room, drained, started on the loop's opening. */
  get gate(): PageGate {
    return this.#gate;
  }

  /** Start publishing, unless it is under way or stopped for good. */
  start(): void {
    if (this.#stop === null) return;
    this.#running ??= this.#run(this.#stop.signal).catch((error) => {
      this.#options.logger.error("The relay stopped: {error}", { error: errorLine(error) });
    });
  }

  /**
   * Stop after the batch in flight (its acknowledged prefix is committed) and disconnect: for
   * good, or (`forGood` false: this instance lost the feed lock) until {@link Relay.start}, which
   * goes on from the cursor and the stream's end as they are then.
   */
  async stop(forGood = true): Promise<void> {
    const stopping = this.#stop;
    if (stopping === null) return; // stopped for good already
    this.#stop = forGood ? null : new AbortController();
    stopping.abort();
    await this.#running;
    await this.#link?.close();
    this.#link = null;
    this.#chain = null;
    this.#reader.forget();
    this.#gate.publishing(false);
    this.#running = null; // last: a start() from here on begins afresh
    if (!forGood) {
      this.#options.logger.info(
        "The relay paused: this instance lost the feed lock; it goes on once it holds it again",
      );
    }
  }

  async #run(signal: AbortSignal): Promise<void> {
    const { store, logger, backoff, events } = this.#options;
    let started = false;
    let failures = 0;
    let ahead: Ahead | null = null;
    while (!signal.aborted) {
      try {
        if (!started) {
          // Before the broker answers (it may be away): the gauges show the backlog at once.
          this.#cursor = await store.readRelayCursor();
          await this.#gate.count(this.#cursor);
          started = true;
        }
        if (this.#link === null) {
          this.#link = await this.#gate.countingWhile(this.#options.connect(signal));
          if (this.#link === null || signal.aborted) return; // stop() closes a link made meanwhile
        }
        if (this.#chain === null) await this.#resync();
        ahead = await this.#next(ahead, signal);
        failures = 0;
      } catch (error) {
        ahead = null;
        this.#gate.publishing(false);
        await this.#abandon();
        if (signal.aborted) break;
        if (isFatalStoreError(error) || error instanceof ConfigError) {
          this.#gate.fail(error); // the outbox cannot be used, or the stream is wrong: ingest stops
          throw error;
        }
        const delayMs = backoffDelay(++failures, backoff);
        events?.failed(causeOf(error));
        const fields = { attempt: failures, error: errorLine(error), delayMs };
        if (error instanceof StreamOutOfPlaceError) {
          logger.error(
            "The relay cannot trust the stream's end (attempt {attempt}): {error}; looking again in {delayMs} ms",
            fields,
          );
        } else {
          logger.warn(
            "The relay could not publish (attempt {attempt}): {error}; going on from the stream's end in {delayMs} ms",
            fields,
          );
        }
        await this.#gate.countingWhile(sleep(delayMs, signal));
      }
    }
    // Stopping: the batch in flight is committed once acknowledged (else found in the stream
    // at the next start).
    await this.#settle(null).catch(() => {});
  }

  /**
   * Read where the stream ends and go on after it: the chain's next expected sequence, and the
   * cursor past every row the stream already holds (published before a crash, or a batch whose
   * acknowledgement did not come or did not prove it). Rows are published in outbox order, so
   * the stream's last event, still in the outbox, says every row up to its position is
   * published — once the stream is found to hold the row after the cursor too (else something
   * other than the relay wrote that event: StreamOutOfPlaceError, nothing committed). Those rows
   * are committed, pruned, and counted as published.
   */
  async #resync(): Promise<void> {
    const link = this.#link;
    if (link === null) return;
    const { store, events, logger } = this.#options;
    // The stream is the truth now: the rows kept from pages go, and the outbox is read until the
    // next page commits. (Kept rows another relay has published and pruned since — one that took
    // over while this one went on — would otherwise be sent again after the stream's end.)
    this.#reader.forget();
    const end = await streamEnd(link);
    events?.resynced();
    const to = end.lastEventId === 0 ? null : await store.outboxSeqOf(end.lastEventId);
    this.#stalled = to === null || to <= this.#cursor;
    if (!this.#stalled) {
      const found = { ...end, to: to as number };
      const rows = await checkStreamEnd(
        link,
        store,
        this.#cursor,
        found,
        this.#options.batch ?? 2000,
      );
      logger.info(
        "The stream already holds events up to {eventId} ({rows} rows after the cursor): the relay goes on after it",
        { eventId: end.lastEventId, rows },
      );
      await store.commitRelay(found.to);
      this.#cursor = found.to;
      events?.published(rows, 0);
      await this.#gate.count(this.#cursor);
    }
    this.#chain = { seq: end.lastSeq, msgId: null };
  }

  /**
   * Hand the next batch to the broker (read ahead when the last one was full), then settle the
   * one before it: two batches in flight, so the broker stores one while the relay commits the
   * other. Returns the read of the batch after. Caught up, it settles what is in flight and
   * waits for a commit; stopping (`signal` aborted), it settles what is in flight and sends no more.
   */
  async #next(ahead: Ahead | null, signal: AbortSignal): Promise<Ahead | null> {
    const batch = this.#options.batch ?? 2000;
    // After the last row handed to the broker: the batch in flight's, else the cursor.
    const after = (this.#inFlight?.rows.at(-1) as SequencedRow | undefined)?.seq ?? this.#cursor;
    const read = ahead?.after === after ? ahead : this.#reader.read(after);
    const rows = await read.rows;
    if (rows.length === 0) {
      if (this.#inFlight !== null) return await this.#settle(null);
      if (this.#gate.rows > 0) await this.#gate.count(this.#cursor); // none left: count exactly
      await this.#reader.sleep(this.#options.pollMs ?? 1000, signal);
      return null;
    }
    if (signal.aborted) return await this.#settle(null); // stopping: nothing more is sent
    const link = this.#link as NatsLink;
    const timeout = this.#options.publishTimeoutMs ?? 5000;
    const chain = this.#chain as ChainEnd;
    const sent = sendBatch(link.publisher, rows, chain, timeout, read.readMs);
    this.#chain = { seq: chain.seq + rows.length, msgId: sent.lastMsgId };
    let next: Ahead | null = null;
    if (rows.length === batch) {
      // More may wait: read them while these are published (a server store answers meanwhile).
      next = this.#reader.read((rows.at(-1) as SequencedRow).seq);
      // A failed read is met by the next round, which awaits it: a failure (backoff), then a read
      // from the cursor. Observed here only so that it does not count as unhandled meanwhile.
      next.rows.catch(() => {});
    }
    await this.#settle(sent);
    return next;
  }

  /**
   * Wait for the batch in flight before `sent` (if any) to be acknowledged and commit it; `sent`
   * is in flight then. A batch the acknowledgement does not prove (refused, a duplicate, a
   * timeout) is not committed: the relay waits for `sent` to settle too and reads the stream's
   * end again: quietly when the chain broke (a wrong last sequence or message, or an answer that
   * does not prove the batch) and the last read of the stream's end had moved the cursor or a
   * batch was proven since; as a failure (thrown) otherwise. A refusal of the batch's first
   * message, when it asked for its own acknowledgement, is thrown with its own code.
   */
  async #settle(sent: SentBatch | null): Promise<null> {
    const previous = this.#inFlight;
    this.#inFlight = sent;
    if (previous === null) return null;
    const stream = this.#link?.stream ?? "";
    const traceparents = previous.rows.map((row) => row.traceparent);
    const t0 = performance.now();
    let ack: Ack;
    try {
      ack = await tracePublish(stream, traceparents, async () => {
        await previous.firstAck;
        return await previous.ack;
      });
    } catch (error) {
      await this.#abandon();
      if (
        error instanceof PublishRefusedError &&
        (error.code === WRONG_LAST_SEQUENCE || error.code === WRONG_LAST_MSG_ID) && !this.#stalled
      ) {
        this.#options.logger.info(
          "The stream's last message is not the one expected ({error}): reading its end again",
          { error: errorLine(error) },
        );
        return null;
      }
      throw error;
    }
    const ackWaitMs = performance.now() - t0;
    if (!provesBatch(previous, ack)) {
      if (ack.duplicate) this.#options.events?.published(0, 1); // the duplicates metric
      const expected = previous.base + previous.rows.length;
      await this.#abandon();
      if (this.#stalled) {
        throw new Error(
          `the stream answered the batch's last message at ${ack.seq} (duplicate: ${ack.duplicate}), not ${expected}, again with no row stored`,
        );
      }
      this.#options.logger.info(
        "The stream answered the batch's last message at {seq} (duplicate: {duplicate}), not {expected}: reading its end again",
        { seq: ack.seq, duplicate: ack.duplicate, expected },
      );
      return null;
    }
    await this.#acknowledged(previous, ackWaitMs);
    return null;
  }

  /** Stop trusting what is in flight: wait for it to settle, then read the stream's end again. */
  async #abandon(): Promise<void> {
    const inFlight = this.#inFlight;
    this.#inFlight = null;
    await inFlight?.ack.catch(() => {});
    this.#chain = null;
  }

  /** The broker stored `batch`: commit the cursor past it (pruning exactly its rows). */
  async #acknowledged(batch: SentBatch, ackWaitMs: number): Promise<void> {
    const { rows } = batch;
    this.#options.events?.published(rows.length, 0);
    const last = rows.at(-1) as SequencedRow;
    const t0 = cpuMs();
    const committing = this.#options.store.commitRelay(last.seq);
    const commitMs = cpuMs() - t0; // all of SQLite's work; a server store's up to its wait
    await committing;
    this.#cursor = Math.max(this.#cursor, last.seq);
    this.#reader.published(this.#cursor);
    this.#stalled = false;
    const settled = await this.#gate.published(rows.length, this.#cursor);
    this.#gate.publishing(true);
    this.#options.logger.debug(
      "Published {count} events up to {eventId}",
      {
        count: rows.length,
        eventId: last.eventId,
        commitToAckMs: settled.map(hundredths),
        readMs: hundredths(batch.readMs),
        encodeMs: hundredths(batch.encodeMs),
        publishMs: hundredths(batch.publishMs),
        ackWaitMs: hundredths(ackWaitMs),
        commitMs: hundredths(commitMs),
      },
    );
  }
}

/** Milliseconds to two decimals, for a log line. */
function hundredths(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/** A short label for a failure's cause, for the error metric. */
function causeOf(error: unknown): string {
  if (error instanceof PublishRefusedError) return `api_${error.code}`;
  if (error instanceof StreamOutOfPlaceError) return "stream_out_of_place";
  const name = (error as Error)?.name ?? "";
  if (/Timeout/i.test(name) || /timeout/i.test((error as Error)?.message ?? "")) return "timeout";
  if (/Closed|Connection/i.test(name)) return "connection";
  return "other";
}
