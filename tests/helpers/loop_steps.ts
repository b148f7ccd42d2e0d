/**
 * Loop hooks that keep the steps the loop enters, in order, and ignore the rest: what a test of
 * the loop's health (which step a wait or a request happens in) reads.
 */
import type { LoopEvents, Step } from "../../src/worker/mod.ts";

/** The hooks, and the steps entered so far. */
export function stepRecorder(): { readonly steps: Step[]; readonly events: LoopEvents } {
  const steps: Step[] = [];
  const events: LoopEvents = {
    step: (step) => void steps.push(step),
    retry: () => {},
    pageWritten: () => {},
    writeFailed: () => {},
    lock: () => {},
    checkpoint: () => {},
  };
  return { steps, events };
}
