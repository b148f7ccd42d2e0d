/**
 * Late events (docs/rules.md §3.10), the pure part: which EventIds below the checkpoint the
 * worker has not seen yet (its open holes), which events of a re-read page fill one, when a hole
 * is settled, and the settled mark. No I/O, no clock: times are passed in (epoch milliseconds).
 *
 * A hole is a run of EventIds `lo..hi` that the worker stepped over: a page above them was read
 * at `sinceMs` and none of them was in it. An event of a hole that shows up later is late: it is
 * applied, rejected and published once, and its EventId leaves the hole. A hole is settled (given
 * up) once a re-read that started a whole window after `sinceMs` found it still empty, or, with no
 * re-read, once `sinceMs` is older than the give-up age.
 *
 * @module
 */

/** EventIds `lo..hi` (inclusive) not seen yet, stepped over at `sinceMs`. */
export interface Hole {
  /** The lowest EventId of the run. */
  readonly lo: number;
  /** The highest EventId of the run. */
  readonly hi: number;
  /** When the first higher EventId was read (epoch milliseconds). */
  readonly sinceMs: number;
}

/** The open holes, ascending and disjoint. */
export type Holes = readonly Hole[];

/** No hole open. */
export const NO_HOLES: Holes = Object.freeze([]);

/**
 * At most this many holes stay open; beyond it, the lowest are settled at once (a feed whose
 * EventIds skip many numbers for good, or a very long window). Bounds what every page writes.
 */
export const MAX_HOLES = 200;

/**
 * The holes a page opens: the EventIds in `from+1..to` that are not among `seen` (the page's
 * usable EventIds, accepted or rejected, in any order).
 * @example
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * assertEquals(holesOfPage(10, 15, [11, 12, 15], 7), [{ lo: 13, hi: 14, sinceMs: 7 }]);
 * ```
 */
export function holesOfPage(
  from: number,
  to: number,
  seen: readonly number[],
  sinceMs: number,
): Hole[] {
  // A page's EventIds usually ascend already: then no copy and no sort (a sort of 1000 numbers
  // per page was most of the late-event bookkeeping's time, docs/performance.md).
  const ids = ascending(seen) ? seen : [...new Set(seen)].sort((a, b) => a - b);
  const holes: Hole[] = [];
  let next = from + 1;
  for (const id of ids) {
    if (id <= from) continue;
    if (id > to) break;
    if (id > next) holes.push({ lo: next, hi: id - 1, sinceMs });
    next = id + 1;
  }
  if (next <= to) holes.push({ lo: next, hi: to, sinceMs });
  return holes;
}

/** Whether each of `ids` is greater than the one before it. */
function ascending(ids: readonly number[]): boolean {
  for (let i = 1; i < ids.length; i++) {
    if ((ids[i] as number) <= (ids[i - 1] as number)) return false;
  }
  return true;
}

/**
 * Add the holes of a newer page (all above the open ones) and keep at most `max`: the lowest are
 * settled first. Returns the holes and how many EventIds were settled that way.
 * @example
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * const open = [{ lo: 3, hi: 3, sinceMs: 1 }];
 * assertEquals(addHoles(open, [{ lo: 9, hi: 10, sinceMs: 2 }], 1), {
 *   holes: [{ lo: 9, hi: 10, sinceMs: 2 }],
 *   dropped: 1,
 * });
 * ```
 */
export function addHoles(
  open: Holes,
  added: Holes,
  max: number = MAX_HOLES,
): { holes: Hole[]; dropped: number } {
  const all = [...open, ...added];
  const cut = Math.max(0, all.length - max);
  const dropped = all.slice(0, cut).reduce((n, h) => n + h.hi - h.lo + 1, 0);
  return { holes: all.slice(cut), dropped };
}

/** The index of the hole holding `eventId`, or -1. */
function holeIndex(holes: Holes, eventId: number): number {
  let low = 0;
  let high = holes.length - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const hole = holes[middle] as Hole;
    if (eventId < hole.lo) high = middle - 1;
    else if (eventId > hole.hi) low = middle + 1;
    else return middle;
  }
  return -1;
}

