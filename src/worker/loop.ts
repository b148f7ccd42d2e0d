/**
 * The worker loop: read the checkpoint, fetch `checkpoint + 1`, project, write the page in one
 * transaction, repeat. A full page goes straight on; a short or empty page waits the poll
 * interval. Shutdown stops new requests and lets the page in flight commit or roll back.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { setImmediate } from "node:timers";
import { FetchAbortedError, type FetchedPage } from "../api/client.ts";
import { pageEnd, type PageResult, projectPage } from "../domain/project.ts";
import type { Step, WorkerEvents } from "../ops/monitor.ts";
import { type FeedLock, isFatalStoreError, type Store } from "../store/store.ts";
import { backoffDelay, type BackoffPolicy, sleep } from "./backoff.ts";

/** Something that fetches pages: the API client, or a fake in tests. */
export interface PageSource {
  /** Fetch the page starting at `from` (inclusive); throws FetchAbortedError on abort. */
  fetchPage(from: number, signal: AbortSignal): Promise<FetchedPage>;
}

/** What the loop needs. */
export interface LoopOptions {
  /** Where pages are written. */
  readonly store: Store;
  /** Where pages come from. */
  readonly source: PageSource;
  /** The `Limit` asked for: a page this long means more is waiting. */
  readonly limit: number;
  /** Wait after a short or empty page. */
  readonly pollIntervalMs: number;
  /** Stop with "drained" at the first empty page. */
  readonly drain: boolean;
  /** Aborts on shutdown. */
  readonly signal: AbortSignal;
  /** Retry spacing after a store error. */
  readonly backoff: BackoffPolicy;
  /** How often a standby retries the feed lock, and the active one checks it still holds it. */
  readonly lockRetryMs: number;
  /** Where the loop logs. */
  readonly logger: Logger;
  /** Metrics and health hooks. */
  readonly events?: WorkerEvents;
  /** While catching up, one progress line at info this often (per-page lines are debug). */
  readonly progressIntervalMs?: number;
}

/** How the loop ended, and what it did. */
export interface LoopSummary {
  /** "drained" (caught up with --drain) or "stopped" (signal). */
  readonly reason: "drained" | "stopped";
  /** The checkpoint at the end. */
  readonly checkpoint: number;
  /** Pages written. */
  readonly pages: number;
  /** Valid events applied. */
  readonly applied: number;
  /** Events rejected. */
  readonly rejected: number;
}

/**
 * Holds the feed lock for the loop: takes it (standing by while another instance has it),
 * checks now and then that it is still held, and gives it up at the end.
 */
class LockKeeper {
  #lock: FeedLock | null = null;
  #checkedAt = 0;
  readonly #options: LoopOptions;

  constructor(options: LoopOptions) {
    this.#options = options;
  }

