/**
 * The worker loop: hold the feed lock, take the page at `checkpoint + 1` (fetched ahead and
 * projected), write it in one transaction, repeat. A full page goes straight on; a short or
 * empty page waits the poll interval. Shutdown stops new requests and lets the page in flight
 * commit or roll back.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { FetchAbortedError } from "../api/client.ts";
import { type PageResult, writesNothing } from "../domain/project.ts";
import { backoffDelay, type BackoffPolicy, sleep } from "../retry.ts";
import { type FeedStore, isFatalStoreError } from "../store/store.ts";
import type { LoopEvents } from "./events.ts";
import { LockKeeper } from "./lock.ts";
import { type PageSource, Prefetcher, type Projected } from "./prefetch.ts";
import { Progress, type Totals } from "./progress.ts";

/** What the loop needs. */
export interface LoopOptions {
  /** Where pages are written. */
  readonly store: FeedStore;
  /** Where pages come from. */
  readonly source: PageSource;
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
  readonly events?: LoopEvents;
  /** While catching up, one progress line at info this often (per-page lines are debug). */
  readonly progressIntervalMs?: number;
}

/** How the loop ended, and what it did. */
export interface LoopSummary extends Readonly<Totals> {
  /** "drained" (caught up with --drain) or "stopped" (signal). */
  readonly reason: "drained" | "stopped";
  /** The checkpoint at the end. */
  readonly checkpoint: number;
}

/**
 * Run the loop until the signal aborts, or with `drain` until the feed is caught up.
 * A failed write is logged and the page retried whole from a re-read checkpoint; fatal store
 * errors (a missing or edited schema, an unsupported database, a permanent database error) end
 * the loop by throwing.
 */
export async function runLoop(options: LoopOptions): Promise<LoopSummary> {
  const { store, pollIntervalMs, drain, signal, logger, events } = options;
  const progress = new Progress(logger, options.progressIntervalMs ?? 10_000);
  const lock = new LockKeeper(options);
  const pages = new Prefetcher(options.source, signal);
  let checkpoint = await store.readCheckpoint();
  let failures = 0;
  const wait = (ms: number) => {
    events?.step("wait");
    return sleep(ms, signal);
  };
  const gained = async () => {
    checkpoint = await store.readCheckpoint();
    events?.checkpoint(checkpoint);
    logger.info("Starting at checkpoint {checkpoint}", { checkpoint });
  };
  /** After a failed write: log, wait with backoff, re-read the checkpoint; false on shutdown. */
  const recover = async (error: unknown, result: PageResult): Promise<boolean> => {
    if (isFatalStoreError(error)) throw error;
    events?.writeFailed(error);
    events?.retry("store");
    const delayMs = backoffDelay(++failures, options.backoff);
    logger.error(
      "Writing page {from}..{to} failed (attempt {attempt}): {error}; retrying in {delayMs} ms",
      { from: result.from + 1, to: result.to, attempt: failures, error: String(error), delayMs },
    );
    if (!await wait(delayMs)) return false;
    checkpoint = await store.readCheckpoint().catch((readError) => {
      if (isFatalStoreError(readError)) throw readError;
      return checkpoint; // the next write fails again and is retried with a longer wait
    });
    return true;
  };
  const summary = (reason: LoopSummary["reason"]) => ({ reason, checkpoint, ...progress.totals });

  try {
    while (!signal.aborted) {
      events?.step("lock");
      if (!await lock.ensure(gained)) break;
      events?.step("fetch");
      const next: Projected | null = await pages.take(checkpoint + 1).catch((error) => {
        if (error instanceof FetchAbortedError) return null;
        throw error;
      });
      if (next === null) break;
      const { page, result } = next;
      events?.step("write");
      const started = performance.now();
      try {
        // Not interrupted by the signal: the page in flight commits or rolls back as a whole.
        if (!writesNothing(result)) await store.applyPage(result);
        failures = 0;
      } catch (error) {
        if (await recover(error, result)) continue;
        break;
      }
      const ms = next.projectMs + performance.now() - started; // project and write
      events?.pageWritten(result, ms);
      progress.written(next, ms);
      if (result.empty) {
        progress.caughtUp(checkpoint);
        if (drain) return summary("drained");
        logger.debug("Caught up at checkpoint {checkpoint}; next poll in {pollIntervalMs} ms", {
          checkpoint,
          pollIntervalMs,
        });
        if (!await wait(pollIntervalMs)) break;
        continue;
      }
      checkpoint = result.to;
      if (page.full) {
        progress.tick(checkpoint);
      } else {
        progress.caughtUp(checkpoint);
        if (!drain && !await wait(pollIntervalMs)) break;
      }
    }
    return summary("stopped");
  } finally {
    await pages.cancel();
    progress.flush(checkpoint);
    events?.step("stopped");
    await lock.release();
  }
}
