/**
 * The feed lock, held for the loop: taken before the first page (standing by while another
 * instance has it), checked now and then, given up at the end.
 *
 * @example Take the feed lock of an in-memory SQLite store, then give it up
 * ```ts
 * import assert from "node:assert/strict";
 * import { getLogger } from "@logtape/logtape";
 * import { SqliteStore } from "../store/sqlite.ts";
 * import { LockKeeper } from "./lock.ts";
 *
 * const store = new SqliteStore(":memory:");
 * await store.migrate();
 * const lock = new LockKeeper({
 *   store,
 *   signal: new AbortController().signal,
 *   lockRetryMs: 5000,
 *   logger: getLogger(["loop"]),
 * });
 * let gained = 0;
 * assert.equal(await lock.ensure(() => Promise.resolve(void gained++)), true);
 * assert.equal(gained, 1);
 * await lock.release();
 * await store.close();
 * ```
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { sleep } from "../retry.ts";
import { type FeedLock, type FeedStore, isFatalStoreError } from "../store/store.ts";
import type { LoopEvents } from "./events.ts";

/** What the lock keeper needs. */
export interface LockOptions {
  /** Where the lock lives. */
  readonly store: Pick<FeedStore, "tryLockFeed">;
  /** Aborts on shutdown. */
  readonly signal: AbortSignal;
  /** How often a standby retries the lock, and the active one checks it still holds it. */
  readonly lockRetryMs: number;
  /** Where it logs. */
  readonly logger: Logger;
  /** Health hooks. */
  readonly events?: Pick<LoopEvents, "lock" | "step">;
}

/**
 * Holds the feed lock for the loop: takes it (standing by while another instance has it),
 * checks every `lockRetryMs` that it is still held — also while the loop waits (for room, the
 * drain, a page, the next poll), which {@link LockKeeper.active} then ends — and gives it up at the
 * end.
 */
export class LockKeeper {
  #lock: FeedLock | null = null;
  #checkedAt = 0;
  /** The check under way, if any: the watch and `ensure` share it. */
  #checking: Promise<boolean> | null = null;
  /** Aborted once the lock held is found lost; a new one each time the lock is taken. */
  #holding = new AbortController();
  /** Shutdown, or `#holding`. */
  #active: AbortSignal;
  #watch: ReturnType<typeof setTimeout> | undefined;
  readonly #options: LockOptions;

  /** @param options where the lock lives, how often to retry, where to log. */
  constructor(options: LockOptions) {
    this.#options = options;
    this.#active = options.signal;
  }

  /**
   * Aborts once this instance stops being active: on shutdown, or once the lock it holds is found
   * lost. The loop's waits (for room, the drain, a page, the next poll) end then.
   */
  get active(): AbortSignal {
    return this.#active;
  }

  /** Whether the lock held was found lost (and not taken again yet): not by shutdown. */
  get lost(): boolean {
    return this.#holding.signal.aborted && !this.#options.signal.aborted;
  }

  /**
   * Resolve true once this instance holds the feed lock (false if the signal aborts first).
   * `gained` is called after the lock is (re)taken, before any page is fetched; `lost` once the
   * lock is found lost, before it is asked for again.
   * @throws a fatal store error (the lock cannot be asked for at all).
   */
  async ensure(
    gained: () => Promise<void>,
    lost: () => Promise<void> = () => Promise.resolve(),
  ): Promise<boolean> {
    const { store, signal, logger, lockRetryMs, events } = this.#options;
    let retaking = false;
    if (this.#lock !== null) {
      if (!this.#holding.signal.aborted && await this.#check()) return true;
      logger.error(
        "Lost the feed lock (its database session ended); taking it again before going on",
      );
      events?.lock(false);
      await this.#giveUp();
      await lost();
      retaking = true;
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
        // The database did not answer: nothing says another instance holds the lock.
        events?.step("wait");
        if (!await sleep(lockRetryMs, signal)) return false;
        continue;
      }
      if (this.#lock !== null) {
        this.#checkedAt = performance.now();
        this.#holding = new AbortController();
        this.#active = AbortSignal.any([signal, this.#holding.signal]);
        this.#watchFrom(this.#lock);
        events?.lock(true);
        logger.info(
          retaking
            ? "Holding the feed lock again: this instance is active"
            : "Holding the feed lock: this instance is active",
        );
        await gained();
        return true;
      }
      events?.step("standby");
      if (!waiting) this.#standingBy(retaking);
      waiting = true;
      if (!await sleep(lockRetryMs, signal)) return false;
    }
    return false;
  }

  /** Milliseconds until the lock is due to be checked again (`lockRetryMs` after the last check). */
  get #dueInMs(): number {
    return this.#options.lockRetryMs - (performance.now() - this.#checkedAt);
  }

  /**
   * Whether the lock is still held: true without asking until it is due to be checked again,
   * then asked once for the watch and `ensure` together.
   */
  #check(): Promise<boolean> {
    const lock = this.#lock;
    if (lock === null) return Promise.resolve(false);
    if (this.#dueInMs > 0) return Promise.resolve(true);
    this.#checking ??= lock.held().catch(() => false).then((held) => {
      this.#checking = null;
      this.#checkedAt = performance.now();
      if (!held && this.#lock === lock) this.#holding.abort();
      return held;
    });
    return this.#checking;
  }

  /** Check `lock` every `lockRetryMs` while it is the one held, whatever the loop is doing. */
  #watchFrom(lock: FeedLock): void {
    this.#watch = setTimeout(async () => {
      if (this.#lock !== lock) return;
      if (await this.#check() && this.#lock === lock) this.#watchFrom(lock);
    }, Math.max(1, this.#dueInMs));
  }

  /** Stop watching, let a check under way end, and give the lock up (quietly). */
  async #giveUp(): Promise<void> {
    const lock = this.#lock;
    this.#lock = null; // a watch whose check is under way does not go on
    clearTimeout(this.#watch);
    await this.#checking;
    await lock?.release().catch(() => {});
  }

  /** Say once that another session holds the lock: this instance stands by. */
  #standingBy(retaking: boolean): void {
    const { logger, lockRetryMs } = this.#options;
    if (retaking) {
      logger.warn(
        "Could not take the feed lock back: another session holds it (another instance, or this instance's old session that the database has not yet seen end); standing by, retrying every {lockRetryMs} ms",
        { lockRetryMs },
      );
    } else {
      logger.info(
        "Another instance holds the feed lock: standing by, retrying every {lockRetryMs} ms",
        { lockRetryMs },
      );
    }
  }

  /** Give the lock up, if held. */
  async release(): Promise<void> {
    if (this.#lock !== null) this.#options.events?.lock(false);
    await this.#giveUp();
  }
}
