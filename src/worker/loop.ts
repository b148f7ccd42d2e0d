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
import { PageTrace } from "../telemetry/mod.ts";
import { type FeedStore, isFatalStoreError, type PageWrite } from "../store/store.ts";
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
  /** Called once, when this instance first holds the feed lock: start-up is over. */
  readonly onActive?: () => void;
  /** Called after each page is committed (the relay wakes up). */
  readonly committed?: (write: PageWrite, result: PageResult) => void;
  /** Resolves when the next page may be written (the outbox has room); false on shutdown. */
  readonly room?: (signal: AbortSignal) => Promise<boolean>;
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
export function runLoop(options: LoopOptions): Promise<LoopSummary> {
  return new Loop(options).run();
}

/** The span of a page that came without one (a test's page): never recorded. */
const NO_TRACE = PageTrace.none();

/** What to do after a page. */
type Next = "go on" | "wait" | "drained";

/** One run of the loop and its state. */
class Loop {
  readonly #options: LoopOptions;
  readonly #progress: Progress;
  readonly #lock: LockKeeper;
  readonly #pages: Prefetcher;
  #checkpoint = 0;
  /** Failed writes in a row, and the wait before the next try. */
  #failures = 0;
  #retryInMs = 0;

  constructor(options: LoopOptions) {
    this.#options = options;
    this.#progress = new Progress(options.logger, options.progressIntervalMs ?? 10_000);
    this.#lock = new LockKeeper(options);
    this.#pages = new Prefetcher(options.source, options.signal);
  }

  async run(): Promise<LoopSummary> {
    const { store, signal, pollIntervalMs, events } = this.#options;
    this.#checkpoint = await store.readCheckpoint();
    let reason: LoopSummary["reason"] = "stopped";
    try {
      while (!signal.aborted) {
        events?.step("lock");
        if (!await this.#lock.ensure(() => this.#gained())) break;
        events?.step("fetch");
        const next = await this.#pages.take(this.#checkpoint + 1).catch((error) => {
          if (error instanceof FetchAbortedError) return null;
          throw error;
        });
        if (next === null) break;
        if (this.#options.room && !await this.#options.room(signal)) break;
        events?.step("write");
        if (!await this.#write(next)) {
          if (await this.#recover()) continue;
          break;
        }
        const then = this.#after(next);
        if (then === "drained") {
          reason = "drained";
          break;
        }
        if (then === "wait" && !await this.#wait(pollIntervalMs)) break;
      }
      return { reason, checkpoint: this.#checkpoint, ...this.#progress.totals };
    } finally {
      await this.#pages.cancel();
      this.#progress.flush(this.#checkpoint);
      events?.step("stopped");
      await this.#lock.release();
    }
  }

  /** The lock was (re)taken: start from the stored checkpoint. */
  async #gained(): Promise<void> {
    this.#checkpoint = await this.#options.store.readCheckpoint();
    this.#options.onActive?.();
    this.#options.events?.checkpoint(this.#checkpoint);
    this.#options.logger.info("Starting at checkpoint {checkpoint}", {
      checkpoint: this.#checkpoint,
    });
  }

  /** Write a page (not interrupted by shutdown: it commits or rolls back whole); false if it failed. */
  async #write(next: Projected): Promise<boolean> {
    const { store, events, logger, backoff } = this.#options;
    const { result, trace = NO_TRACE } = next;
    const started = performance.now();
    let write: PageWrite = { rejected: [], outboxed: 0 };
    try {
      if (!writesNothing(result)) write = await trace.write(() => store.applyPage(result));
    } catch (error) {
      trace.failed(error);
      if (isFatalStoreError(error)) throw error;
      events?.writeFailed(error);
      events?.retry("store");
      this.#failures++;
      this.#retryInMs = backoffDelay(this.#failures, backoff);
      logger.error(
        "Writing page {from}..{to} failed (attempt {attempt}): {error}; retrying in {delayMs} ms",
        {
          from: result.from + 1,
          to: result.to,
          attempt: this.#failures,
          error: String(error),
          delayMs: this.#retryInMs,
        },
      );
      return false;
    }
    this.#failures = 0;
    const writeMs = performance.now() - started;
    const ms = next.projectMs + writeMs; // project and write
    trace.run(() => { // its log lines belong to the page's trace
      this.#options.committed?.(write, result);
      events?.pageWritten(result, write, ms);
      this.#progress.written(next, write, writeMs);
    });
    trace.applied({
      fromEventId: result.from + 1,
      toEventId: result.to,
      events: next.page.events.length,
      accepted: result.events.length,
      rejected: result.rejections.length,
    });
    return true;
  }

  /** After a failed write: wait with backoff, re-read the checkpoint; false on shutdown. */
  async #recover(): Promise<boolean> {
    if (!await this.#wait(this.#retryInMs)) return false;
    this.#checkpoint = await this.#options.store.readCheckpoint().catch((error) => {
      if (isFatalStoreError(error)) throw error;
      return this.#checkpoint; // the next write fails again and is retried with a longer wait
    });
    return true;
  }

  /** After a written page: go straight on (a full page), wait for more, or stop (drained). */
  #after({ page, result }: Projected): Next {
    const { drain, logger, pollIntervalMs } = this.#options;
    if (result.empty) {
      this.#progress.caughtUp(this.#checkpoint);
      if (drain) return "drained";
      logger.debug("Caught up at checkpoint {checkpoint}; next poll in {pollIntervalMs} ms", {
        checkpoint: this.#checkpoint,
        pollIntervalMs,
      });
      return "wait";
    }
    this.#checkpoint = result.to;
    if (page.full) {
      this.#progress.tick(this.#checkpoint);
      return "go on";
    }
    this.#progress.caughtUp(this.#checkpoint);
    return drain ? "go on" : "wait";
  }

  /** Wait between polls or retries; false when interrupted by shutdown. */
  #wait(ms: number): Promise<boolean> {
    this.#options.events?.step("wait");
    return sleep(ms, this.#options.signal);
  }
}
