/**
 * The outbox's backlog, and the gate it makes between ingest and the relay: how many rows wait
 * and for how long (the gauges), when ingest pauses (`OUTBOX_MAX_ROWS` rows wait: never dropped,
 * ingest waits instead) and when `run --drain` may end (everything committed is published).
 * One place answers "when does ingest pause, and when does --drain end".
 *
 * The count follows the pages committed and the rows published, and is read again from the
 * database now and then ({@link Backlog.count}): at start, before the broker answers, and while
 * the broker is away, so the gauges stay true during an outage.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { epochMs } from "../domain/timestamps.ts";
import type { OutboxStore, PageWrite } from "../store/store.ts";
import type { PageGate } from "../worker/gate.ts";

/** What the relay reports as it goes (metrics, health). */
export interface RelayEvents {
  /** Rows wait in the outbox; the oldest has waited `lagSeconds` (0 when none). */
  backlog(rows: number, lagSeconds: number): void;
  /**
   * `count` events published (acknowledged, or found on the stream when the relay read its end);
   * `duplicates` batches whose last message the stream already held.
   */
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

/**
 * How often, at most, the outbox is counted from the database while the relay publishes
 * (counting is a scan of the backlog, too slow to repeat for every batch of a large one), and
 * how often while the broker is away (nothing is published then to follow the count by).
 */
const COUNT_EVERY_MS = 10_000;

/** A page committed and not yet fully published: its last outbox position, and when (performance.now). */
interface PendingPage {
  readonly to: number;
  readonly atMs: number;
}

/**
 * The rows waiting in the outbox and the age of the oldest: counted from the database, and
 * followed in between from the pages committed and the rows published.
 */
export class Backlog {
  readonly #store: Pick<OutboxStore, "outboxBacklog">;
  #rows = 0;
  /** Rows the pages committed so far added (to correct a count that ran meanwhile). */
  #added = 0;
  /** When the outbox was last counted (performance.now), -Infinity before the first count. */
  #countedAt = -Infinity;
  /** The oldest row's write time (epoch ms) at the last count, and whether none was published since. */
  #oldestMs: number | null = null;
  #oldestCurrent = false;
  readonly #pages: PendingPage[] = [];

  /** @param store where the outbox is counted. */
  constructor(store: Pick<OutboxStore, "outboxBacklog">) {
    this.#store = store;
  }

  /** Rows waiting, as last counted or followed. */
  get rows(): number {
    return this.#rows;
  }

  /** Milliseconds since the last count from the database (Infinity before the first). */
  get sinceCountMs(): number {
    return performance.now() - this.#countedAt;
  }

  /**
   * Let what was counted and followed go (this instance lost the feed lock: another instance's
   * relay moves the outbox meanwhile): ingest waits for a new count again.
   */
  forget(): void {
    this.#countedAt = -Infinity;
    this.#pages.length = 0;
  }

  /** A page committed `rows` rows up to outbox position `to`. */
  added(rows: number, to: number): void {
    this.#rows += rows;
    this.#added += rows;
    this.#pages.push({ to, atMs: performance.now() });
  }

  /**
   * `rows` rows were published and the relay's cursor is now `cursor`: the milliseconds from
   * commit to ack of each page this completes.
   */
  published(rows: number, cursor: number): number[] {
    this.#rows = Math.max(0, this.#rows - rows);
    this.#oldestCurrent = false;
    return this.#settle(cursor);
  }

