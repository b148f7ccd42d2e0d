/**
 * The relay (docs/rules.md §7): publishes the outbox's events to the stream in EventId order,
 * many in flight, each with `Nats-Msg-Id: scan-event-<EventId>` and chained on
 * `Nats-Expected-Last-Sequence`; advances its cursor only over the acknowledged prefix, commits
 * it and prunes what it covers. So no EventId reaches the stream twice, none is skipped, across
 * broker restarts, the duplicate window, and kill -9 of the worker.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { messageId, type OutboxRow } from "../domain/message.ts";
import { backoffDelay, type BackoffPolicy, sleep } from "../retry.ts";
import { epochMs } from "../domain/timestamps.ts";
import { isFatalStoreError, type OutboxStore, type PageWrite } from "../store/store.ts";
import { tracePublish } from "../telemetry/mod.ts";
import { describe, type NatsLink, streamEnd } from "./nats.ts";
import { type Ack, PublishRefusedError, WRONG_LAST_SEQUENCE } from "./publisher.ts";

/** What the relay reports as it goes (metrics, health). */
export interface RelayEvents {
  /** Rows wait in the outbox; the oldest has waited `lagSeconds` (0 when none). */
  backlog(rows: number, lagSeconds: number): void;
  /** Events the stream acknowledged: `duplicates` of them it already held. */
  published(count: number, duplicates: number): void;
  /** Seconds from a page's commit to the broker's ack of its last event. */
  committedToAcked(seconds: number): void;
  /** The relay read the stream's end to find where to go on. */
  resynced(): void;
  /** A publish or a store call failed (`cause` a short label). */
  failed(cause: string): void;
  /** Ingest waits for the relay (the outbox is full), or goes on again. */
  paused(paused: boolean): void;
}

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
  /** Metrics and health hooks. */
  readonly events?: RelayEvents;
}

/** How often, at most, the relay counts the outbox while publishing. */
const RECOUNT_MS = 10_000;

/** A page committed and not yet fully published: when, and its last EventId. */
interface Committed {
  readonly to: number;
  readonly atMs: number;
}

/**
 * The relay, in the ingest loop's process. Started when this instance holds the feed lock,
 * woken after each page commits, stopped at the end.
 */
export class Relay {
  readonly #options: RelayOptions;
  readonly #stop = new AbortController();
  #running: Promise<void> | null = null;
  #link: NatsLink | null = null;
  /** The stream's last sequence as the chain expects it, once synced with the stream. */
  #lastSeq: number | null = null;
  #cursor = 0;
  #rows = 0;
  /** Rows the pages committed so far added to the outbox. */
  #added = 0;
  /** When the outbox was last counted (performance.now), and its oldest row's time then. */
  #countedAt = 0;
  #oldestMs: number | null = null;
  #failures = 0;
  #paused = false;
  #fatal: unknown = null;
  #wake: (() => void) | null = null;
  #roomWaiters: (() => void)[] = [];
  #idleWaiters: (() => void)[] = [];
  readonly #committed: Committed[] = [];

  /** @param options the outbox, the broker, limits and hooks. */
  constructor(options: RelayOptions) {
    this.#options = options;
  }

