/**
 * What a member of a consumer group is doing, for Prometheus and for `/readyz`: the worker's
 * monitor (process metrics, events applied and rejected, the broker link) plus the group's own
 * `scan_worker_group_*` metrics, and a health whose readiness needs the broker as well as the
 * database (a member has no poll of the API, no lock and no checkpoint).
 *
 * @example A member that has lost the broker is not ready
 * ```ts
 * import assert from "node:assert/strict";
 * import { GroupMonitor } from "./group_monitor.ts";
 *
 * const monitor = new GroupMonitor({ stuckAfterMs: 60_000, pollFreshMs: 30_000 }, "ledger");
 * monitor.connected(true);
 * monitor.fetched(true);
 * assert.equal(monitor.health.readiness(null).reason, "ready");
 * monitor.connected(false);
 * assert.equal(monitor.health.readiness(null).reason, "the broker is unreachable");
 * ```
 *
 * @module
 */

import client from "prom-client";
import type { PageResult } from "../domain/project.ts";
import type { PageWrite } from "../store/store.ts";
import type { GroupEvents, GroupState } from "../stream/mod.ts";
import { type HealthOptions, type Verdict, WorkerHealth } from "./health.ts";
import { WorkerMonitor } from "./monitor.ts";

/** A member's health: alive as the worker is; ready with its database and its broker. */
export class GroupHealth extends WorkerHealth {
  readonly #group: string;
  #brokerUp = false;
  #lastFetchFailed = false;
  #lastWriteFailed: string | null = null;
  #consumer: GroupState | null = null;

  /** @param options verdict thresholds; @param group the group's name (for the details). */
  constructor(options: HealthOptions, group: string) {
    super(options);
    this.#group = group;
  }

  /** Connected to the broker, or lost it. */
  broker(up: boolean): void {
    this.#brokerUp = up;
  }

  /**
   * A fetch came back (ok) with `messages` messages, or failed. One that came back empty leaves
   * nothing of this member's to write: a batch whose write failed was handed back to the group
   * (another member may have written it since), so that failure no longer says anything.
   */
  fetched(ok: boolean, messages?: number): void {
    this.#lastFetchFailed = !ok;
    if (ok && messages === 0) this.#lastWriteFailed = null;
  }

  /** The consumer's counts, for the details. */
  consumer(state: GroupState): void {
    this.#consumer = state;
  }

  override wrote(failure: string | null): void {
    super.wrote(failure);
    this.#lastWriteFailed = failure;
  }

  /**
   * Readiness of a member: the database answers (`databaseError` null), the broker is connected
   * and answered the last fetch, and the last batch write did not fail.
   */
  override readiness(databaseError: string | null): Verdict {
    const details = {
      role: "group member",
      group: this.#group,
      brokerConnected: this.#brokerUp,
      ...(this.#consumer === null ? {} : { consumer: { ...this.#consumer } }),
    };
    if (databaseError !== null) {
      return { ok: false, reason: `database unreachable: ${databaseError}`, details };
    }
    if (!this.#brokerUp || this.#lastFetchFailed) {
      return { ok: false, reason: "the broker is unreachable", details };
    }
    if (this.#lastWriteFailed !== null) {
      return { ok: false, reason: `last batch write failed: ${this.#lastWriteFailed}`, details };
    }
    return { ok: true, reason: "ready", details };
  }
}

/** A group member's metrics (the worker's and the group's) and its health. */
export class GroupMonitor extends WorkerMonitor implements GroupEvents {
  /** The state behind /healthz and /readyz of a member. */
  override readonly health: GroupHealth;
  #state: GroupState | null = null;
  readonly #batches: client.Counter;
  readonly #redeliveries: client.Counter;
  readonly #ackFailures: client.Counter;

  /** @param options verdict thresholds; @param group the group's name (a label of the gauges). */
  constructor(options: HealthOptions, group: string) {
    super(options);
    this.health = new GroupHealth(options, group);
    const registers = [this.registry];
    this.#batches = new client.Counter({
      name: "scan_worker_group_batches_total",
      help:
        "Batches this group member wrote (each in one transaction) and acknowledged (unless the broker did not confirm it: scan_worker_group_ack_failures_total).",
      registers,
    });
    this.#redeliveries = new client.Counter({
      name: "scan_worker_group_redeliveries_total",
      help:
        "Messages this member received that the broker had handed out before (not acknowledged in time).",
      registers,
    });
    this.#ackFailures = new client.Counter({
      name: "scan_worker_group_ack_failures_total",
      help:
        "Messages written whose acknowledgement the broker did not confirm (they come back, and change nothing).",
      registers,
    });
    const state = () => this.#state;
    const gauges: [string, string, (s: GroupState) => number][] = [
      [
        "scan_worker_group_pending_messages",
        "Messages of the stream the group's consumer has not yet handed to any member.",
        (s) => s.pending,
      ],
      [
        "scan_worker_group_ack_pending_messages",
        "Messages handed to a member of the group and not yet acknowledged.",
        (s) => s.ackPending,
      ],
    ];
    for (const [name, help, value] of gauges) {
      new client.Gauge({
        name,
        help,
        labelNames: ["group"] as const,
        registers,
        collect(this: client.Gauge<"group">) {
          const s = state();
          if (s !== null) this.set({ group }, value(s));
        },
      });
    }
  }

  override connected(up: boolean): void {
    super.connected(up);
    this.health.broker(up);
    if (up) this.step("start"); // joining the group: I/O again, which can be stuck
  }

  /** A connection attempt failed (a retry of the stream's): the member waits for its next one. */
  override connectFailed(delayMs: number): void {
    super.connectFailed(delayMs);
    this.step("wait");
  }

  groupStep(step: "fetch" | "write" | "wait"): void {
    this.step(step);
  }

  /** A fetch ended: a poll of the stream, as the single reader's reads are (liveness, poll age). */
  fetched(ok: boolean, messages?: number): void {
    this.health.fetched(ok, messages);
    this.read(ok ? "ok" : "stream");
  }

  batchWritten(result: PageResult, write: PageWrite, redelivered: number, ms: number): void {
    this.pageWritten(result, write, ms);
    this.checkpoint(0); // a member keeps no checkpoint: the consumer is the group's
    this.#batches.inc();
    this.#redeliveries.inc(redelivered);
  }

  ackFailed(messages: number): void {
    this.#ackFailures.inc(messages);
  }

  groupState(state: GroupState): void {
    this.#state = state;
    this.health.consumer(state);
  }
}