  /**
   * Count the outbox in the database (a scan of the backlog: at start, after a resync, when
   * nothing is left, and now and then). Pages committed while counting may or may not be in the
   * count: they are added, as counting too many only delays (the next count corrects it) while
   * too few could end a drain early. `cursor`, when given, settles the pages it covers: their
   * commit-to-ack milliseconds.
   */
  async count(cursor?: number): Promise<number[]> {
    const added = this.#added;
    const backlog = await this.#store.outboxBacklog();
    this.#countedAt = performance.now();
    this.#rows = backlog.rows + (this.#added - added);
    this.#oldestMs = backlog.oldestUtc === null ? null : epochMs(backlog.oldestUtc);
    this.#oldestCurrent = true;
    const settled = cursor === undefined ? [] : this.#settle(cursor);
    if (this.#rows === 0) this.#pages.length = 0;
    return settled;
  }

  /**
   * Seconds the oldest waiting row has waited: the oldest of the first page committed here and
   * not yet published, and the oldest row the last count found (until a publish since then may
   * have taken it). 0 when nothing waits.
   */
  lagSeconds(): number {
    if (this.#rows === 0) return 0;
    const page = this.#pages[0];
    const pageMs = page === undefined ? 0 : performance.now() - page.atMs;
    const countedMs = this.#oldestMs === null ? 0 : Date.now() - this.#oldestMs;
    const useCount = this.#oldestCurrent || page === undefined;
    return Math.max(0, useCount ? Math.max(pageMs, countedMs) : pageMs) / 1000;
  }

  /** Drop the pages the cursor covers; their commit-to-ack milliseconds. */
  #settle(cursor: number): number[] {
    const now = performance.now();
    const settled: number[] = [];
    while ((this.#pages[0]?.to ?? Infinity) <= cursor) {
      settled.push(now - (this.#pages.shift() as PendingPage).atMs);
    }
    return settled;
  }
}

/** What the gate needs. */
export interface OutboxGateOptions {
  /** The backlog it reads. */
  readonly backlog: Backlog;
  /** How often, at most, the backlog is counted from the database (10 000 ms). */
  readonly countEveryMs?: number;
  /** `OUTBOX_MAX_ROWS`: ingest waits while this many rows wait in the outbox. */
  readonly maxRows: number;
  /**
   * While the relay publishes, ingest waits once this many rows wait (at most `maxRows`): a
   * page waits for no more than that ahead of it. Unset: `maxRows` always.
   */
  readonly paceRows?: number;
  /** Starts the relay (this instance became active). */
  readonly start: () => void;
  /** Stops the relay until started again (this instance lost the feed lock). */
  readonly pause: () => Promise<void>;
  /** A page committed rows: the relay keeps them ({@link PageWrite.rows}) and wakes. */
  readonly committed: (write: PageWrite) => void;
  /** Where it logs. */
  readonly logger: Logger;
  /** The gauges and the pause flag. */
  readonly events?: Pick<RelayEvents, "backlog" | "paused" | "committedToAcked">;
}

/**
 * The loop's {@link PageGate} when the relay runs: room while fewer than `OUTBOX_MAX_ROWS` rows
 * wait — and, while the relay publishes, fewer than `paceRows`, so that ingest keeps pace with
 * the broker instead of piling up a backlog every page then waits behind — drained when none
 * waits; a relay that stopped for good (a configuration or permanent database error) stops
 * ingest with its error.
 */
export class OutboxGate implements PageGate {
  readonly #options: OutboxGateOptions;
  #paused = false;
  /** Whether the relay publishes (its last batch was acknowledged): ingest is paced then. */
  #publishing = false;
  #failure: { readonly error: unknown } | null = null;
  /** Waiters for a change of the backlog (room, drained) or a failure. */
  readonly #waiters = new Set<() => void>();

  /** @param options the backlog, the limit, the relay's start and wake, logging and hooks. */
  constructor(options: OutboxGateOptions) {
    this.#options = options;
  }

  /**
   * This instance became active: the relay starts. It lost the feed lock: the relay stops, and
   * the backlog is counted again once it starts (another instance's relay moves it meanwhile).
   */
  async active(held: boolean): Promise<void> {
    if (held) return this.#options.start();
    await this.#options.pause();
    this.#options.backlog.forget();
  }

  /** A page committed: its accepted events wait in the outbox, and the relay wakes. */
  pageCommitted(write: PageWrite, checkpoint: number): void {
    if (write.outboxed === 0) return;
    // The relay's cursor is an outbox position: the page is settled once it passes the page's last row.
    this.#options.backlog.added(write.outboxed, write.lastSeq ?? checkpoint);
    this.changed();
    this.#options.committed(write);
  }

  /**
   * Resolves true when ingest may write the next page: the outbox was counted, and fewer than
   * `OUTBOX_MAX_ROWS` rows wait (never dropped: ingest waits instead). False when `signal`
   * aborts first.
   * @throws the relay's error once it stopped for good.
   */
  async waitForRoom(signal: AbortSignal): Promise<boolean> {
    const { backlog, maxRows, logger, events } = this.#options;
    const counted = () => Number.isFinite(backlog.sinceCountMs);
    // Not before the relay has counted the outbox once: rows left by an earlier run count too.
    await this.#until(counted, signal);
    if (signal.aborted) return false;
    if (backlog.rows >= maxRows && !this.#paused) {
      this.#paused = true;
      events?.paused(true);
      logger.warn(
        "The outbox is full ({rows} rows, OUTBOX_MAX_ROWS {maxRows}): ingest waits for the relay",
        { rows: backlog.rows, maxRows },
      );
    }
    await this.#until(() => backlog.rows < this.#room(), signal);
    return !signal.aborted;
  }

  /** The relay publishes (a batch was acknowledged), or cannot (a failure, the broker away). */
  publishing(up: boolean): void {
    if (this.#publishing === up) return;
    this.#publishing = up;
    this.#wakeWaiters();
  }

  /** How many rows may wait before ingest waits: paced while the relay publishes. */
  #room(): number {
    const { maxRows, paceRows } = this.#options;
    return this.#publishing && paceRows !== undefined ? Math.min(maxRows, paceRows) : maxRows;
  }

  /**
   * Resolves once everything committed is published (`run --drain`), or when `signal` aborts.
   * @throws the relay's error once it stopped for good.
   */
  async drained(signal: AbortSignal): Promise<void> {
    const { backlog, logger } = this.#options;
    if (backlog.rows !== 0 && this.#failure === null) {
      logger.info("Caught up; waiting for the relay to publish what is committed ({rows} rows)", {
        rows: backlog.rows,
      });
    }
    // Not before the relay has counted the outbox once: rows left by an earlier run count too.
    await this.#until(() => Number.isFinite(backlog.sinceCountMs) && backlog.rows === 0, signal);
  }

  /** Rows waiting, as last counted or followed. */
  get rows(): number {
    return this.#options.backlog.rows;
  }

  /**
   * Count the backlog from the database and say so; the commit-to-ack milliseconds of the pages
   * `cursor` covers.
   */
  async count(cursor: number): Promise<number[]> {
    const settled = await this.#options.backlog.count(cursor);
    this.changed(settled);
    return settled;
  }

  /**
   * `rows` rows were published up to `cursor`: follow the backlog, or count it again when the
   * last count is older than `countEveryMs`. The commit-to-ack milliseconds of the pages this
   * completes.
   */
  async published(rows: number, cursor: number): Promise<number[]> {
    const { backlog, countEveryMs = COUNT_EVERY_MS } = this.#options;
    if (backlog.sinceCountMs >= countEveryMs) return await this.count(cursor);
    const settled = backlog.published(rows, cursor);
    this.changed(settled);
    return settled;
  }

  /**
   * Wait for `work` (the relay connecting, or waiting after a failure), counting the backlog
   * from the database meanwhile whenever the last count is `countEveryMs` old: the gauges stay
   * true while the broker is away. A failed count is left to the next one.
   */
  async countingWhile<T>(work: Promise<T>): Promise<T> {
    const { backlog, countEveryMs = COUNT_EVERY_MS, logger } = this.#options;
    let settled = false;
    const done = work.finally(() => settled = true);
    const finished = done.then(() => false, () => false);
    while (!settled) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const due = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), Math.max(0, countEveryMs - backlog.sinceCountMs));
      });
      const counting = await Promise.race([finished, due]);
      clearTimeout(timer);
      if (!counting || settled) continue;
      await backlog.count().then(
        (pagesMs) => this.changed(pagesMs),
        (error: Error) =>
          logger.debug("Counting the outbox failed: {error}", { error: error.message }),
      );
    }
    return await done;
  }

