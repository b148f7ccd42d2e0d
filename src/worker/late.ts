/**
 * Late events, the loop's part (docs/rules.md §3.10): keeps the open holes, adds each page's
 * holes to the page's write, has the feed's recent head read again when due (`reread.ts` says
 * when and where), and writes the late events found (and the holes settled) in a transaction of
 * their own, after the page that found them.
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
  settleCovered,
  settledMark,
  usableIds,
} from "../domain/late.ts";
import { type PageResult, projectLate } from "../domain/project.ts";
import type { PageWrite } from "../store/store.ts";
import type { FetchedPage, PageSource } from "../source.ts";
import type { ProjectedPage } from "./prefetch.ts";
import { type AfterPage, HeadRereads, type Reread } from "./reread.ts";

/** A page as the loop writes it: fetched, and projected. */
type Projected = ProjectedPage<PageResult>;

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

/** At most one warning per minute that runs of unseen EventIds were given up for want of room. */
export const GIVEN_UP_WARN_MS = 60_000;

/** The late-event watch of one loop. */
export class LateWatch {
  readonly #options: LateOptions;
  readonly #now: () => number;
  /** The re-reads of the head: null for a source that brings late events by itself. */
  readonly #rereads: HeadRereads | null;
  #holes: Hole[] = [];
  #checkpoint = 0;
  /** Holes changed since the last write (expired): the next write, or a write of its own, stores them. */
  #dirty = false;
  /** Runs given up for want of room since the last warning, and when that was (epoch ms). */
  #givenUp = { runs: 0, warnedAt: -Infinity };

  /** @param options the window, whether to re-read, logging and metrics. */
  constructor(options: LateOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#rereads = options.reread ? new HeadRereads(options.pollIntervalMs) : null;
  }

  /** Start from what the store holds (`holes` as stored, null when none yet) at `checkpoint`. */
  load(holes: string | null, checkpoint: number): void {
    const stored = decodeHoles(holes);
    this.#holes = clipHoles(stored, checkpoint);
    this.#checkpoint = checkpoint;
    this.#dirty = this.#holes.length !== stored.length;
    this.#options.hooks?.settled(settledMark(this.#holes, this.#checkpoint));
    if (this.#holes.length > 0) {
      this.#options.logger.info(
        "Late events: {count} EventIds below the checkpoint not seen yet, watched from {from}",
        { count: openIds(this.#holes), from: this.#holes[0]?.lo },
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
    if (dropped > 0) this.#gaveUp(dropped, holes.length);
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
    this.#options.hooks?.settled(settledMark(this.#holes, this.#checkpoint));
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
    if (this.#rereads !== null && this.#holes.length > 0 && this.#rereads.due(after)) {
      const read = await this.#rereads.read(this.#holes, checkpoint, this.#now(), source, signal);
      if (read !== null) await this.#writeReread(read, checkpoint, write);
      if (signal.aborted) return false;
    }
    if (this.#dirty && after !== "go on") {
      // Holes settled by age and no page to carry them: a write of their own.
      await write(this.#stateOnly(checkpoint));
    }
    return !signal.aborted;
  }

  /** What a re-read found, written (when it changes anything), and said at debug. */
  async #writeReread(
    read: Reread,
    checkpoint: number,
    write: (projected: Projected) => Promise<boolean>,
  ): Promise<void> {
    const projected = this.#late(read.page, checkpoint, read.covered);
    if (projected !== null) await write(projected);
    this.#options.logger.debug(
      "Read again from {from}: {events} events, {found} late, {openRuns} runs still open ({ms} ms)",
      {
        from: read.covered.from,
        events: read.page.events.length,
        found: projected?.result.late?.found.length ?? 0,
        openRuns: this.#holes.length,
        ms: Math.round((performance.now() - read.began) * 100) / 100,
      },
    );
  }

  /**
   * The write for a page read again (`covered` set: the holes it showed in full settle when
   * old enough) or a page that brought late events: the late events, the holes left. Null when
   * it changes nothing.
   */
  #late(
    page: FetchedPage,
    checkpoint: number,
    covered: Reread["covered"] | null,
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
    if (covered !== null && covered.to >= covered.from) {
      const { from, to, startedMs } = covered;
      holes = settleCovered(holes, from, to, startedMs, this.#options.windowMs).holes;
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

  /**
   * Runs of unseen EventIds given up because more than `max` are open: said at most once per
   * {@link GIVEN_UP_WARN_MS}, with how many since the last line (a feed with many rejected or
   * unreadable EventIds would otherwise warn on every page).
   */
  #gaveUp(dropped: number, max: number): void {
    const givenUp = this.#givenUp;
    givenUp.runs += dropped;
    const now = this.#now();
    if (now - givenUp.warnedAt < GIVEN_UP_WARN_MS) return;
    this.#options.logger.warn(
      "Late events: more than {max} runs of unseen EventIds are open; {dropped} of the oldest given up since the last such line",
      { max, dropped: givenUp.runs },
    );
    givenUp.runs = 0;
    givenUp.warnedAt = now;
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
}

/** How many EventIds the holes leave open. */
function openIds(holes: readonly Hole[]): number {
  return holes.reduce((n, h) => n + h.hi - h.lo + 1, 0);
}
