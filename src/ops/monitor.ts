/**
 * What the worker is doing, for Prometheus and for `/healthz` and `/readyz`. The loop, the page
 * sources, the relay and the broker link report through the hooks they declare (`LoopEvents`,
 * `ClientEvents`, `StreamSourceEvents`, `RelayEvents`, `LinkEvents`); one {@link WorkerMonitor}
 * implements them, keeps the `scan_worker_*` metrics, and feeds its {@link WorkerHealth}, which
 * gives the verdicts. The relay's part is its {@link WorkerMonitor.relay} (relay_metrics.ts),
 * which the relay is handed.
 *
 * @example A page written, as the loop reports it, and what a scrape then reads
 * ```ts
 * import assert from "node:assert/strict";
 * import { projectPage } from "../domain/project.ts";
 * import { WorkerMonitor } from "./monitor.ts";
 *
 * const monitor = new WorkerMonitor({ stuckAfterMs: 60_000, pollFreshMs: 30_000 });
 * const result = projectPage(0, [
 *   { EventId: 1, ParcelId: 7, Type: "PICKUP", CreatedDateTimeUtc: "2021-05-11T09:00:00Z" },
 * ]);
 * monitor.pageWritten(result, { rejected: [], outboxed: 0 }, 4);
 * const text = await monitor.registry.metrics();
 * assert.match(text, /^scan_worker_events_applied_total 1$/m);
 * assert.match(text, /^scan_worker_checkpoint_event_id 1$/m);
 * assert.equal(monitor.health.readiness(null).reason, "no successful poll yet");
 * ```
 *
 * @module
 */

import client from "prom-client";
import type { ClientEvents, RequestOutcome } from "../api/mod.ts";
import type { PageResult } from "../domain/project.ts";
import { epochMs } from "../domain/timestamps.ts";
import type { PageWrite } from "../store/store.ts";
import type { LoopEvents, Step } from "../worker/mod.ts";
import type { LinkEvents } from "../nats/mod.ts";
import type { StreamSourceEvents } from "../stream/mod.ts";
import { counter, gauge } from "./_registry.ts";
import { type HealthOptions, WorkerHealth } from "./health.ts";
import { RelayMetrics } from "./relay_metrics.ts";

/**
 * Default metrics that would read 0 for ever under Deno, so they are not exported at all: Deno
 * refuses reads of /proc without --allow-all (resident and virtual memory, heap, file
 * descriptors: the resident memory comes from Deno.memoryUsage() instead), and has no lists of
 * active handles and requests or of V8 heap spaces.
 */
const UNMEASURABLE = [
  "process_resident_memory_bytes",
  "process_virtual_memory_bytes",
  "process_heap_bytes",
  "process_open_fds",
  "process_max_fds",
  "nodejs_active_handles",
  "nodejs_active_handles_total",
  "nodejs_active_requests",
  "nodejs_active_requests_total",
  "nodejs_heap_space_size_total_bytes",
  "nodejs_heap_space_size_used_bytes",
  "nodejs_heap_space_size_available_bytes",
];