  /** The relay stopped for good with `error`: ingest stops with it. */
  fail(error: unknown): void {
    this.#failure ??= { error };
    this.#wakeWaiters();
  }

  /**
   * The backlog changed (counted, published, a page committed): report it, say when ingest goes
   * on again, and wake whoever waits for room or for the drain.
   */
  changed(completedPagesMs: readonly number[] = []): void {
    const { backlog, maxRows, logger, events } = this.#options;
    for (const ms of completedPagesMs) events?.committedToAcked(ms / 1000);
    events?.backlog(backlog.rows, backlog.lagSeconds());
    if (this.#paused && backlog.rows < maxRows) {
      this.#paused = false;
      events?.paused(false);
      logger.info("The outbox has room again ({rows} rows): ingest goes on", {
        rows: backlog.rows,
      });
    }
    this.#wakeWaiters();
  }

  /** Wait until `done()` holds, `signal` aborts, or the relay failed (then throw its error). */
  async #until(done: () => boolean, signal: AbortSignal): Promise<void> {
    while (!done() && !signal.aborted && this.#failure === null) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.#waiters.delete(wake);
          signal.removeEventListener("abort", wake);
          resolve();
        };
        this.#waiters.add(wake);
        signal.addEventListener("abort", wake, { once: true });
      });
    }
    if (this.#failure !== null) throw this.#failure.error;
  }

  #wakeWaiters(): void {
    for (const wake of [...this.#waiters]) wake();
  }
}