/**
 * The hole holding `eventId`, or null: the event was stepped over and not seen since.
 * @example
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * assertEquals(holeOf([{ lo: 3, hi: 5, sinceMs: 1 }], 4), { lo: 3, hi: 5, sinceMs: 1 });
 * assertEquals(holeOf([{ lo: 3, hi: 5, sinceMs: 1 }], 6), null);
 * ```
 */
export function holeOf(holes: Holes, eventId: number): Hole | null {
  const i = holeIndex(holes, eventId);
  return i < 0 ? null : holes[i] as Hole;
}

/**
 * The holes once `found` EventIds showed up (late events, applied or rejected).
 * @example
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * assertEquals(fillHoles([{ lo: 3, hi: 5, sinceMs: 1 }], [4]), [
 *   { lo: 3, hi: 3, sinceMs: 1 },
 *   { lo: 5, hi: 5, sinceMs: 1 },
 * ]);
 * ```
 */
export function fillHoles(holes: Holes, found: readonly number[]): Hole[] {
  if (found.length === 0) return [...holes];
  const ids = [...new Set(found)].sort((a, b) => a - b);
  const out: Hole[] = [];
  let i = 0;
  for (const hole of holes) {
    while (i < ids.length && (ids[i] as number) < hole.lo) i++;
    let lo = hole.lo;
    while (i < ids.length && (ids[i] as number) <= hole.hi) {
      const id = ids[i++] as number;
      if (id > lo) out.push({ lo, hi: id - 1, sinceMs: hole.sinceMs });
      lo = id + 1;
    }
    if (lo <= hole.hi) out.push({ lo, hi: hole.hi, sinceMs: hole.sinceMs });
  }
  return out;
}

/**
 * The holes once a re-read that started at `startedMs` covered EventIds `from..to` (every event
 * there the API shows was in it) and found nothing more in them: the EventIds stepped over at
 * least `windowMs` before it started are settled. Returns the holes and how many EventIds settled.
 * @example
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * const open = [{ lo: 3, hi: 3, sinceMs: 0 }, { lo: 7, hi: 7, sinceMs: 900 }];
 * assertEquals(settleCovered(open, 1, 10, 1000, 1000), {
 *   holes: [{ lo: 7, hi: 7, sinceMs: 900 }],
 *   settled: 1,
 * });
 * ```
 */
export function settleCovered(
  holes: Holes,
  from: number,
  to: number,
  startedMs: number,
  windowMs: number,
): { holes: Hole[]; settled: number } {
  const kept: Hole[] = [];
  for (const hole of holes) {
    if (hole.hi < from || hole.lo > to || hole.sinceMs + windowMs > startedMs) {
      kept.push(hole);
      continue;
    }
    if (hole.lo < from) kept.push({ ...hole, hi: from - 1 });
    if (hole.hi > to) kept.push({ ...hole, lo: to + 1 });
  }
  return { holes: kept, settled: count(holes) - count(kept) };
}

/**
 * The holes older than `giveUpMs` at `nowMs` settled (a re-read never came, or there is none:
 * the stream as a source). Returns the holes and how many EventIds settled.
 * @example
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * assertEquals(expireHoles([{ lo: 3, hi: 4, sinceMs: 0 }], 500, 500), { holes: [], settled: 2 });
 * ```
 */
export function expireHoles(
  holes: Holes,
  nowMs: number,
  giveUpMs: number,
): { holes: Hole[]; settled: number } {
  const kept = holes.filter((h) => h.sinceMs + giveUpMs > nowMs);
  return { holes: kept, settled: count(holes) - count(kept) };
}

/**
 * The holes at or below `checkpoint` (a checkpoint moved back by `reset` reads the rest again as
 * new pages).
 * @example
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * assertEquals(clipHoles([{ lo: 3, hi: 9, sinceMs: 1 }], 5), [{ lo: 3, hi: 5, sinceMs: 1 }]);
 * ```
 */
