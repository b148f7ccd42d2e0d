/**
 * The relay (docs/rules.md §7): publishes the outbox's events to the stream in EventId order,
 * many in flight, each with `Nats-Msg-Id: scan-event-<EventId>` and chained on
 * `Nats-Expected-Last-Sequence`; advances its cursor only over the acknowledged prefix, commits
 * it and prunes what it covers. So no EventId reaches the stream twice, none is skipped, across
 * broker restarts, the duplicate window, and kill -9 of the worker. The backlog it leaves, and
 * the gate that makes ingest wait for it, are in `_backlog.ts`; the broker is `nats/`.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { messageId, type OutboxRow } from "../domain/message.ts";
import { ConfigError } from "../errors.ts";
import {
  type Ack,
  errorLine,
  type NatsLink,
  PublishRefusedError,
  streamEnd,
  WRONG_LAST_SEQUENCE,
} from "../nats/mod.ts";
import { backoffDelay, type BackoffPolicy, sleep } from "../retry.ts";
import { isFatalStoreError, type OutboxStore } from "../store/store.ts";
import type { PageGate } from "../worker/gate.ts";
import { Backlog, OutboxGate, type RelayEvents } from "./_backlog.ts";

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
  /** Rows read and published per batch (2000). */
  readonly batch?: number;
  /**
   * Publishes in flight at most (2048: a whole batch). Measured from a full outbox on SQLite,
   * 100k events, Limit 1000: a window of 256 published 17k events/s, 1024 35k/s; a whole
   * batch of 2000 the same 33k/s, with a page's commit-to-ack p50 70 ms instead of 520 ms.
   */
  readonly window?: number;
  /** How long a publish may wait for its ack (5000 ms). */
  readonly publishTimeoutMs?: number;
  /** How long the relay sleeps with nothing to do before looking again (1000 ms). */
  readonly pollMs?: number;
  /** How often, at most, the outbox is counted from the database (10 000 ms). */
  readonly countEveryMs?: number;
  /** Metrics and health hooks. */
  readonly events?: RelayEvents;
}

/** The next batch, read while the current one is published: the cursor it follows, its rows. */
interface Ahead {
  readonly after: number;
  readonly rows: Promise<OutboxRow[]>;
}

/**
 * The relay, in the ingest loop's process. Its {@link Relay.gate} is the loop's gate: it
 * starts the relay when this instance holds the feed lock, wakes it after each page commits,
 * and makes ingest wait while the outbox is full. Stopped at the end.
 */
export class Relay {
  readonly #options: RelayOptions;
  readonly #stop = new AbortController();
  readonly #gate: OutboxGate;
  #running: Promise<void> | null = null;
  #link: NatsLink | null = null;
  /** The stream's last sequence as the chain expects it, once synced with the stream. */
  #lastSeq: number | null = null;
  #cursor = 0;
  #wake: (() => void) | null = null;

