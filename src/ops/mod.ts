/**
 * What operators see: the {@link WorkerMonitor} (metrics, and the health behind `/healthz` and
 * `/readyz`), the listener that serves them, the `status` report, and the operator commands'
 * helpers (`parcel`, `rejected`, `reset`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WorkerMonitor } from "./mod.ts";
 *
 * const monitor = new WorkerMonitor({ stuckAfterMs: 60_000, pollFreshMs: 30_000 });
 * assert.equal(monitor.health.liveness().reason, "alive");
 * ```
 *
 * @module
 */

export { type OpsServer, type OpsServerOptions, serveOps } from "./http.ts";
export { type HealthOptions, type RelayHealth, type Verdict, WorkerHealth } from "./health.ts";
export { WorkerMonitor } from "./monitor.ts";
export { RelayMetrics } from "./relay_metrics.ts";
export { formatStatus, type StatusReport, statusReport } from "./status.ts";
export * from "./operator.ts";
