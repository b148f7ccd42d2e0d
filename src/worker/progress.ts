/**
 * What the loop says about its work: a debug line per page, a warning per newly stored
 * rejection, and at info at most one line per interval: "Catching up …" while behind, "Caught
 * up …" once it is not (then, on a live feed, one summary per interval, every poll at debug).
 * Each gives the rate and the lag: how old the newest applied event is. Plus the run's totals.
 *
 * @example A page written, then the feed caught up: the totals, and one info line
 * ```ts
 * import assert from "node:assert/strict";
 * import { getLogger } from "@logtape/logtape";
 * import { projectPage } from "../domain/project.ts";
 * import { Progress } from "./progress.ts";
 *
 * const events = [
 *   { EventId: 1, ParcelId: 7, Type: "PICKUP", CreatedDateTimeUtc: "2021-05-11T09:00:00Z" },
 * ];
 * const progress = new Progress(getLogger(["loop"]), 10_000);
 * const fetched = { from: 1, events, full: false, attempts: 1, ms: 3 };
 * const page = { fetched, result: projectPage(0, events), projectMs: 0.1, waitMs: 0 };
 * progress.written(page, { rejected: [], outboxed: 0 }, 0.5);
 * progress.caughtUp(1); // "Caught up at checkpoint 1: 1 events applied, …" at info
 * assert.deepEqual(progress.totals, { pages: 1, applied: 1, rejected: 0 });
 * ```
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { epochMs } from "../domain/timestamps.ts";
import type { PageWrite } from "../store/store.ts";
import type { PageResult } from "../domain/project.ts";
import type { ProjectedPage } from "./prefetch.ts";

/** What a run of the loop did. */
export interface Totals {
  /** Pages written (empty ones not counted). */
  pages: number;
  /** Valid events applied. */
  applied: number;
  /** Events rejected and newly stored. */
  rejected: number;
}

/** The loop's log lines and counts. */
export class Progress {
  readonly #logger: Logger;
  readonly #intervalMs: number;
  readonly #now: () => number;
  /** Since the start of the run. */
  readonly totals: Totals = { pages: 0, applied: 0, rejected: 0 };
  /** Since the last info line. */
  #since: number;
  #recent: Totals = { pages: 0, applied: 0, rejected: 0 };
  /** What the last info line said. */
  #said: "nothing" | "catching up" | "caught up" = "nothing";
  /** Since when full pages have come without a short or empty one (null: caught up). */
  #behindSince: number | null = null;
  /** CreatedDateTimeUtc of the newest applied event, in ms since the epoch. */
  #newestMs: number | null = null;

  /**
   * @param logger where to log; @param intervalMs at most one info line this often;
   * @param now the clock in ms (tests pass their own).
   */
  constructor(logger: Logger, intervalMs: number, now: () => number = Date.now) {
    this.#logger = logger;
    this.#intervalMs = intervalMs;
    this.#now = now;
    this.#since = now();
  }

