/**
 * The worker loop: hold the feed lock, then for each page: fetch (one page ahead) → project →
 * wait for room at the gate → write in one transaction → hand the commit to the gate. A full
 * page goes straight on; a short or empty page waits the poll interval. Shutdown stops new
 * requests and lets the page in flight commit or roll back.
 *
 * @example Drain a two-event feed into an in-memory SQLite store
 * ```ts
 * import assert from "node:assert/strict";
 * import { getLogger } from "@logtape/logtape";
 * import { SqliteStore } from "../store/sqlite.ts";
 * import { runLoop } from "./loop.ts";
 *
 * const feed = [
 *   { EventId: 1, ParcelId: 7, Type: "PICKUP", CreatedDateTimeUtc: "2021-05-11T09:00:00Z" },
 *   { EventId: 2, ParcelId: 7, Type: "DELIVERY", CreatedDateTimeUtc: "2021-05-11T10:00:00Z" },
 * ];
 * const store = new SqliteStore(":memory:");
 * await store.migrate();
 * const summary = await runLoop({
 *   store,
 *   source: {
 *     fetchPage: (from: number) => {
 *       const events = feed.filter((e) => e.EventId >= from);
 *       return Promise.resolve({ from, events, full: false, attempts: 1, ms: 0 });
 *     },
 *   },
 *   pollIntervalMs: 1000,
 *   drain: true,
 *   signal: new AbortController().signal,
 *   backoff: { baseMs: 500, capMs: 30_000 },
 *   lockRetryMs: 5000,
 *   logger: getLogger(["loop"]),
 * });
 * assert.deepEqual(summary, { reason: "drained", checkpoint: 2, pages: 1, applied: 2, rejected: 0 });
 * await store.close();
 * ```
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { type PageResult, projectPage } from "../domain/project.ts";
import { type BackoffPolicy, sleep } from "../retry.ts";
import { FetchAbortedError, type FetchedPage, type PageSource } from "../source.ts";
import { type FeedStore, isFatalStoreError } from "../store/store.ts";
import type { LoopEvents } from "./events.ts";
import { OPEN_GATE, type PageGate } from "./gate.ts";
import { type LateOptions, LateWatch } from "./late.ts";
import { LockKeeper } from "./lock.ts";
import { Prefetcher, type ProjectedPage } from "./prefetch.ts";
import { Progress, type Totals } from "./progress.ts";
import { PageWriter } from "./write.ts";

/** What the loop needs. */
export interface LoopOptions {
  /** Where pages are written. */
  readonly store: FeedStore;
  /** Where pages come from. */
  readonly source: PageSource;
  /** Wait after a short or empty page. */
  readonly pollIntervalMs: number;
  /** Stop with "drained" at the first empty page, once the gate has handed everything on. */
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
  /** The stage after the store (the relay): room to write, commits, the drain. {@link OPEN_GATE} by default. */
  readonly gate?: PageGate;
  /** Late events (docs/rules.md §3.10): off when absent (`LATE_EVENT_WINDOW_MS=0`). */
  readonly late?: LateOptions;
}

/** How the loop ended, and what it did. */
export interface LoopSummary extends Readonly<Totals> {
  /** "drained" (caught up with --drain, and the gate drained) or "stopped" (signal). */
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

/** A page as the loop holds it: fetched, then projected onto the checkpoint before it. */
export type LoopPage = ProjectedPage<PageResult>;

/** What to do after a page. */
type Next = "go on" | "wait" | "caught up";

/** The projection step: a fetched page onto the checkpoint just before it. */
function project(fetched: FetchedPage): PageResult {
  return projectPage(fetched.from - 1, fetched.events, fetched.typeLength);
}

/** One run of the loop and its state. */
class Loop {
  readonly #options: LoopOptions;
  readonly #gate: PageGate;
  readonly #progress: Progress;
  readonly #lock: LockKeeper;
  /** Fetch → project, one page ahead of the write. */
  readonly #pages: Prefetcher<PageResult>;
  /** Late events: the holes, the re-reads of the head (null when off). */
  readonly #late: LateWatch | null;
  /** Write → tell the metrics, progress and late events; failures counted for the backoff. */
  readonly #writer: PageWriter;
  #checkpoint = 0;
  #active = false;