  /**
   * Resolve true once this instance holds the feed lock (false if the signal aborts first).
   * `gained` is called after the lock is (re)taken, before any page is fetched.
   */
  async ensure(gained: () => Promise<void>): Promise<boolean> {
    const { store, signal, logger, lockRetryMs } = this.#options;
    if (this.#lock !== null) {
      if (performance.now() - this.#checkedAt < lockRetryMs) return true;
      if (await this.#lock.held()) {
        this.#checkedAt = performance.now();
        return true;
      }
      logger.error(
        "Lost the feed lock (its database session ended); taking it again before going on",
      );
      await this.#lock.release().catch(() => {});
      this.#lock = null;
    }
    let waiting = false;
    while (!signal.aborted) {
      try {
        this.#lock = await store.tryLockFeed();
      } catch (error) {
        if (isFatalStoreError(error)) throw error;
        logger.error("Could not ask for the feed lock: {error}; retrying in {lockRetryMs} ms", {
          error: String(error),
          lockRetryMs,
        });
      }
      if (this.#lock !== null) {
        this.#checkedAt = performance.now();
        this.#options.events?.lock(true);
        logger.info("Holding the feed lock: this instance is active");
        await gained();
        return true;
      }
      this.#options.events?.step("standby");
      if (!waiting) {
        logger.info(
          "Another instance holds the feed lock: standing by, retrying every {lockRetryMs} ms",
          { lockRetryMs },
        );
        waiting = true;
      }
      if (!await sleep(lockRetryMs, signal)) return false;
    }
    return false;
  }

  /** Give the lock up, if held. */
  async release(): Promise<void> {
    if (this.#lock !== null) this.#options.events?.lock(false);
    await this.#lock?.release().catch(() => {});
    this.#lock = null;
  }
}

/**
 * Event-loop turns that get a new request onto the wire in Deno 2.9 (measured: one is not
 * enough, two are; without them the request waits for the next page's write to finish, and
 * the API's time adds to the worker's instead of overlapping it). Each turn costs microseconds.
 */
const REQUEST_TURNS = 4;

/** Resolve after `turns` turns of the event loop, in which pending I/O is driven. */
async function turnEventLoop(turns: number): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** A fetched page and its projection. */
interface Projected {
  readonly page: FetchedPage;
  readonly result: PageResult;
  /** Milliseconds the projection took. */
  readonly projectMs: number;
}

/** A page being fetched (and projected), and the one asked for after it. */
interface InFlight {
  /** The `FromEventId` asked for. */
  readonly from: number;
  /** The page and its projection onto `from - 1`. */
  readonly projected: Promise<Projected>;
  /** The following page, once asked for. */
  next: InFlight | null;
  /** The loop holds this page now: the next one may be asked for. */
  take(): void;
  /** Abort this fetch and the ones after it; resolves once they have settled. */
  cancel(): Promise<void>;
}

/** Counts since the last progress line. */
interface Progress {
  since: number;
  pages: number;
  applied: number;
  rejected: number;
}

/**
 * Run the loop until the signal aborts, or with `drain` until the feed is caught up.
 * Store errors are logged and the page is retried whole from a re-read checkpoint; fatal ones
 * (a missing or edited schema, an unsupported database, a permanent database error) end the
 * loop by throwing.
 */
export async function runLoop(options: LoopOptions): Promise<LoopSummary> {
  const { store, source, limit, pollIntervalMs, drain, signal, logger } = options;
  const events = options.events;
  const progressIntervalMs = options.progressIntervalMs ?? 10_000;
  const totals = { pages: 0, applied: 0, rejected: 0 };
  let failures = 0;
  let checkpoint = await store.readCheckpoint();
  let progress: Progress = { since: performance.now(), pages: 0, applied: 0, rejected: 0 };
  const lock = new LockKeeper(options);
  const step = (name: Step) => events?.step(name);

  const gained = async () => {
    checkpoint = await store.readCheckpoint();
    events?.checkpoint(checkpoint);
    logger.info("Starting at checkpoint {checkpoint}", { checkpoint });
  };

  /** The progress line: what was applied since the last one. */
  const reportProgress = (caughtUp: boolean) => {
    if (progress.pages === 0) return;
    const seconds = (performance.now() - progress.since) / 1000;
    const fields = {
      checkpoint,
      pages: progress.pages,
      applied: progress.applied,
      rejected: progress.rejected,
      seconds: Math.round(seconds * 10) / 10,
      eventsPerSecond: Math.round(
        (progress.applied + progress.rejected) / Math.max(seconds, 0.001),
      ),
    };
    if (caughtUp) {
      logger.info(
        "Caught up at checkpoint {checkpoint}: {applied} events applied, {rejected} rejected in {pages} pages ({eventsPerSecond}/s)",
        fields,
      );
    } else {
      logger.info(
        "Catching up: checkpoint {checkpoint}, {eventsPerSecond} events/s, {pages} pages, {rejected} rejected in the last {seconds} s",
        fields,
      );
    }
    progress = { since: performance.now(), pages: 0, applied: 0, rejected: 0 };
  };

  const summary = (reason: LoopSummary["reason"]): LoopSummary => ({
    reason,
    checkpoint,
    ...totals,
  });

  /**
   * Start fetching the page at `from`. Fetching `checkpoint + 1` means projecting from
   * `checkpoint`, so the page is projected as soon as its body is parsed. A full page means
   * more is waiting: once the loop has taken this page, the next one is asked for as soon as
   * this one's last EventId is known, before it is projected and written. So the simulator or
   * API prepares page N+1 while the worker projects and writes page N, and at most one page
   * waits ahead of the one the loop holds.
   */
  const startFetch = (from: number): InFlight => {
    const controller = new AbortController();
    let nextFrom: number | null = null;
    let taken = false;
    let cancelled = false;
    const startNext = () => {
      if (taken && nextFrom !== null && entry.next === null && !cancelled && !signal.aborted) {
        entry.next = startFetch(nextFrom);
      }
    };
    const entry: InFlight = {
      from,
      next: null,
      projected: source.fetchPage(from, AbortSignal.any([signal, controller.signal])).then(
        async (page) => {
          if (page.events.length >= limit) {
            const end = pageEnd(from - 1, page.events);
            if (end > from - 1) nextFrom = end + 1;
            startNext();
            // The runtime sends a request only while its event loop turns: let it turn, so the
            // next page is on its way before this one is projected and (synchronously, for
            // SQLite) written.
            if (entry.next !== null) await turnEventLoop(REQUEST_TURNS);
          }
          const started = performance.now();
          const result = projectPage(from - 1, page.events);
          return { page, result, projectMs: performance.now() - started };
        },
      ),
      take: () => {
        taken = true;
        startNext();
      },
      cancel: async () => {
        cancelled = true;
        controller.abort();
        await entry.projected.catch(() => {});
        await entry.next?.cancel();
      },
    };
    entry.projected.catch(() => {}); // awaited by the loop, or cancelled
    return entry;
  };
  /** The page the loop takes next: fetched, or being fetched, while the current one is written. */
  let ahead: InFlight | null = null;

  /** Wait between polls; false when interrupted by shutdown. */
  const wait = (ms: number): Promise<boolean> => {
    step("wait");
    return sleep(ms, signal);
  };

  try {
    while (!signal.aborted) {
      step("lock");
      if (!await lock.ensure(gained)) break;

      step("fetch");
      let page: FetchedPage;
      let result: PageResult;
      let waitMs: number;
      let projectMs: number;
      try {
        const prefetched: InFlight | null = ahead?.from === checkpoint + 1 ? ahead : null;
        if (ahead !== null && prefetched === null) await ahead.cancel();
        const current: InFlight = prefetched ?? startFetch(checkpoint + 1);
        ahead = current; // cancelled in `finally` if shutdown comes first
        current.take();
        const waitStarted = performance.now();
        ({ page, result, projectMs } = await current.projected);
        waitMs = performance.now() - waitStarted;
        ahead = current.next;
      } catch (error) {
        if (error instanceof FetchAbortedError) break;
        throw error;
      }
      if (page.events.length > limit) {
        logger.warn(
          "Page from {from} has {events} events, more than Limit={limit}; processing all",
          {
            from: checkpoint + 1,
            events: page.events.length,
            limit,
          },
        );
      }

      step("write");
      const started = performance.now();
      try {
        // Not interrupted by the signal: the page in flight commits or rolls back as a whole.
        if (!result.empty || result.rejections.length > 0) await store.applyPage(result);
        failures = 0;
      } catch (error) {
        if (isFatalStoreError(error)) throw error;
        events?.writeFailed(error);
        events?.retry("store");
        failures++;
        const delayMs = backoffDelay(failures, options.backoff);
        logger.error(
          "Writing page {from}..{to} failed (attempt {attempt}): {error}; retrying in {delayMs} ms",
          {
            from: result.from + 1,
            to: result.to,
            attempt: failures,
            error: String(error),
            delayMs,
          },
        );
        if (!await wait(delayMs)) break;
        try {
          checkpoint = await store.readCheckpoint();
        } catch (readError) {
          if (isFatalStoreError(readError)) throw readError;
          // The next write fails again and is retried with a longer wait.
        }
        continue;
      }
      const ms = projectMs + performance.now() - started; // project and write
      events?.pageWritten(result, page, ms);

      for (const rejection of result.rejections) {
        logger.warn("Rejected event {eventId}: {reason}", {
          eventId: rejection.eventId,
          reason: rejection.reason,
          payload: rejection.payload.slice(0, 500),
        });
      }
      totals.rejected += result.rejections.length;
      progress.rejected += result.rejections.length;

      if (result.empty) {
        reportProgress(true);
        if (drain) return summary("drained");
        logger.debug("Caught up at checkpoint {checkpoint}; next poll in {pollIntervalMs} ms", {
          checkpoint,
          pollIntervalMs,
        });
        if (!await wait(pollIntervalMs)) break;
        continue;
      }

      checkpoint = result.to;
      totals.pages++;
      totals.applied += result.applied;
      progress.pages++;
      progress.applied += result.applied;
      logger.debug(
        "Page {from}..{to}: {applied} applied, {rejected} rejected, {skipped} skipped, {parcels} parcels written in {ms} ms",
        {
          from: result.from + 1,
          to: result.to,
          applied: result.applied,
          rejected: result.rejections.length,
          skipped: result.skipped,
          parcels: result.changes.length,
          events: page.events.length,
          fetchMs: Math.round(page.ms),
          waitMs: Math.round(waitMs * 10) / 10,
          ms: Math.round(ms),
        },
      );
      if (page.events.length < limit) {
        reportProgress(true);
        if (!drain && !await wait(pollIntervalMs)) break;
      } else if (performance.now() - progress.since >= progressIntervalMs) {
        reportProgress(false);
      }
    }
    return summary("stopped");
  } finally {
    await ahead?.cancel();
    reportProgress(false);
    step("stopped");
    await lock.release();
  }
}