export function clipHoles(holes: Holes, checkpoint: number): Hole[] {
  return holes.flatMap((h) =>
    h.lo > checkpoint ? [] : h.hi > checkpoint ? [{ ...h, hi: checkpoint }] : [h]
  );
}

/** How many EventIds the holes hold. */
function count(holes: Holes): number {
  return holes.reduce((n, h) => n + h.hi - h.lo + 1, 0);
}

/**
 * The settled mark: every EventId at or below it was seen or is given up for good; the worker
 * looks again only above it. The lowest open EventId less one, or the checkpoint when none is
 * open.
 * @example
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * assertEquals(settledMark([{ lo: 41, hi: 41, sinceMs: 1 }], 100), 40);
 * assertEquals(settledMark([], 100), 100);
 * ```
 */
export function settledMark(holes: Holes, checkpoint: number): number {
  const first = holes[0];
  return first === undefined ? checkpoint : Math.min(checkpoint, first.lo - 1);
}

/**
 * Where the next re-read starts: the lowest open EventId at or above `cursor` (where the last
 * re-read stopped), or the lowest of all when none is (a new round). Null when no hole is open.
 * @example
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * const open = [{ lo: 3, hi: 5, sinceMs: 1 }, { lo: 9, hi: 9, sinceMs: 1 }];
 * assertEquals(rereadFrom(open, 4), 4);
 * assertEquals(rereadFrom(open, 6), 9);
 * assertEquals(rereadFrom(open, 10), 3);
 * ```
 */
export function rereadFrom(holes: Holes, cursor: number): number | null {
  for (const hole of holes) {
    if (hole.hi >= cursor) return Math.max(hole.lo, cursor);
  }
  return holes[0]?.lo ?? null;
}

/**
 * The usable EventIds among raw events (a positive safe integer `EventId` on an object), as
 * the projection reads them; the page's seen EventIds, rejected ones included.
 * @example
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * assertEquals(usableIds([{ EventId: 4 }, { EventId: "5" }, null, { EventId: 2 }]), [4, 2]);
 * ```
 */
export function usableIds(rawEvents: readonly unknown[]): number[] {
  const ids: number[] = [];
  for (const raw of rawEvents) {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) continue;
    const id = (raw as Record<string, unknown>).EventId;
    if (typeof id === "number" && Number.isSafeInteger(id) && id >= 1) ids.push(id);
  }
  return ids;
}

/**
 * The holes as stored in the page's transaction: `[[lo, hi, sinceMs], …]`.
 * @example
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * assertEquals(encodeHoles([{ lo: 3, hi: 5, sinceMs: 7 }]), "[[3,5,7]]");
 * ```
 */
export function encodeHoles(holes: Holes): string {
  return JSON.stringify(holes.map((h) => [h.lo, h.hi, h.sinceMs]));
}

/**
 * The holes read back from the store (null, before the first page with late events on: none).
 * @throws Error naming what is wrong when the text is not what {@link encodeHoles} writes.
 * @example
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * assertEquals(decodeHoles("[[3,5,7]]"), [{ lo: 3, hi: 5, sinceMs: 7 }]);
 * assertEquals(decodeHoles(null), []);
 * ```
 */
export function decodeHoles(text: string | null): Hole[] {
  if (text === null || text === "") return [];
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`the stored late-event holes are not JSON: ${(error as Error).message}`);
  }
  const isWhole = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n);
  if (!Array.isArray(value)) throw new Error("the stored late-event holes are not a list");
  const holes: Hole[] = [];
  for (const item of value) {
    const [lo, hi, sinceMs] = Array.isArray(item) && item.length === 3 && item.every(isWhole)
      ? item as [number, number, number]
      : [0, 0, 0];
    if (lo < 1 || hi < lo || (holes.at(-1)?.hi ?? 0) >= lo) {
      throw new Error(`the stored late-event holes hold a bad entry: ${JSON.stringify(item)}`);
    }
    holes.push({ lo, hi, sinceMs });
  }
  return holes;
}
