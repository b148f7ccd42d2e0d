/**
 * Late events in the simulator (`simulate --late-every N --late-ms M`): every N-th slot of the
 * feed becomes visible only M ms after the slot that follows it, as an API whose database
 * numbers an event when its transaction starts shows an event whose transaction committed late
 * (docs/rules.md §3.10). Pure, no I/O: times are milliseconds since the simulator started.
 *
 * @module
 */

/** How late the simulator is: every `every`-th slot, `ms` after its successor. */
export interface LateShape {
  /** Every this many slots one is late (0: none). */
  readonly every: number;
  /** How long after its successor a late slot becomes visible. */
  readonly ms: number;
}

/** No late events. */
export const NOT_LATE: LateShape = Object.freeze({ every: 0, ms: 0 });

/**
 * Whether a slot is late.
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * deepStrictEqual(isLateSlot({ every: 5, ms: 100 }, 10), true);
 * deepStrictEqual(isLateSlot({ every: 5, ms: 100 }, 11), false);
 * ```
 */
export function isLateSlot(late: LateShape, slot: number): boolean {
  return late.every > 0 && slot % late.every === 0;
}

/**
 * When a slot becomes visible, in ms after the start: the backlog (`events` slots) at 0, then
 * `rate` slots a second; a late slot `late.ms` after the slot after it.
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * deepStrictEqual(visibleAtMs({ every: 5, ms: 100 }, 10, 0, 5), 100);
 * deepStrictEqual(visibleAtMs({ every: 5, ms: 100 }, 10, 2, 12), 1000);
 * ```
 */
export function visibleAtMs(late: LateShape, events: number, rate: number, slot: number): number {
  const plain = (s: number) => s <= events ? 0 : rate > 0 ? ((s - events) / rate) * 1000 : Infinity;
  return isLateSlot(late, slot) ? plain(slot + 1) + late.ms : plain(slot);
}

/**
 * A predicate for the page builder: whether a slot is still hidden at `nowMs`.
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert";
 * const hidden = hiddenAt({ every: 5, ms: 100 }, 10, 0, 50);
 * deepStrictEqual([hidden(5), hidden(6)], [true, false]);
 * ```
 */
export function hiddenAt(
  late: LateShape,
  events: number,
  rate: number,
  nowMs: number,
): (slot: number) => boolean {
  if (late.every === 0) return () => false;
  return (slot) => isLateSlot(late, slot) && visibleAtMs(late, events, rate, slot) > nowMs;
}
