/**
 * What the worker is doing, for people and for Prometheus: the loop and the API client report
 * into one {@link WorkerMonitor} through the hooks they declare (`LoopEvents`, `ClientEvents`);
 * it keeps the health state (current step, last poll, lock) and the `scan_worker_*` metrics.
 *
 * @module
 */

import client from "prom-client";
import type { ClientEvents, RequestOutcome } from "../api/client.ts";
import type { PageResult } from "../domain/project.ts";
import { epochMs } from "../domain/timestamps.ts";
import type { PageWrite } from "../store/store.ts";
import type { LoopEvents, Step } from "../worker/events.ts";
import type { LinkEvents } from "../nats/mod.ts";
import type { RelayEvents } from "../relay/mod.ts";

/** A health or readiness verdict. */
export interface Verdict {
  /** 200 or 503. */
  readonly ok: boolean;
  /** Why, for the JSON body. */
  readonly reason: string;
  /** Extra figures for the body. */
  readonly details: Record<string, unknown>;
}

/** Thresholds of the verdicts. */
export interface MonitorOptions {
  /** A step that does I/O for longer than this makes /healthz 503. */
  readonly stuckAfterMs: number;
  /** /readyz needs a successful poll within this long. */
  readonly pollFreshMs: number;
  /** The clock (ms since the epoch); tests pass their own. */
  readonly now?: () => number;
}

const BUSY_STEPS: ReadonlySet<Step> = new Set(["start", "lock", "fetch", "write"]);

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

/** The worker's live state and metrics. */
export class WorkerMonitor implements ClientEvents, LoopEvents, RelayEvents, LinkEvents {
  /** The Prometheus registry (`scan_worker_*` and process metrics). */
  readonly registry: client.Registry = new client.Registry();
  readonly #options: MonitorOptions;
  readonly #now: () => number;
  #step: Step = "start";
  #stepSince: number;
  #lastPollOkAt: number | null = null;
  #lastPollFailed: string | null = null;
  #lastWriteFailed: string | null = null;
  #lockHeld = false;
  #newestEventMs: number | null = null;
  #checkpoint = 0;