  /** @param options the outbox, the broker, limits and hooks. */
  constructor(options: RelayOptions) {
    this.#options = options;
    this.#gate = new OutboxGate({
      backlog: new Backlog(options.store),
      countEveryMs: options.countEveryMs,
      maxRows: options.maxRows,
      start: () => this.start(),
      wake: () => this.#wake?.(),
      logger: options.logger,
      events: options.events,
    });
  }

  /** The gate between the loop and the relay: room, drained, started on the loop's opening. */
  get gate(): PageGate {
    return this.#gate;
  }

  /** Start publishing (once). */
  start(): void {
    this.#running ??= this.#run().catch((error) => {
      this.#options.logger.error("The relay stopped: {error}", { error: errorLine(error) });
    });
  }

  /** Stop after the batch in flight (its acknowledged prefix is committed) and disconnect. */
  async stop(): Promise<void> {
    this.#stop.abort();
    this.#wake?.();
    await this.#running;
    await this.#link?.close();
    this.#link = null;
  }

  async #run(): Promise<void> {
    const { store, logger, backoff, events } = this.#options;
    const signal = this.#stop.signal;
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
          if (this.#link === null) return;
        }
        if (this.#lastSeq === null) await this.#resync();
        ahead = await this.#next(ahead);
        failures = 0;
      } catch (error) {
        ahead = null;
        if (signal.aborted) break;
        if (isFatalStoreError(error) || error instanceof ConfigError) {
          this.#gate.fail(error); // the outbox cannot be used, or the stream is wrong: ingest stops
          throw error;
        }
        this.#lastSeq = null; // read the stream's end again before going on
        const delayMs = backoffDelay(++failures, backoff);
        events?.failed(error instanceof PublishRefusedError ? `api_${error.code}` : causeOf(error));
        logger.warn(
          "The relay could not publish (attempt {attempt}): {error}; going on from the stream's end in {delayMs} ms",
          { attempt: failures, error: errorLine(error), delayMs },
        );
        await this.#gate.countingWhile(sleep(delayMs, signal));
      }
    }
  }

  /** Publish the next batch (read ahead when the last one was full); the read of the one after. */
  async #next(ahead: Ahead | null): Promise<Ahead | null> {
    const { store } = this.#options;
    const batch = this.#options.batch ?? 2000;
    const rows = ahead?.after === this.#cursor
      ? await ahead.rows
      : await store.outboxAfter(this.#cursor, batch);
    if (rows.length === 0) {
      if (this.#gate.rows > 0) await this.#gate.count(this.#cursor); // none left: count exactly
      await this.#sleep(this.#options.pollMs ?? 1000);
      return null;
    }
    let next: Ahead | null = null;
    if (rows.length === batch) {
      // More may wait: read them while these are published (a server store answers meanwhile).
      // Used only if this batch is published whole.
      const after = (rows.at(-1) as OutboxRow).eventId;
      next = { after, rows: store.outboxAfter(after, batch) };
      next.rows.catch(() => {}); // read again if it failed
    }
    await this.#publish(rows);
    return next;
  }

  /**
   * Read where the stream ends and go on after it: the chain's next expected sequence, and the
   * cursor past every EventId the stream already holds (published before a crash, or a publish
   * that timed out but was stored). Those rows are pruned.
   */
  async #resync(): Promise<void> {
    const link = this.#link;
    if (link === null) return;
    const end = await streamEnd(link);
    this.#lastSeq = end.lastSeq;
    this.#options.events?.resynced();
    if (end.lastEventId > this.#cursor) {
      this.#options.logger.info(
        "The stream already holds events up to {eventId}: the relay goes on after it",
        { eventId: end.lastEventId },
      );
      await this.#options.store.commitRelay(end.lastEventId);
      this.#cursor = end.lastEventId;
      await this.#gate.count(this.#cursor);
    }
  }

  /**
   * Publish `rows` with at most `window` in flight, each expecting the previous one's
   * sequence. Stops at the first failure; commits the acknowledged prefix either way.
   */
  async #publish(rows: readonly OutboxRow[]): Promise<void> {
    const link = this.#link;
    if (link === null || this.#lastSeq === null) return;
    const window = this.#options.window ?? 2048;
    const timeout = this.#options.publishTimeoutMs ?? 5000;
    const base = this.#lastSeq;
    const inFlight: Promise<Ack>[] = [];
    const send = (i: number) => {
      const row = rows[i] as OutboxRow;
      const ack = link.publisher.publish(
        row.subject,
        row.body,
        messageId(row.eventId),
        base + i,
        timeout,
      );
      ack.catch(() => {}); // settled below, in order
      inFlight[i] = ack;
    };
    let sent = 0;
    while (sent < Math.min(window, rows.length)) send(sent++);
    let acked = 0;
    let duplicates = 0;
    let failure: unknown = null;
    for (; acked < rows.length; acked++) {
      let ack: Ack;
      try {
        ack = await (inFlight[acked] as Promise<Ack>);
      } catch (error) {
        failure = error;
        break;
      }
      if (ack.duplicate) duplicates++;
      // A duplicate the stream holds at another place: the chain after it no longer holds.
      this.#lastSeq = ack.seq === base + acked + 1 ? ack.seq : null;
      if (this.#lastSeq === null) {
        acked++;
        break;
      }
      if (sent < rows.length) send(sent++);
    }
    await Promise.allSettled(inFlight.slice(acked));
    if (acked > 0) await this.#acknowledged(rows.slice(0, acked), duplicates);
    if (failure instanceof PublishRefusedError && failure.code === WRONG_LAST_SEQUENCE) {
      this.#options.logger.info(
        "The stream's last sequence is not the one expected ({error}): reading its end again",
        { error: errorLine(failure) },
      );
      this.#lastSeq = null;
    } else if (failure !== null) {
      throw failure;
    }
  }

  /** The broker acknowledged `rows`: commit the cursor past them (pruning the outbox). */
  async #acknowledged(rows: readonly OutboxRow[], duplicates: number): Promise<void> {
    this.#options.events?.published(rows.length, duplicates);
    const eventId = (rows.at(-1) as OutboxRow).eventId;
    await this.#options.store.commitRelay(eventId);
    this.#cursor = Math.max(this.#cursor, eventId);
    const settled = await this.#gate.published(rows.length, this.#cursor);
    this.#options.logger.debug(
      "Published {count} events up to {eventId} ({duplicates} duplicates)",
      { count: rows.length, eventId, duplicates, commitToAckMs: settled.map(hundredths) },
    );
  }

  /** Sleep until woken by a commit, `ms` pass, or the relay stops. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }
}

/** Milliseconds to two decimals, for a log line. */
function hundredths(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/** A short label for a failure's cause, for the error metric. */
function causeOf(error: unknown): string {
  const name = (error as Error)?.name ?? "";
  if (/Timeout/i.test(name) || /timeout/i.test((error as Error)?.message ?? "")) return "timeout";
  if (/Closed|Connection/i.test(name)) return "connection";
  return "other";
}