  /** Start publishing (once). */
  start(): void {
    this.#running ??= this.#run().catch((error) => {
      this.#options.logger.error("The relay stopped: {error}", { error: describe(error) });
    });
  }

  /** A page was committed: its accepted events wait in the outbox. */
  committed(write: PageWrite, to: number): void {
    if (write.outboxed === 0) return;
    this.#rows += write.outboxed;
    this.#added += write.outboxed;
    this.#committed.push({ to, atMs: performance.now() });
    this.#wake?.();
  }

  /**
   * Resolves true when ingest may write the next page: fewer than `OUTBOX_MAX_ROWS` rows wait
   * in the outbox (never dropped: ingest waits instead). False when `signal` aborts first.
   */
  async room(signal: AbortSignal): Promise<boolean> {
    if (this.#fatal !== null) throw this.#fatal;
    if (this.#rows < this.#options.maxRows) return true;
    if (!this.#paused) {
      this.#paused = true;
      this.#options.events?.paused(true);
      this.#options.logger.warn(
        "The outbox is full ({rows} rows, OUTBOX_MAX_ROWS {maxRows}): ingest waits for the relay",
        { rows: this.#rows, maxRows: this.#options.maxRows },
      );
    }
    while (this.#rows >= this.#options.maxRows && !signal.aborted && this.#fatal === null) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal.removeEventListener("abort", wake);
          resolve();
        };
        this.#roomWaiters.push(wake);
        signal.addEventListener("abort", wake, { once: true });
      });
    }
    if (this.#fatal !== null) throw this.#fatal;
    return !signal.aborted;
  }

  /** Resolves once everything committed so far is published (for `run --drain`). */
  idle(): Promise<void> {
    if (this.#rows === 0 && this.#committed.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
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
    const { store, logger } = this.#options;
    const signal = this.#stop.signal;
    let started = false;
    // The next batch, read while the current one is published: [its cursor, its rows].
    let ahead: [number, Promise<OutboxRow[]>] | null = null;
    while (!signal.aborted) {
      try {
        if (this.#link === null) {
          this.#link = await this.#options.connect(signal);
          if (this.#link === null) return;
        }
        if (!started) {
          this.#cursor = await store.readRelayCursor();
          await this.#refreshBacklog();
          started = true;
        }
        if (this.#lastSeq === null) await this.#resync();
        const batch = this.#options.batch ?? 2000;
        const rows: OutboxRow[] = ahead?.[0] === this.#cursor
          ? await ahead[1]
          : await store.outboxAfter(this.#cursor, batch);
        ahead = null;
        if (rows.length === 0) {
          if (this.#rows > 0) await this.#refreshBacklog(); // nothing left: count it exactly
          this.#settleIdle();
          await this.#sleep(this.#options.pollMs ?? 1000);
          continue;
        }
        if (rows.length === batch) {
          // More may wait: read them while these are published (a server store answers
          // meanwhile). Used only if this batch is published whole.
          const last: number = (rows.at(-1) as OutboxRow).eventId;
          ahead = [last, store.outboxAfter(last, batch)];
          ahead[1].catch(() => {}); // read again if it failed
        }
        const link = this.#link;
        await tracePublish(
          link.stream,
          rows.map((row) => row.traceparent),
          () => this.#publish(rows),
        );
        this.#failures = 0;
      } catch (error) {
        ahead = null;
        if (signal.aborted) break;
        if (isFatalStoreError(error)) {
          // The outbox cannot be read or written: ingest stops too (see room()).
          this.#fatal = error;
          for (const resolve of this.#roomWaiters.splice(0)) resolve();
          throw error;
        }
        this.#lastSeq = null; // read the stream's end again before going on
        const delayMs = backoffDelay(++this.#failures, this.#options.backoff);
        const cause = error instanceof PublishRefusedError ? `api_${error.code}` : causeOf(error);
        this.#options.events?.failed(cause);
        logger.warn(
          "The relay could not publish (attempt {attempt}): {error}; going on from the stream's end in {delayMs} ms",
          { attempt: this.#failures, error: describe(error), delayMs },
        );
        await sleep(delayMs, signal);
      }
    }
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
      await this.#commit(end.lastEventId);
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
        row.traceparent,
      );
      ack.catch(() => {}); // settled below, in order
      inFlight[i] = ack;
    };
    let sent = 0;
    while (sent < Math.min(window, rows.length)) send(sent++);
    let acked = 0;
    let duplicates = 0;
    let failure: unknown = null;
    for (let i = 0; i < rows.length; i++) {
      let ack: Ack;
      try {
        ack = await (inFlight[i] as Promise<Ack>);
      } catch (error) {
        failure = error;
        break;
      }
      acked = i + 1;
      if (ack.duplicate) duplicates++;
      if (ack.seq !== base + i + 1) {
        // A duplicate the stream holds at another place: the chain after it no longer holds.
        this.#lastSeq = null;
        break;
      }
      this.#lastSeq = ack.seq;
      if (sent < rows.length) send(sent++);
    }
    await Promise.allSettled(inFlight.slice(acked));
    if (acked > 0) await this.#acknowledged(rows.slice(0, acked), duplicates);
    if (failure !== null) {
      if (failure instanceof PublishRefusedError && failure.code === WRONG_LAST_SEQUENCE) {
        this.#options.logger.info(
          "The stream's last sequence is not the one expected ({error}): reading its end again",
          { error: describe(failure) },
        );
        this.#lastSeq = null;
        return;
      }
      throw failure;
    }
  }

  /** The broker acknowledged `rows`: commit the cursor past them and say so. */
  async #acknowledged(rows: readonly OutboxRow[], duplicates: number): Promise<void> {
    this.#options.events?.published(rows.length, duplicates);
    const eventId = (rows.at(-1) as OutboxRow).eventId;
    const commitToAckMs = await this.#commit(eventId, rows.length);
    this.#options.logger.debug(
      "Published {count} events up to {eventId} ({duplicates} duplicates)",
      { count: rows.length, eventId, duplicates, commitToAckMs },
    );
  }

  /**
   * Commit the cursor up to `eventId` (pruning the outbox) and update the counts: `published`
   * rows fewer, or, after a resync (which may prune any number), counted again. Returns the
   * milliseconds from commit to ack of each page this completes.
   */
  async #commit(eventId: number, published?: number): Promise<number[]> {
    await this.#options.store.commitRelay(eventId);
    this.#cursor = Math.max(this.#cursor, eventId);
    const now = performance.now();
    const settled: number[] = [];
    while ((this.#committed[0]?.to ?? Infinity) <= this.#cursor) {
      const page = this.#committed.shift() as Committed;
      const ms = now - page.atMs;
      settled.push(Math.round(ms * 100) / 100);
      this.#options.events?.committedToAcked(ms / 1000);
    }
    if (published === undefined || now - this.#countedAt >= RECOUNT_MS) {
      await this.#refreshBacklog();
    } else {
      this.#rows = Math.max(0, this.#rows - published);
      this.#backlogChanged();
    }
    return settled;
  }

  /**
   * Count the outbox again (at start, after a resync, and at most every 10 s while publishing:
   * counting is a scan of the backlog, too slow to repeat for every batch of a large one); in
   * between, the count follows the pages committed and the rows published.
   */
  async #refreshBacklog(): Promise<void> {
    // Pages committed while counting may or may not be in the count: add them, as counting
    // too many only delays (the next count corrects it) while too few could end a drain early.
    const added = this.#added;
    const backlog = await this.#options.store.outboxBacklog();
    this.#countedAt = performance.now();
    this.#rows = backlog.rows + (this.#added - added);
    this.#oldestMs = backlog.oldestUtc === null ? null : epochMs(backlog.oldestUtc);
    this.#backlogChanged();
  }

  /**
   * Report the backlog and its lag (the oldest waiting page's commit, or the oldest row as last
   * counted when it predates this process), and let ingest go on when there is room.
   */
  #backlogChanged(): void {
    const oldest = this.#committed[0];
    const lag = this.#rows === 0
      ? 0
      : oldest !== undefined
      ? (performance.now() - oldest.atMs) / 1000
      : this.#oldestMs === null
      ? 0
      : (Date.now() - this.#oldestMs) / 1000;
    this.#options.events?.backlog(this.#rows, Math.max(0, lag));
    if (this.#rows < this.#options.maxRows) {
      if (this.#paused) {
        this.#paused = false;
        this.#options.events?.paused(false);
        this.#options.logger.info("The outbox has room again ({rows} rows): ingest goes on", {
          rows: this.#rows,
        });
      }
      for (const resolve of this.#roomWaiters.splice(0)) resolve();
    }
    if (this.#rows === 0) this.#settleIdle();
  }

  #settleIdle(): void {
    if (this.#rows === 0) {
      this.#committed.length = 0;
      for (const resolve of this.#idleWaiters.splice(0)) resolve();
    }
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

/** A short label for a failure's cause, for the error metric. */
function causeOf(error: unknown): string {
  const name = (error as Error)?.name ?? "";
  if (/Timeout/i.test(name) || /timeout/i.test((error as Error)?.message ?? "")) return "timeout";
  if (/Closed|Connection/i.test(name)) return "connection";
  return "other";
}
