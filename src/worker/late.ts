/**
 * Late events, the loop's part (docs/rules.md §3.10): keeps the open holes, adds each page's
 * holes to the page's write, re-reads the feed's recent head at a bounded rate, and writes the
 * late events it finds (and the holes it settles) in a transaction of their own, after the
 * page that found them.
 *
 * When it re-reads: while catching up (full pages) once every {@link PAGES_PER_REREAD} pages;
 * at the head (a short or empty page) at most once per poll interval; with `--drain`, once
 * before the loop ends. Each re-read asks for the lowest open EventId at or above where the last
 * one stopped, so a long list of holes is covered in turn.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import {
  addHoles,
  clipHoles,
  decodeHoles,
  encodeHoles,
  expireHoles,
  fillHoles,
  type Hole,
  holeOf,
  holesOfPage,
  rereadFrom,
  settleCovered,
  settledMark,
  usableIds,
} from "../domain/late.ts";
import { pageEnd, type PageResult, projectLate } from "../domain/project.ts";
import type { PageWrite } from "../store/store.ts";
import type { FetchedPage, PageSource } from "../source.ts";
import type { ProjectedPage } from "./prefetch.ts";

/** A page as the loop writes it: fetched, and projected. */
type Projected = ProjectedPage<PageResult>;

/**
 * While catching up, one re-read per this many full pages: 2 % more requests, none of them
 * written unless it holds a late event. Measured (`deno task bench --events 300000 --store
 * sqlite --skip-limit --skip-naive --skip-nats`, shared 2-core machine): 2.5 % of the run's time
 * went to re-reads; with one per 25 pages, 3.5–4.7 % (a re-read is a whole request, not
 * overlapped with the next page's as pages are): too close to the 5 % budget.
 */
export const PAGES_PER_REREAD = 50;

/** What late events report (metrics). */
export interface LateHooks {
  /** Late events were applied or rejected (committed). */
  lateEvents(count: number): void;
  /** The settled mark moved (or was read at start). */
  settled(eventId: number): void;
}

/** What the late-event watch needs. */
export interface LateOptions {
  /** `LATE_EVENT_WINDOW_MS` (above 0). */
  readonly windowMs: number;
  /**
   * Whether the source can be asked again for older events (the API: yes). A stream source
   * brings late events by itself, in commit order: its holes are only recognised, never re-read,
   * and settled a window after they opened.
   */
  readonly reread: boolean;
  /** The loop's poll interval: at the head, at most one re-read per interval. */
  readonly pollIntervalMs: number;
  /** Where late events are logged. */
  readonly logger: Logger;
  /** Metrics. */
  readonly hooks?: LateHooks;
  /** The wall clock, epoch milliseconds (tests pass their own). */
  readonly now?: () => number;
}

/** What the loop did after a page: how the watch decides whether to re-read. */
export type AfterPage = "go on" | "wait" | "drained";

/** The late-event watch of one loop. */
export class LateWatch {
  readonly #options: LateOptions;
  readonly #now: () => number;
  #holes: Hole[] = [];
  #checkpoint = 0;
  /** Where the last re-read stopped: the next one starts at the first hole at or above it. */
  #cursor = 0;
  #pagesSinceReread = 0;
  #lastRereadMs = -Infinity;
  /** Holes changed since the last write (expired): the next write, or a write of its own, stores them. */
  #dirty = false;

