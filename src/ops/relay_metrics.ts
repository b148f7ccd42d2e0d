/**
 * The relay's metrics and the state `/readyz` shows of it: the backlog in the outbox, the link to
 * the broker, whether ingest is paused, and what was published. Everything relay-related in the
 * monitor lives here, so a change in how the relay reports touches this file alone.
 *
 * @example The backlog gauges read what the relay last reported
 * ```ts
 * import assert from "node:assert/strict";
 * import client from "prom-client";
 * import { RelayMetrics } from "./relay_metrics.ts";
 *
 * const registry = new client.Registry();
 * const relay = new RelayMetrics(registry);
 * assert.equal(relay.state, null); // no relay has reported: /readyz says nothing of it
 * relay.backlog(120, 2.5);
 * assert.match(await registry.metrics(), /^scan_worker_outbox_rows 120$/m);
 * assert.deepEqual(relay.state, { connected: false, rows: 120, lagSeconds: 2.5, paused: false });
 * ```
 *
 * @module
 */

import client from "prom-client";
import type { LinkEvents } from "../nats/mod.ts";
import type { RelayEvents } from "../relay/mod.ts";
import { counter, gauge } from "./_registry.ts";
import type { RelayHealth } from "./health.ts";

/** The relay's `scan_worker_relay_*`, outbox and pause metrics; implements the relay's hooks. */
export class RelayMetrics implements RelayEvents, LinkEvents {
  /** The relay's state, once it has reported anything. */
  #state: { connected: boolean; rows: number; lagSeconds: number; paused: boolean } | null = null;
  readonly #published: client.Counter;
  readonly #duplicates: client.Counter;
  readonly #resyncs: client.Counter;
  readonly #errors: client.Counter<"cause">;
  readonly #ackSeconds: client.Histogram;

  /** @param registry where its metrics are registered. */
  constructor(registry: client.Registry) {
    this.#published = counter(
      registry,
      "scan_worker_relay_published_total",
      "Events the relay published: acknowledged, or found on the stream when it read its end.",
    );
    this.#duplicates = counter(
      registry,
      "scan_worker_relay_duplicates_total",
      "Events the broker reported as duplicates (it already held them).",
    );
    this.#resyncs = counter(
      registry,
      "scan_worker_relay_resyncs_total",
      "Times the relay read the stream's end to find where to go on.",
    );
    this.#errors = new client.Counter({
      name: "scan_worker_relay_errors_total",
      help: "Failed publishes and outbox calls, by cause.",
      labelNames: ["cause"] as const,
      registers: [registry],
    });
    this.#ackSeconds = new client.Histogram({
      name: "scan_worker_relay_commit_to_ack_seconds",
      help: "Time from a page's commit to the broker's ack of its last event.",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    });
    this.#gauges(registry);
  }

  /** The relay's state for /readyz, or null when no relay has reported. */
  get state(): RelayHealth | null {
    return this.#state === null ? null : { ...this.#state };
  }

  connected(up: boolean): void {
    this.#reported().connected = up;
  }

  backlog(rows: number, lagSeconds: number): void {
    Object.assign(this.#reported(), { rows, lagSeconds });
  }

  published(count: number, duplicates: number): void {
    this.#published.inc(count);
    this.#duplicates.inc(duplicates);
  }

  committedToAcked(seconds: number): void {
    this.#ackSeconds.observe(seconds);
  }

  resynced(): void {
    this.#resyncs.inc();
  }

  failed(cause: string): void {
    this.#errors.inc({ cause });
  }

  paused(paused: boolean): void {
    this.#reported().paused = paused;
  }

  /** The state, created at the relay's first report. */
  #reported() {
    this.#state ??= { connected: false, rows: 0, lagSeconds: 0, paused: false };
    return this.#state;
  }

  /** The gauges read from the state (0 before the relay reports). */
  #gauges(registry: client.Registry): void {
    gauge(
      registry,
      "scan_worker_outbox_rows",
      "Accepted events waiting in the outbox to be published.",
      () => this.#state?.rows ?? 0,
    );
    gauge(
      registry,
      "scan_worker_relay_lag_seconds",
      "How long the oldest event in the outbox has waited to be published (0 when none).",
      () => this.#state?.lagSeconds ?? 0,
    );
    gauge(
      registry,
      "scan_worker_relay_connected",
      "1 while the relay is connected to NATS, else 0.",
      () => (this.#state?.connected ? 1 : 0),
    );
    gauge(
      registry,
      "scan_worker_ingest_paused",
      "1 while ingest waits because the outbox is full (OUTBOX_MAX_ROWS), else 0.",
      () => (this.#state?.paused ? 1 : 0),
    );
  }
}
