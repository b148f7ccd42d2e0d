/**
 * What the loop says about its work: a debug line per page, a warning per rejected event, and
 * while catching up one info line per interval (and one when caught up); plus the totals of the
 * run.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import type { Projected } from "./prefetch.ts";

/** What a run of the loop did. */
export interface Totals {
  /** Pages written (empty ones not counted). */
  pages: number;
  /** Valid events applied. */
  applied: number;
  /** Events rejected. */
  rejected: number;
}

/** The loop's log lines and counts. */
export class Progress {
  readonly #logger: Logger;
  readonly #intervalMs: number;
  /** Since the start of the run. */
  readonly totals: Totals = { pages: 0, applied: 0, rejected: 0 };
  /** Since the last progress line. */
  #since = performance.now();
  #recent: Totals = { pages: 0, applied: 0, rejected: 0 };

  /** @param logger where to log; @param intervalMs how often a progress line while catching up. */
  constructor(logger: Logger, intervalMs: number) {
    this.#logger = logger;
    this.#intervalMs = intervalMs;
  }

  /** A page was written (or had nothing to write), in `ms` to project and write it. */
  written({ page, result, waitMs }: Projected, ms: number): void {
    for (const rejection of result.rejections) {
      this.#logger.warn("Rejected event {eventId}: {reason}", {
        eventId: rejection.eventId,
        reason: rejection.reason,
        payload: rejection.payload.slice(0, 500),
      });
    }
    this.totals.rejected += result.rejections.length;
    this.#recent.rejected += result.rejections.length;
    if (result.empty) return;
    this.totals.pages++;
    this.totals.applied += result.applied;
    this.#recent.pages++;
    this.#recent.applied += result.applied;
    this.#logger.debug(
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
  }

  /** A full page was written: a progress line if the interval has passed. */
  tick(checkpoint: number): void {
    if (performance.now() - this.#since >= this.#intervalMs) this.#report(checkpoint, false);
  }

  /** The feed is caught up (an empty or short page): the line for what was applied since. */
  caughtUp(checkpoint: number): void {
    this.#report(checkpoint, true);
  }

  /** The loop ends: the line for what was applied since the last one. */
  flush(checkpoint: number): void {
    this.#report(checkpoint, false);
  }

  #report(checkpoint: number, caughtUp: boolean): void {
    const recent = this.#recent;
    if (recent.pages === 0) return;
    const seconds = (performance.now() - this.#since) / 1000;
    const fields = {
      checkpoint,
      pages: recent.pages,
      applied: recent.applied,
      rejected: recent.rejected,
      seconds: Math.round(seconds * 10) / 10,
      eventsPerSecond: Math.round((recent.applied + recent.rejected) / Math.max(seconds, 0.001)),
    };
    if (caughtUp) {
      this.#logger.info(
        "Caught up at checkpoint {checkpoint}: {applied} events applied, {rejected} rejected in {pages} pages ({eventsPerSecond}/s)",
        fields,
      );
    } else {
      this.#logger.info(
        "Catching up: checkpoint {checkpoint}, {eventsPerSecond} events/s, {pages} pages, {rejected} rejected in the last {seconds} s",
        fields,
      );
    }
    this.#since = performance.now();
    this.#recent = { pages: 0, applied: 0, rejected: 0 };
  }
}
