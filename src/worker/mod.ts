/**
 * The worker loop, as the rest of the program uses it: {@link runLoop} with its options and
 * summary, the {@link PageGate} a downstream stage implements (or {@link OPEN_GATE}), and the
 * {@link LoopEvents} hooks a monitor implements. The lock keeper, the prefetcher and the progress
 * lines are the loop's own.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OPEN_GATE } from "./mod.ts";
 *
 * // With nothing after the store, there is always room for the next page.
 * assert.equal(await OPEN_GATE.waitForRoom(new AbortController().signal), true);
 * ```
 *
 * @module
 */

export { type LoopOptions, type LoopPage, type LoopSummary, runLoop } from "./loop.ts";
export { OPEN_GATE, type PageGate } from "./gate.ts";
export type { LoopEvents, Step } from "./events.ts";