/** The loop's and the API client's counters and histograms. */
function pageMetrics(registry: client.Registry) {
  return {
    applied: counter(
      registry,
      "scan_worker_events_applied_total",
      "Valid events above the checkpoint applied to parcel states.",
    ),
    rejected: counter(
      registry,
      "scan_worker_events_rejected_total",
      "Events rejected and newly kept in RejectedEvents (one already stored is not counted again).",
    ),
    skipped: counter(
      registry,
      "scan_worker_events_skipped_total",
      "Events skipped as duplicates: at or below the checkpoint, or repeated in a page.",
    ),
    pages: counter(registry, "scan_worker_pages_total", "Pages written (each in one transaction)."),
    pageSeconds: new client.Histogram({
      name: "scan_worker_page_duration_seconds",
      help: "Time to project and write one page.",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    requests: new client.Counter({
      name: "scan_worker_api_requests_total",
      help: "Scan Event API requests by outcome.",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
    requestSeconds: new client.Histogram({
      name: "scan_worker_api_request_duration_seconds",
      help: "Scan Event API request time, body included, by outcome.",
      labelNames: ["outcome"] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    retries: new client.Counter({
      name: "scan_worker_retries_total",
      help:
        "Retries after a failed API request (api), read of the stream (stream) or page write (store).",
      labelNames: ["kind"] as const,
      registers: [registry],
    }),
  };
}

/** The process metrics under their standard names, without those Deno cannot measure. */
function processMetrics(registry: client.Registry): void {
  // Process and runtime metrics under their standard names (process_resident_memory_bytes, …),
  // as every dashboard and alert rule expects them; the worker's own carry scan_worker_.
  client.collectDefaultMetrics({ register: registry });
  for (const name of UNMEASURABLE) registry.removeSingleMetric(name);
  // A gauge named like a counter (`promtool check metrics` refuses it); nodejs_active_resources
  // carries the same count by type.
  registry.removeSingleMetric("nodejs_active_resources_total");
  gauge(
    registry,
    "process_resident_memory_bytes",
    "Resident memory size in bytes.",
    () => Deno.memoryUsage().rss,
  );
}

/** The worker's metrics: implements every component's hooks, and feeds the health state. */
export class WorkerMonitor implements ClientEvents, StreamSourceEvents, LoopEvents, LinkEvents {
  /** The Prometheus registry (`scan_worker_*` and process metrics). */
  readonly registry: client.Registry = new client.Registry();
  /** The state behind /healthz and /readyz, and their verdicts. */
  readonly health: WorkerHealth;
  /** The relay's metrics: the hooks the relay reports to (`RelayEvents`, `LinkEvents`). */
  readonly relay: RelayMetrics;
  readonly #pages: ReturnType<typeof pageMetrics>;
  /** CreatedDateTimeUtc of the newest applied event, in ms since the epoch. */
  #newestEventMs: number | null = null;

  /** @param options verdict thresholds. */
  constructor(options: HealthOptions) {
    this.relay = new RelayMetrics(this.registry);
    this.health = new WorkerHealth(options, () => this.relay.state);
    this.#pages = pageMetrics(this.registry);
    processMetrics(this.registry);
    const now = options.now ?? Date.now;
    const age = (ms: number | null) => (ms === null ? Number.NaN : (now() - ms) / 1000);
    const gauges: [string, string, () => number][] = [
      [
        "scan_worker_checkpoint_event_id",
        "The last EventId whose page is stored.",
        () => this.health.state.checkpoint,
      ],
      [
        "scan_worker_newest_event_age_seconds",
        "Now minus the CreatedDateTimeUtc of the newest applied event (lag behind the couriers).",
        () => age(this.#newestEventMs),
      ],
      [
        "scan_worker_last_successful_poll_age_seconds",
        "Seconds since the page source (the Scan Event API, or the stream) last answered.",
        () => age(this.health.state.lastPollOkAt),
      ],
      [
        "scan_worker_feed_lock_held",
        "1 while this instance holds the feed lock (is the active worker), else 0.",
        () => (this.health.state.lockHeld ? 1 : 0),
      ],
    ];
    for (const [name, help, value] of gauges) gauge(this.registry, name, help, value);
  }

  checkpoint(eventId: number): void {
    this.health.checkpoint(eventId);
  }

  step(step: Step): void {
    this.health.step(step);
  }

  request(outcome: RequestOutcome, ms: number): void {
    this.#pages.requests.inc({ outcome });
    this.#pages.requestSeconds.observe({ outcome }, ms / 1000);
    this.health.polled(outcome);
  }

  read(outcome: "ok" | "stream"): void {
    this.health.polled(outcome);
  }

  retry(kind: "api" | "stream" | "store", delayMs?: number): void {
    this.#pages.retries.inc({ kind });
    // A failed page write is waited for by the loop itself (its step "wait").
    if (kind !== "store" && delayMs !== undefined) this.health.retrying(delayMs);
  }

  pageWritten(result: PageResult, write: PageWrite, ms: number): void {
    this.health.wrote(null);
    this.#pages.applied.inc(result.applied);
    this.#pages.rejected.inc(write.rejected.length);
    this.#pages.skipped.inc(result.skipped);
    if (result.empty) return;
    this.#pages.pages.inc();
    this.#pages.pageSeconds.observe(ms / 1000);
    this.health.checkpoint(result.to);
    let newest: { lastEventId: number; createdDateTimeUtc: string } | null = null;
    for (const change of result.changes) {
      if (newest === null || change.lastEventId > newest.lastEventId) newest = change;
    }
    if (newest !== null) this.#newestEventMs = epochMs(newest.createdDateTimeUtc);
  }

  writeFailed(error: unknown): void {
    this.health.wrote(String(error));
  }

  lock(held: boolean): void {
    this.health.lock(held);
  }

  connected(up: boolean): void {
    this.relay.connected(up);
  }

  /** A connection attempt of the stream's link failed: a retry of the stream's. */
  connectFailed(delayMs: number): void {
    this.retry("stream", delayMs);
  }
}