  /** A page was written (or had nothing to write), in `writeMs`. */
  written(
    { fetched, result, waitMs, projectMs }: ProjectedPage<PageResult>,
    write: PageWrite,
    writeMs: number,
  ): void {
    for (const rejection of write.rejected) {
      this.#logger.warn("Rejected event {eventId}: {reason}", {
        eventId: rejection.eventId ?? "-",
        reason: rejection.reason,
        payload: rejection.payload.slice(0, 500),
      });
    }
    this.totals.rejected += write.rejected.length;
    this.#recent.rejected += write.rejected.length;
    this.totals.applied += result.applied; // late events (docs/rules.md §3.10) too
    this.#recent.applied += result.applied;
    if (result.empty) return;
    this.totals.pages++;
    this.#recent.pages++;
    // Stored times have one fixed-width form (docs/rules.md §3.5): the greatest string is the
    // newest time, so only that one is parsed.
    let newest = "";
    for (const change of result.changes) {
      if (change.createdDateTimeUtc > newest) newest = change.createdDateTimeUtc;
    }
    const created = newest === "" ? null : epochMs(newest);
    if (created !== null && (this.#newestMs === null || created > this.#newestMs)) {
      this.#newestMs = created;
    }
    this.#logger.debug(
      "Page {from}..{to}: {applied} applied, {rejected} rejected, {skipped} skipped, {parcels} parcels written in {ms} ms",
      {
        from: result.from + 1,
        to: result.to,
        applied: result.applied,
        rejected: write.rejected.length,
        skipped: result.skipped,
        parcels: result.changes.length,
        events: fetched.events.length,
        fetchMs: Math.round(fetched.ms),
        waitMs: hundredths(waitMs),
        ms: Math.round(projectMs + writeMs),
        // Where the page's time went on this thread (the bench sums them per stage).
        decodeMs: hundredths(fetched.stages?.decodeMs ?? 0),
        ...(fetched.stages?.receiveMs === undefined
          ? {}
          : { receiveMs: hundredths(fetched.stages.receiveMs) }),
        parseMs: hundredths(fetched.stages?.parseMs ?? 0),
        projectMs: hundredths(projectMs),
        writeMs: hundredths(writeMs),
      },
    );
  }

  /**
   * A full page was written: more is waiting. A progress line once the interval has passed, but
   * on a live feed a full page now and then (more than a page arrived within one poll) is not
   * falling behind: once the feed was said to be caught up, "Catching up" is said only when full
   * pages have come for a whole interval without a short or empty one.
   */
  tick(checkpoint: number): void {
    this.#behindSince ??= this.#now();
    if (this.#now() - this.#since < this.#intervalMs || this.#live()) return;
    this.#report(checkpoint, false);
  }

  /**
   * The feed is caught up (an empty or short page). Said at info at once when the last info line
   * said something else (or nothing yet); on a live feed, one summary once the interval has
   * passed; otherwise at debug.
   */
  caughtUp(checkpoint: number): void {
    this.#behindSince = null;
    const saidSo = this.#said === "caught up";
    if (this.#recent.pages === 0) {
      // Nothing since the last line (it was written with the last page behind): still say
      // that the feed is caught up now, once.
      if (!saidSo) {
        this.#logger.info("Caught up at checkpoint {checkpoint}", { checkpoint });
        this.#said = "caught up";
      }
      return;
    }
    if (!saidSo || this.#now() - this.#since >= this.#intervalMs) {
      this.#report(checkpoint, true);
    } else {
      this.#logger.debug("Caught up at checkpoint {checkpoint}", { checkpoint });
    }
  }

  /** The loop ends: the line for what was applied since the last one. */
  flush(checkpoint: number): void {
    this.#report(checkpoint, this.#behindSince === null || this.#live());
  }

  /**
   * Said to be caught up, and full pages for less than an interval since: a live feed, where
   * more than a page arrived within one poll, not a backlog.
   */
  #live(): boolean {
    if (this.#said !== "caught up" || this.#behindSince === null) return false;
    return this.#now() - this.#behindSince < this.#intervalMs;
  }

  #report(checkpoint: number, caughtUp: boolean): void {
    const recent = this.#recent;
    if (recent.pages === 0) return;
    const now = this.#now();
    const seconds = (now - this.#since) / 1000;
    const fields = {
      checkpoint,
      pages: recent.pages,
      applied: recent.applied,
      rejected: recent.rejected,
      seconds: Math.round(seconds * 10) / 10,
      eventsPerSecond: Math.round((recent.applied + recent.rejected) / Math.max(seconds, 0.001)),
      lagSeconds: this.#newestMs === null ? null : Math.round((now - this.#newestMs) / 100) / 10,
    };
    if (caughtUp) {
      this.#logger.info(
        "Caught up at checkpoint {checkpoint}: {applied} events applied, {rejected} rejected in {pages} pages ({eventsPerSecond}/s); the newest is {lagSeconds} s old",
        fields,
      );
    } else {
      this.#logger.info(
        "Catching up: checkpoint {checkpoint}, {eventsPerSecond} events/s, {pages} pages, {rejected} rejected in the last {seconds} s; the newest applied event is {lagSeconds} s old",
        fields,
      );
    }
    this.#since = now;
    this.#recent = { pages: 0, applied: 0, rejected: 0 };
    this.#said = caughtUp ? "caught up" : "catching up";
  }
}

/** Milliseconds to two decimals, for a log line. */
function hundredths(ms: number): number {
  return Math.round(ms * 100) / 100;
}