  readonly #eventsApplied = this.#counter(
    "scan_worker_events_applied_total",
    "Valid events above the checkpoint applied to parcel states.",
  );
  readonly #eventsRejected = this.#counter(
    "scan_worker_events_rejected_total",
    "Events rejected and newly kept in RejectedEvents (one already stored is not counted again).",
  );
  readonly #eventsSkipped = this.#counter(
    "scan_worker_events_skipped_total",
    "Events skipped as duplicates: at or below the checkpoint, or repeated in a page.",
  );
  readonly #pages = this.#counter(
    "scan_worker_pages_total",
    "Pages written (each in one transaction).",
  );
  readonly #pageSeconds = new client.Histogram({
    name: "scan_worker_page_duration_seconds",
    help: "Time to project and write one page.",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly #requests = new client.Counter({
    name: "scan_worker_api_requests_total",
    help: "Scan Event API requests by outcome.",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });
  readonly #requestSeconds = new client.Histogram({
    name: "scan_worker_api_request_duration_seconds",
    help: "Scan Event API request time, body included, by outcome.",
    labelNames: ["outcome"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  /** The relay's state, when it runs. */
  #relay: { connected: boolean; rows: number; lagSeconds: number; paused: boolean } | null = null;
  readonly #relayPublished = this.#counter(
    "scan_worker_relay_published_total",
    "Events the stream acknowledged (duplicates included).",
  );
  readonly #relayDuplicates = this.#counter(
    "scan_worker_relay_duplicates_total",
    "Events the broker reported as duplicates (it already held them).",
  );
  readonly #relayResyncs = this.#counter(
    "scan_worker_relay_resyncs_total",
    "Times the relay read the stream's end to find where to go on.",
  );
  readonly #relayErrors = new client.Counter({
    name: "scan_worker_relay_errors_total",
    help: "Failed publishes and outbox calls, by cause.",
    labelNames: ["cause"] as const,
    registers: [this.registry],
  });
  readonly #relayAckSeconds = new client.Histogram({
    name: "scan_worker_relay_commit_to_ack_seconds",
    help: "Time from a page's commit to the broker's ack of its last event.",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly #retries = new client.Counter({
    name: "scan_worker_retries_total",
    help: "Retries after a failed API request or page write.",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });

  /** @param options verdict thresholds. */
  constructor(options: MonitorOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#stepSince = this.#now();
    // Process and runtime metrics under their standard names (process_resident_memory_bytes, …),
    // as every dashboard and alert rule expects them; the worker's own carry scan_worker_.
    client.collectDefaultMetrics({ register: this.registry });
    for (const name of UNMEASURABLE) this.registry.removeSingleMetric(name);
    this.#gauge(
      "process_resident_memory_bytes",
      "Resident memory size in bytes.",
      () => Deno.memoryUsage().rss,
    );
    const age = (ms: number | null) => (ms === null ? Number.NaN : (this.#now() - ms) / 1000);
    this.#gauge(
      "scan_worker_checkpoint_event_id",
      "The last EventId whose page is stored.",
      () => this.#checkpoint,
    );
    this.#gauge(
      "scan_worker_newest_event_age_seconds",
      "Now minus the CreatedDateTimeUtc of the newest applied event (lag behind the couriers).",
      () => age(this.#newestEventMs),
    );
    this.#gauge(
      "scan_worker_last_successful_poll_age_seconds",
      "Seconds since the Scan Event API last answered with a page.",
      () => age(this.#lastPollOkAt),
    );
    this.#gauge(
      "scan_worker_outbox_rows",
      "Accepted events waiting in the outbox to be published.",
      () => this.#relay?.rows ?? 0,
    );
    this.#gauge(
      "scan_worker_relay_lag_seconds",
      "How long the oldest event in the outbox has waited to be published (0 when none).",
      () => this.#relay?.lagSeconds ?? 0,
    );
    this.#gauge(
      "scan_worker_relay_connected",
      "1 while the relay is connected to NATS, else 0.",
      () => (this.#relay?.connected ? 1 : 0),
    );
    this.#gauge(
      "scan_worker_ingest_paused",
      "1 while ingest waits because the outbox is full (OUTBOX_MAX_ROWS), else 0.",
      () => (this.#relay?.paused ? 1 : 0),
    );
    this.#gauge(
      "scan_worker_feed_lock_held",
      "1 while this instance holds the feed lock (is the active worker), else 0.",
      () => (this.#lockHeld ? 1 : 0),
    );
  }

  /** A counter in this monitor's registry. */
  #counter(name: string, help: string): client.Counter {
    return new client.Counter({ name, help, registers: [this.registry] });
  }

  /** A gauge in this monitor's registry whose value is read when it is scraped. */
  #gauge(name: string, help: string, value: () => number): void {
    new client.Gauge({
      name,
      help,
      registers: [this.registry],
      collect(this: client.Gauge) {
        this.set(value());
      },
    });
  }

  /** Record the checkpoint (at start and after each page). */
  checkpoint(eventId: number): void {
    this.#checkpoint = eventId;
  }

  step(step: Step): void {
    if (step !== this.#step) this.#stepSince = this.#now();
    this.#step = step;
  }

  request(outcome: RequestOutcome, ms: number): void {
    this.#requests.inc({ outcome });
    this.#requestSeconds.observe({ outcome }, ms / 1000);
    if (outcome === "ok") {
      this.#lastPollOkAt = this.#now();
      this.#lastPollFailed = null;
    } else {
      this.#lastPollFailed = outcome;
    }
  }

  retry(kind: "api" | "store"): void {
    this.#retries.inc({ kind });
  }

  pageWritten(result: PageResult, write: PageWrite, ms: number): void {
    this.#lastWriteFailed = null;
    this.#eventsApplied.inc(result.applied);
    this.#eventsRejected.inc(write.rejected.length);
    this.#eventsSkipped.inc(result.skipped);
    if (result.empty) return;
    this.#pages.inc();
    this.#pageSeconds.observe(ms / 1000);
    this.#checkpoint = result.to;
    let newest: { lastEventId: number; createdDateTimeUtc: string } | null = null;
    for (const change of result.changes) {
      if (newest === null || change.lastEventId > newest.lastEventId) newest = change;
    }
    if (newest !== null) this.#newestEventMs = epochMs(newest.createdDateTimeUtc);
  }

  writeFailed(error: unknown): void {
    this.#lastWriteFailed = String(error);
  }

  lock(held: boolean): void {
    this.#lockHeld = held;
  }

  #relayState() {
    this.#relay ??= { connected: false, rows: 0, lagSeconds: 0, paused: false };
    return this.#relay;
  }

  connected(up: boolean): void {
    this.#relayState().connected = up;
  }

  backlog(rows: number, lagSeconds: number): void {
    Object.assign(this.#relayState(), { rows, lagSeconds });
  }

  published(count: number, duplicates: number): void {
    this.#relayPublished.inc(count);
    this.#relayDuplicates.inc(duplicates);
  }

  committedToAcked(seconds: number): void {
    this.#relayAckSeconds.observe(seconds);
  }

  resynced(): void {
    this.#relayResyncs.inc();
  }

  failed(cause: string): void {
    this.#relayErrors.inc({ cause });
  }

  paused(paused: boolean): void {
    this.#relayState().paused = paused;
  }

  /**
   * Liveness: ok while the loop moves or waits by design; not ok when one I/O step (a request,
   * a write, a lock call) has lasted longer than `stuckAfterMs`.
   */
  health(): Verdict {
    const seconds = (this.#now() - this.#stepSince) / 1000;
    const details = { step: this.#step, stepSeconds: Math.round(seconds * 10) / 10 };
    if (BUSY_STEPS.has(this.#step) && seconds * 1000 > this.#options.stuckAfterMs) {
      return {
        ok: false,
        reason: `stuck in step "${this.#step}" for ${Math.round(seconds)} s`,
        details,
      };
    }
    return { ok: true, reason: "alive", details };
  }

  /**
   * Readiness: the database answered (`databaseError` null) and the last poll succeeded within
   * `pollFreshMs`. A standby instance is ready when its database answers.
   */
  readiness(databaseError: string | null): Verdict {
    const pollAge = this.#lastPollOkAt === null ? null : (this.#now() - this.#lastPollOkAt) / 1000;
    const details = {
      role: this.#lockHeld ? "active" : this.#step === "standby" ? "standby" : "starting",
      checkpoint: this.#checkpoint,
      lastSuccessfulPollAgeSeconds: pollAge,
      ...(this.#relay === null ? {} : { relay: { ...this.#relay } }),
    };
    if (databaseError !== null) {
      return { ok: false, reason: `database unreachable: ${databaseError}`, details };
    }
    if (this.#relay?.paused) {
      return {
        ok: false,
        reason: `ingest paused: the outbox is full (${this.#relay.rows} rows, OUTBOX_MAX_ROWS)`,
        details,
      };
    }
    if (this.#lastWriteFailed !== null) {
      return { ok: false, reason: `last page write failed: ${this.#lastWriteFailed}`, details };
    }
    if (this.#step === "standby") return { ok: true, reason: "standing by", details };
    if (this.#lastPollFailed !== null) {
      return { ok: false, reason: `last poll failed (${this.#lastPollFailed})`, details };
    }
    if (pollAge === null || pollAge * 1000 > this.#options.pollFreshMs) {
      return {
        ok: false,
        reason: pollAge === null
          ? "no successful poll yet"
          : `no successful poll for ${Math.round(pollAge)} s`,
        details,
      };
    }
    return { ok: true, reason: "ready", details };
  }
}
