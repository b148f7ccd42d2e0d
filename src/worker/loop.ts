/**
 * The worker loop: read the checkpoint, fetch `checkpoint + 1`, project, write the page in one
 * transaction, repeat. A full page goes straight on; a short or empty page waits the poll
 * interval. Shutdown stops new requests and lets the page in flight commit or roll back.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { FetchAbortedError, type FetchedPage } from "../api/client.ts";
import { type PageResult, projectPage } from "../domain/project.ts";
import { type FeedLock, MigrationError, SchemaMissingError, type Store } from "../store/store.ts";
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
  /** Called after each page is written (for metrics and tests). */
  readonly onPage?: (result: PageResult, page: FetchedPage, ms: number) => void;
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
        logger.error("Could not ask for the feed lock: {error}; retrying in {lockRetryMs} ms", {
          error: String(error),
          lockRetryMs,
        });
      }
      if (this.#lock !== null) {
        this.#checkedAt = performance.now();
        logger.info("Holding the feed lock: this instance is active");
        await gained();
        return true;
      }
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
    await this.#lock?.release().catch(() => {});
    this.#lock = null;
  }
}

/** Errors after which retrying cannot help: the schema is missing or does not match. */
function isFatal(error: unknown): boolean {
  return error instanceof SchemaMissingError || error instanceof MigrationError;
}

/**
 * Run the loop until the signal aborts, or with `drain` until the feed is caught up.
 * Store errors are logged and the page is retried whole from a re-read checkpoint; schema
 * errors end the loop by throwing.
 */
export async function runLoop(options: LoopOptions): Promise<LoopSummary> {
  const { store, source, limit, pollIntervalMs, drain, signal, logger } = options;
  let pages = 0, applied = 0, rejected = 0, failures = 0;
  let checkpoint = await store.readCheckpoint();
  const lock = new LockKeeper(options);
  const gained = async () => {
    checkpoint = await store.readCheckpoint();
    logger.info("Starting at checkpoint {checkpoint}", { checkpoint });
  };

  const summary = (reason: LoopSummary["reason"]): LoopSummary => ({
    reason,
    checkpoint,
    pages,
    applied,
    rejected,
  });

  try {
    return await loop();
  } finally {
    await lock.release();
  }

  async function loop(): Promise<LoopSummary> {
    while (!signal.aborted) {
      if (!await lock.ensure(gained)) break;
      let page: FetchedPage;
      try {
        page = await source.fetchPage(checkpoint + 1, signal);
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
      const started = performance.now();
      const result = projectPage(checkpoint, page.events);
      try {
        // Not interrupted by the signal: the page in flight commits or rolls back as a whole.
        if (!result.empty || result.rejections.length > 0) await store.applyPage(result);
        failures = 0;
      } catch (error) {
        if (isFatal(error)) throw error;
        failures++;
        const delayMs = backoffDelay(failures, options.backoff);
        logger.error(
          "Writing page {from}..{to} failed (attempt {attempt}): {error}; retrying in {delayMs} ms",
          { from: result.from, to: result.to, attempt: failures, error: String(error), delayMs },
        );
        if (!await sleep(delayMs, signal)) break;
        try {
          checkpoint = await store.readCheckpoint();
        } catch (readError) {
          if (isFatal(readError)) throw readError;
          // The next apply fails again and is retried with a longer wait.
        }
        continue;
      }
      const ms = performance.now() - started;

      for (const rejection of result.rejections) {
        logger.warn("Rejected event {eventId}: {reason}", {
          eventId: rejection.eventId,
          reason: rejection.reason,
          payload: rejection.payload.slice(0, 500),
        });
      }
      options.onPage?.(result, page, ms);
      rejected += result.rejections.length;

      if (result.empty) {
        if (drain) return summary("drained");
        logger.debug("Caught up at checkpoint {checkpoint}; next poll in {pollIntervalMs} ms", {
          checkpoint,
          pollIntervalMs,
        });
        if (!await sleep(pollIntervalMs, signal)) break;
        continue;
      }

      checkpoint = result.to;
      pages++;
      applied += result.applied;
      logger.info(
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
          ms: Math.round(ms),
        },
      );
      if (page.events.length < limit && !drain) {
        if (!await sleep(pollIntervalMs, signal)) break;
      }
    }
    return summary("stopped");
  }
}
