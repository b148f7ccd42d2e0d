/**
 * The OpenTelemetry export's metric (docs/telemetry.md): what the collector did not take, as the
 * export watch estimates it, so that an alert can say so where nobody reads the logs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import client from "prom-client";
 * import { telemetryDroppedCounter } from "./telemetry_metrics.ts";
 *
 * const registry = new client.Registry();
 * const dropped = telemetryDroppedCounter(registry);
 * dropped(12, 3);
 * assert.match(await registry.metrics(), /^scan_worker_telemetry_dropped_total\{signal="spans"\} 12$/m);
 * ```
 *
 * @module
 */

import client from "prom-client";

/**
 * `scan_worker_telemetry_dropped_total{signal="spans"|"logs"}` in `registry`; returns the export
 * watch's `dropped` hook that counts into it.
 */
export function telemetryDroppedCounter(
  registry: client.Registry,
): (spans: number, logs: number) => void {
  const dropped = new client.Counter({
    name: "scan_worker_telemetry_dropped_total",
    help:
      "The worker's own spans and log records handed to the OpenTelemetry export while the collector did not take exports (an estimate: see docs/telemetry.md).",
    labelNames: ["signal"] as const,
    registers: [registry],
  });
  dropped.inc({ signal: "spans" }, 0);
  dropped.inc({ signal: "logs" }, 0);
  return (spans, logs) => {
    if (spans > 0) dropped.inc({ signal: "spans" }, spans);
    if (logs > 0) dropped.inc({ signal: "logs" }, logs);
  };
}
