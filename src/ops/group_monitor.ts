/**
 * What a member of a consumer group is doing, for people and for Prometheus: the worker's
 * monitor (process metrics, events applied and rejected, the broker link) plus the group's own
 * metrics, and a readiness verdict that needs the broker as well as the database.
 *
 * @module
 */

import client from "prom-client";
import type { PageResult } from "../domain/project.ts";
import type { PageWrite } from "../store/store.ts";
import type { GroupEvents, GroupState } from "../stream/group.ts";
import { type MonitorOptions, type Verdict, WorkerMonitor } from "./monitor.ts";

/** A group member's live state and metrics. */
export class GroupMonitor extends WorkerMonitor implements GroupEvents {
  #brokerUp = false;
  #lastFetchFailed = false;
  #lastWriteError: string | null = null;
  #state: GroupState | null = null;
  readonly #batches = new client.Counter({
    name: "scan_worker_group_batches_total",
    help: "Batches this group member wrote (each in one transaction) and acknowledged.",
    registers: [this.registry],
  });
  readonly #redeliveries = new client.Counter({
    name: "scan_worker_group_redeliveries_total",
    help:
      "Messages this member received that the broker had handed out before (not acknowledged in time).",
    registers: [this.registry],
  });
  readonly #ackFailures = new client.Counter({
    name: "scan_worker_group_ack_failures_total",
    help:
      "Messages written whose acknowledgement the broker did not confirm (they come back, and change nothing).",
    registers: [this.registry],
  });

  /** @param options verdict thresholds; @param group the group's name (a label of the gauges). */
  constructor(options: MonitorOptions, readonly group: string) {
    super(options);
    const state = () => this.#state;
    new client.Gauge({
      name: "scan_worker_group_pending_messages",
      help: "Messages of the stream the group's consumer has not yet handed to any member.",
      labelNames: ["group"] as const,
      registers: [this.registry],
      collect(this: client.Gauge<"group">) {
        const s = state();
        if (s !== null) this.set({ group }, s.pending);
      },
    });
    new client.Gauge({
      name: "scan_worker_group_ack_pending_messages",
      help: "Messages handed to a member of the group and not yet acknowledged.",
      labelNames: ["group"] as const,
      registers: [this.registry],
      collect(this: client.Gauge<"group">) {
        const s = state();
        if (s !== null) this.set({ group }, s.ackPending);
      },
    });
  }

  override connected(up: boolean): void {
    super.connected(up);
    this.#brokerUp = up;
  }

  groupStep(step: "fetch" | "write" | "wait"): void {
    this.step(step);
  }

  fetched(ok: boolean): void {
    this.#lastFetchFailed = !ok;
  }

  batchWritten(result: PageResult, write: PageWrite, redelivered: number, ms: number): void {
    this.#lastWriteError = null;
    this.pageWritten(result, write, ms);
    this.checkpoint(0); // a member keeps no checkpoint: the consumer is the group's
    this.#batches.inc();
    this.#redeliveries.inc(redelivered);
  }

  override writeFailed(error: unknown): void {
    super.writeFailed(error);
    this.#lastWriteError = String(error);
  }

  ackFailed(messages: number): void {
    this.#ackFailures.inc(messages);
  }

  groupState(state: GroupState): void {
    this.#state = state;
  }

  /**
   * Readiness of a member: the database answers, the broker is connected and answered the
   * last fetch, and the last batch write did not fail.
   */
  override readiness(databaseError: string | null): Verdict {
    const details = {
      role: "group member",
      group: this.group,
      brokerConnected: this.#brokerUp,
      ...(this.#state === null ? {} : { consumer: { ...this.#state } }),
    };
    if (databaseError !== null) {
      return { ok: false, reason: `database unreachable: ${databaseError}`, details };
    }
    if (!this.#brokerUp || this.#lastFetchFailed) {
      return { ok: false, reason: "the broker is unreachable", details };
    }
    if (this.#lastWriteError !== null) {
      return { ok: false, reason: `last batch write failed: ${this.#lastWriteError}`, details };
    }
    return { ok: true, reason: "ready", details };
  }
}
