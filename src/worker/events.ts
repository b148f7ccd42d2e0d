/**
 * What the loop reports as it goes, for health and metrics. The loop calls these hooks;
 * whoever watches (the ops monitor) implements them.
 *
 * @module
 */

import type { PageResult } from "../domain/project.ts";
import type { PageWrite } from "../store/store.ts";

/** The step the loop is in. "wait" and "standby" are idle by design; the others do I/O. */
export type Step = "start" | "lock" | "fetch" | "write" | "wait" | "standby" | "stopped";

/** The hooks the loop calls. */
export interface LoopEvents {
  /** The loop enters a step. */
  step(step: Step): void;
  /** A failed page write will be retried. */
  retry(kind: "store"): void;
  /** A page was projected and written in `ms`; `write` says what it stored. */
  pageWritten(result: PageResult, write: PageWrite, ms: number): void;
  /** A page write failed. */
  writeFailed(error: unknown): void;
  /** The feed lock was taken or lost. */
  lock(held: boolean): void;
  /** The checkpoint the loop works from (at start and on taking the lock). */
  checkpoint(eventId: number): void;
}