  constructor(options: LoopOptions) {
    this.#options = options;
    this.#gate = options.gate ?? OPEN_GATE;
    this.#progress = new Progress(options.logger, options.progressIntervalMs ?? 10_000);
    this.#lock = new LockKeeper(options);
    this.#pages = new Prefetcher({ source: options.source, signal: options.signal, project });
    this.#late = options.late === undefined ? null : new LateWatch(options.late);
    this.#writer = new PageWriter({
      store: options.store,
      backoff: options.backoff,
      logger: options.logger,
      events: options.events,
      progress: this.#progress,
      late: this.#late,
    });
  }

  async run(): Promise<LoopSummary> {
    const { store, signal, pollIntervalMs, events } = this.#options;
    this.#checkpoint = await store.readCheckpoint();
    let reason: LoopSummary["reason"] = "stopped";
    try {
      while (!signal.aborted) {
        events?.step("lock");
        if (!await this.#lock.ensure(() => this.#gained(), () => this.#standDown())) break;
        events?.step("fetch");
        const page = await this.#fetchAndProject();
        if (page === null || !await this.#roomAtGate()) {
          if (this.#lock.lost) continue; // ensure() takes it again, or stands by
          break;
        }
        events?.step("write");
        const write = await this.#writer.write(this.#late?.forPage(page) ?? page);
        if (write === null) {
          if (await this.#recover()) continue;
          break;
        }
        this.#gate.pageCommitted(write, page.result.to);
        const next = this.#after(page);
        if (!await this.#lateAfter(next, page)) {
          if (this.#lock.lost) continue;
          break;
        }
        if (next === "caught up" && this.#options.drain) {
          if (await this.#drained()) reason = "drained";
          else if (this.#lock.lost) continue;
          break;
        }
        if (next !== "go on" && !await this.#wait(pollIntervalMs)) break;
      }
      return { reason, checkpoint: this.#checkpoint, ...this.#progress.totals };
    } finally {
      await this.#pages.cancel();
      this.#progress.flush(this.#checkpoint);
      events?.step("stopped");
      await this.#lock.release();
    }
  }

  /**
   * The lock was found lost: the page fetched ahead is let go (an API that is down is not asked
   * again and again while this instance stands by) and the gate stops handing pages on.
   */
  async #standDown(): Promise<void> {
    await this.#pages.cancel();
    await this.#gate.active(false);
  }

  /** The lock was (re)taken: start from the stored checkpoint, and hand pages on again. */
  async #gained(): Promise<void> {
    this.#checkpoint = await this.#options.store.readCheckpoint();
    this.#late?.load(await this.#options.store.readLateHoles?.() ?? null, this.#checkpoint);
    if (!this.#active) {
      this.#active = true;
      this.#options.onActive?.();
    }
    await this.#gate.active(true);
    this.#options.events?.checkpoint(this.#checkpoint);
    this.#options.logger.info("Starting at checkpoint {checkpoint}", {
      checkpoint: this.#checkpoint,
    });
  }

  /**
   * The page at checkpoint + 1, fetched (ahead) and projected; null on shutdown, or once the lock
   * is found lost (the fetch is cancelled: a source that retries does not hold the loop there).
   */
  async #fetchAndProject(): Promise<LoopPage | null> {
    const active = this.#lock.active;
    if (active.aborted) return null; // ensure() first
    let stop = () => {};
    const stopped = new Promise<null>((resolve) => {
      stop = () => resolve(null);
      active.addEventListener("abort", stop, { once: true });
    });
    const taking = this.#pages.take(this.#checkpoint + 1).catch((error) => {
      if (error instanceof FetchAbortedError) return null;
      throw error;
    });
    try {
      const page = await Promise.race([taking, stopped]);
      if (page === null) await this.#pages.cancel();
      return page;
    } finally {
      active.removeEventListener("abort", stop);
      taking.catch(() => {}); // after a cancel, its end is not waited for
    }
  }

  /**
   * Wait until the gate has room for the page (a paused ingest waits by design); false on
   * shutdown, or once the lock is found lost.
   */
  #roomAtGate(): Promise<boolean> {
    this.#options.events?.step("wait");
    return this.#gate.waitForRoom(this.#lock.active);
  }

  /**
   * Late events after a page (docs/rules.md §3.10): those the page brought (a stream source),
   * then a re-read of the head when one is due, each written on its own and handed to the gate;
   * false on shutdown, or once the lock is found lost.
   */
  async #lateAfter(next: Next, { fetched }: LoopPage): Promise<boolean> {
    if (this.#late === null) return true;
    const { source, drain, events } = this.#options;
    const write = async (late: LoopPage) => {
      events?.step("write");
      const written = await this.#writer.write(late);
      if (written !== null) this.#gate.pageCommitted(written, this.#checkpoint);
      return written !== null;
    };
    const brought = this.#late.inPage(fetched, this.#checkpoint);
    if (brought !== null) await write(brought);
    const after = next === "go on" ? "go on" : next === "caught up" && drain ? "drained" : "wait";
    events?.step("fetch"); // a re-read of the head asks the source, retrying as a fetch does
    return await this.#late.afterPage(after, this.#checkpoint, source, this.#lock.active, write);
  }

  /** After a failed write: wait with backoff, re-read the checkpoint; false on shutdown. */
  async #recover(): Promise<boolean> {
    if (!await this.#wait(this.#writer.retryInMs)) return false;
    this.#checkpoint = await this.#options.store.readCheckpoint().catch((error) => {
      if (isFatalStoreError(error)) throw error;
      return this.#checkpoint; // the next write fails again and is retried with a longer wait
    });
    return true;
  }

  /** After a written page: move the checkpoint; a full page goes on, else the feed is caught up. */
  #after({ fetched, result }: LoopPage): Next {
    const { drain, logger, pollIntervalMs } = this.#options;
    if (result.empty) {
      this.#progress.caughtUp(this.#checkpoint);
      logger.debug("Caught up at checkpoint {checkpoint}; next poll in {pollIntervalMs} ms", {
        checkpoint: this.#checkpoint,
        pollIntervalMs,
      });
      return "caught up";
    }
    this.#checkpoint = result.to;
    if (fetched.full) {
      this.#progress.tick(this.#checkpoint);
      return "go on";
    }
    this.#progress.caughtUp(this.#checkpoint);
    return drain ? "go on" : "wait"; // with --drain, an empty page ends it
  }

  /**
   * With --drain, caught up: wait for the gate to hand everything on; false on shutdown, or once
   * the lock is found lost.
   */
  async #drained(): Promise<boolean> {
    this.#options.events?.step("wait");
    await this.#gate.drained(this.#lock.active);
    return !this.#lock.active.aborted;
  }

  /**
   * Wait between polls or retries, cut short once the lock is found lost; false when interrupted
   * by shutdown.
   */
  async #wait(ms: number): Promise<boolean> {
    this.#options.events?.step("wait");
    await sleep(ms, this.#lock.active);
    return !this.#options.signal.aborted;
  }
}
