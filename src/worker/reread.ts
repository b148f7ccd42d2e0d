/**
 * Late events, the re-reads of the feed's head (docs/rules.md §3.10): when one is due, where it
 * starts, and the read itself. What a re-read finds is the late-event watch's to write
 * (`late.ts`).
 *
 * When: while catching up (full pages) once every {@link PAGES_PER_REREAD} pages; at the head (a
 * short or empty page) at most once per poll interval; with `--drain`, once before the loop
 * ends. Where: at the lowest open EventId at or above where the last one stopped, so a long list
 * of holes is covered in turn.
 *
 * @example While catching up, the 50th full page makes a re-read due; at the end of a drain, one is
 * ```ts
 * import assert from "node:assert/strict";
 * import { HeadRereads, PAGES_PER_REREAD } from "./reread.ts";
 *
 * const rereads = new HeadRereads(1000);
 * const due: boolean[] = [];
 * for (let page = 1; page <= PAGES_PER_REREAD; page++) due.push(rereads.due("go on"));
 * assert.equal(due.indexOf(true) + 1, 50);
 * assert.equal(rereads.due("drained"), true);
 * ```
 *
 * @module
 */

import { type Hole, rereadFrom } from "../domain/late.ts";
import { pageEnd } from "../domain/project.ts";
import type { FetchedPage, PageSource } from "../source.ts";

/**
 * While catching up, one re-read per this many full pages: 2 % more requests, none of them
 * written unless it holds a late event. Measured (`deno task bench --events 300000 --store
 * sqlite --skip-limit --skip-naive --skip-nats`, shared 2-core machine): 2.5 % of the run's time
 * went to re-reads; with one per 25 pages, 3.5–4.7 % (a re-read is a whole request, not
 * overlapped with the next page's as pages are): too close to the 5 % budget.
 */
export const PAGES_PER_REREAD = 50;

/** What the loop did after a page: how a re-read is judged due. */
export type AfterPage = "go on" | "wait" | "drained";

/** A re-read of the head: the page it got, and the EventIds it showed in full. */
export interface Reread {
  /** The page the source returned. */
  readonly page: FetchedPage;
  /**
   * The EventIds the page shows everything of, `from..to` up to the checkpoint (a short page
   * all from `from` on; a full one up to its last EventId); `to < from` when none. Holes there
   * settle once old enough.
   */
  readonly covered: { readonly from: number; readonly to: number; readonly startedMs: number };
  /** When the re-read began (`performance.now()`): its time, with the write of what it found. */
  readonly began: number;
}

/** When and where the head is read again, for one loop. */
export class HeadRereads {
  readonly #pollIntervalMs: number;
  /** Where the last re-read stopped: the next one starts at the first hole at or above it. */
  #cursor = 0;
  #pagesSinceReread = 0;
  #lastRereadMs = -Infinity;

  /** @param pollIntervalMs the loop's poll interval: at the head, at most one re-read per interval. */
  constructor(pollIntervalMs: number) {
    this.#pollIntervalMs = pollIntervalMs;
  }

  /**
   * Whether a re-read is due now: while catching up, after {@link PAGES_PER_REREAD} full pages;
   * at the head, once the poll interval has passed since the last one; at the end of a
   * `--drain`, one.
   */
  due(after: AfterPage): boolean {
    if (after === "go on") return ++this.#pagesSinceReread >= PAGES_PER_REREAD;
    if (after === "drained") return true;
    return performance.now() - this.#lastRereadMs >= this.#pollIntervalMs;
  }

  /**
   * Read the head again from the next open hole of `holes` (at `checkpoint`, clock `nowMs`);
   * null when no hole is left to read, or when `signal` aborted the request.
   */
  async read(
    holes: readonly Hole[],
    checkpoint: number,
    nowMs: number,
    source: PageSource,
    signal: AbortSignal,
  ): Promise<Reread | null> {
    const from = rereadFrom(holes, this.#cursor);
    if (from === null) return null;
    this.#pagesSinceReread = 0;
    this.#lastRereadMs = performance.now();
    let page: FetchedPage;
    try {
      page = await source.fetchPage(from, signal);
    } catch (error) {
      if (signal.aborted) return null;
      throw error;
    }
    const end = page.full ? pageEnd(from - 1, page.events) : Infinity;
    this.#cursor = page.full ? Math.max(end, from) + 1 : 0;
    const covered = { from, to: Math.min(end, checkpoint), startedMs: nowMs };
    return { page, covered, began: this.#lastRereadMs };
  }
}
