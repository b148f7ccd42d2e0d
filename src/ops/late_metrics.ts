/**
 * The metrics of late events (docs/rules.md §3.10), in the worker's registry:
 * `scan_worker_late_events_total` and `scan_worker_settled_event_id`.
 *
 * @module
 */

import client from "prom-client";
import type { LateHooks } from "../worker/late.ts";

/**
 * Register the late-event metrics in `registry`; the hooks the late-event watch calls.
 * @example
 * ```ts
 * import client from "prom-client";
 * import { deepStrictEqual } from "node:assert";
 * const registry = new client.Registry();
 * const hooks = lateMetrics(registry);
 * hooks.lateEvents(2);
 * const text = await registry.metrics();
 * deepStrictEqual(text.includes("scan_worker_late_events_total 2"), true);
 * ```
 */
export function lateMetrics(registry: client.Registry): LateHooks {
  const late = new client.Counter({
    name: "scan_worker_late_events_total",
    help:
      "Late events applied or rejected: visible only after higher EventIds were read (LATE_EVENT_WINDOW_MS).",
    registers: [registry],
  });
  let settled = 0;
  new client.Gauge({
    name: "scan_worker_settled_event_id",
    help:
      "The settled mark: every EventId at or below it was seen or is given up; late events are looked for above it.",
    registers: [registry],
    collect(this: client.Gauge) {
      this.set(settled);
    },
  });
  return {
    lateEvents: (count) => late.inc(count),
    settled: (eventId) => {
      settled = eventId;
    },
  };
}