  /** @param options the window, whether to re-read, logging and metrics. */
  constructor(options: LateOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** The open holes (for tests and status). */
  get holes(): readonly Hole[] {
    return this.#holes;
  }

  /** The settled mark now. */
  get settled(): number {
    return settledMark(this.#holes, this.#checkpoint);
  }

  /** Start from what the store holds (`holes` as stored, null when none yet) at `checkpoint`. */
  load(holes: string | null, checkpoint: number): void {
    const stored = decodeHoles(holes);
    this.#holes = clipHoles(stored, checkpoint);
    this.#checkpoint = checkpoint;
    this.#dirty = this.#holes.length !== stored.length;
    this.#options.hooks?.settled(this.settled);
    if (this.#holes.length > 0) {
      this.#options.logger.info(
        "Late events: {count} EventIds below the checkpoint not seen yet, watched from {from}",
        { count: this.#openIds(), from: this.#holes[0]?.lo },
      );
    }
  }

  /** A page as the loop writes it: with the holes it opens, stored in its transaction. */
  forPage(projected: Projected): Projected {
    const { fetched, result } = projected;
    if (result.empty && !this.#dirty) return projected;
    const opened = result.empty
      ? []
      : holesOfPage(result.from, result.to, usableIds(fetched.events), this.#now());
    const { holes, dropped } = addHoles(this.#holes, opened);
    if (dropped > 0) {
      this.#options.logger.warn(
        "Late events: more than {max} runs of unseen EventIds are open; {dropped} of the oldest are given up",
        { max: holes.length, dropped },
      );
    }
    return { ...projected, result: this.#withHoles(result, holes, []) };
  }

  /**
   * Late events in a page that was not asked for them (a stream source brings them after higher
   * EventIds; an API that ignores FromEventId sends them again): their own write, or null.
   */
  inPage(page: FetchedPage, checkpoint: number): Projected | null {
    if (this.#holes.length === 0) return null;
    if (!usableIds(page.events).some((id) => id <= checkpoint && this.#isOpen(id))) return null;
    return this.#late(page, checkpoint, null);
  }

  /** The write went through: its holes are the open ones now; found late events are said. */
  committed(result: PageResult, write: PageWrite): void {
    const late = result.late;
    if (late === undefined) return;
    const before = this.#holes;
    this.#holes = decodeHoles(late.holes);
    this.#checkpoint = Math.max(this.#checkpoint, result.to);
    this.#dirty = false;
    if (late.found.length > 0) {
      const nowMs = this.#now();
      const rejected = new Set(write.rejected.map((r) => r.eventId));
      for (const eventId of late.found) {
        const hole = holeOf(before, eventId);
        const properties = {
          eventId,
          lateMs: hole === null ? null : Math.max(0, nowMs - hole.sinceMs),
          outcome: rejected.has(eventId) ? "rejected" : "applied",
        };
        this.#options.logger.info(
          rejected.has(eventId)
            ? "Late event {eventId} rejected: visible {lateMs} ms after a higher EventId was first read"
            : "Late event {eventId} applied: visible {lateMs} ms after a higher EventId was first read",
          properties,
        );
      }
      this.#options.hooks?.lateEvents(late.found.length);
    }
    this.#options.hooks?.settled(this.settled);
  }

  /**
   * After a page: re-read the head when one is due and write what it finds (`write` returns
   * false when the write failed: the holes stay open, the next re-read tries again). Resolves
   * false when `signal` aborted.
   */
  async afterPage(
    after: AfterPage,
    checkpoint: number,
    source: PageSource,
    signal: AbortSignal,
    write: (projected: Projected) => Promise<boolean>,
  ): Promise<boolean> {
    this.#checkpoint = checkpoint;
    this.#expire();
    if (this.#options.reread && this.#holes.length > 0 && this.#due(after)) {
      if (!await this.#rereadOnce(checkpoint, source, signal, write)) return false;
    }
    if (this.#dirty && after !== "go on") {
      // Holes settled by age and no page to carry them: a write of their own.
      await write(this.#stateOnly(checkpoint));
    }
    return !signal.aborted;
  }

  /**
   * Whether a re-read is due now: while catching up, after {@link PAGES_PER_REREAD} full pages;
   * at the head, once the poll interval has passed since the last one; at the end of a
   * `--drain`, one.
   */
  #due(after: AfterPage): boolean {
    if (after === "go on") return ++this.#pagesSinceReread >= PAGES_PER_REREAD;
    if (after === "drained") return true;
    return performance.now() - this.#lastRereadMs >= this.#options.pollIntervalMs;
  }

  /** One re-read from the next open hole; false when `signal` aborted. */
  async #rereadOnce(
    checkpoint: number,
    source: PageSource,
    signal: AbortSignal,
    write: (projected: Projected) => Promise<boolean>,
  ): Promise<boolean> {
    const from = rereadFrom(this.#holes, this.#cursor);
    if (from === null) return true;
    this.#pagesSinceReread = 0;
    this.#lastRereadMs = performance.now();
    const startedMs = this.#now();
    let page: FetchedPage;
    try {
      page = await source.fetchPage(from, signal);
    } catch (error) {
      if (signal.aborted) return false;
      throw error;
    }
    const projected = this.#late(page, checkpoint, { from, startedMs });
    if (projected !== null) await write(projected);
    this.#options.logger.debug(
      "Read again from {from}: {events} events, {found} late, {openRuns} runs still open ({ms} ms)",
      {
        from,
        events: page.events.length,
        found: projected?.result.late?.found.length ?? 0,
        openRuns: this.#holes.length,
        ms: Math.round((performance.now() - this.#lastRereadMs) * 100) / 100,
      },
    );
    return !signal.aborted;
  }

  /**
   * The write for a page read again (`reread` set: the holes it covered settle when old
   * enough) or a page that brought late events: the late events, the holes left. Null when it
   * changes nothing.
   */
  #late(
    page: FetchedPage,
    checkpoint: number,
    reread: { from: number; startedMs: number } | null,
  ): Projected | null {
    const started = performance.now();
    const result = projectLate(
      checkpoint,
      page.events,
      (id) => this.#isOpen(id),
      page.typeLength,
    );
    const found = [
      ...new Set(
        usableIds(page.events).filter((id) => id <= checkpoint && this.#isOpen(id)),
      ),
    ].sort((a, b) => a - b);
    let holes = fillHoles(this.#holes, found);
    if (reread !== null) {
      // A short page shows everything from `from` on; a full one up to its last EventId.
      const end = page.full ? pageEnd(reread.from - 1, page.events) : Infinity;
      const to = Math.min(end, checkpoint);
      if (to >= reread.from) {
        holes = settleCovered(holes, reread.from, to, reread.startedMs, this.#options.windowMs)
          .holes;
      }
      this.#cursor = page.full ? Math.max(end, reread.from) + 1 : 0;
    }
    const changed = found.length > 0 || encodeHoles(holes) !== encodeHoles(this.#holes);
    if (!changed && result.rejections.length === 0 && !this.#dirty) return null;
    return {
      fetched: page,
      result: this.#withHoles(result, holes, found),
      projectMs: performance.now() - started,
      waitMs: 0,
    };
  }

  /** A write that only stores the holes (some settled by age). */
  #stateOnly(checkpoint: number): Projected {
    const page: FetchedPage = { from: checkpoint + 1, events: [], full: false, attempts: 0, ms: 0 };
    const result = projectLate(checkpoint, [], () => false);
    return {
      fetched: page,
      result: this.#withHoles(result, this.#holes, []),
      projectMs: 0,
      waitMs: 0,
    };
  }

  /** Settle the holes older than the give-up age (two windows with re-reads, one without). */
  #expire(): void {
    const giveUpMs = this.#options.windowMs * (this.#options.reread ? 2 : 1);
    const { holes, settled } = expireHoles(this.#holes, this.#now(), giveUpMs);
    if (settled > 0) {
      this.#holes = holes;
      this.#dirty = true;
    }
  }

  #withHoles(result: PageResult, holes: readonly Hole[], found: readonly number[]): PageResult {
    return {
      ...result,
      late: {
        found,
        holes: encodeHoles(holes),
        settled: settledMark(holes, Math.max(this.#checkpoint, result.to)),
      },
    };
  }

  #isOpen(eventId: number): boolean {
    return holeOf(this.#holes, eventId) !== null;
  }

  #openIds(): number {
    return this.#holes.reduce((n, h) => n + h.hi - h.lo + 1, 0);
  }
}
