/**
 * The one gate between the worker loop and whatever hands committed pages on (the relay, when
 * NATS_URL is set). It answers, in one place, "when may the next page be written" (ingest pauses
 * while the outbox is full) and "when has `--drain` finished" (everything committed is handed
 * on). The loop declares it; the relay implements it; with nothing downstream, {@link OPEN_GATE}.
 *
 * @example The open gate: always room, nothing to wait for
 * ```ts
 * import assert from "node:assert/strict";
 * import { OPEN_GATE } from "./gate.ts";
 *
 * assert.equal(await OPEN_GATE.waitForRoom(new AbortController().signal), true);
 * assert.equal(await OPEN_GATE.waitForRoom(AbortSignal.abort()), false);
 * await OPEN_GATE.drained(new AbortController().signal); // at once
 * await OPEN_GATE.active(true); // nothing to start
 * ```
 *
 * @module
 */

import type { PageWrite } from "../store/store.ts";

/** What the loop asks of the stage after the store. */
export interface PageGate {
  /**
   * This instance became active (`true`: it holds the feed lock): start handing pages on; or it
   * stopped being active (`false`: it lost the lock): stop handing pages on until it is active
   * again. Resolves once that is done.
   */
  active(held: boolean): Promise<void>;
  /** Resolves true when the next page may be written; false when the signal aborts first. */
  waitForRoom(signal: AbortSignal): Promise<boolean>;
  /** A page committed: what it wrote, and the checkpoint it moved to. */
  pageCommitted(write: PageWrite, checkpoint: number): void;
  /** With `--drain`: resolves once everything committed is handed on, or when the signal aborts. */
  drained(signal: AbortSignal): Promise<void>;
}

/** The gate when nothing stands after the store: always room, nothing to wait for. */
export const OPEN_GATE: PageGate = Object.freeze({
  active(): Promise<void> {
    return Promise.resolve();
  },
  waitForRoom(signal: AbortSignal): Promise<boolean> {
    return Promise.resolve(!signal.aborted);
  },
  pageCommitted(): void {},
  drained(): Promise<void> {
    return Promise.resolve();
  },
});
