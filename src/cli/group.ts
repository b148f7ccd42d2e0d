/**
 * `run --source nats --group NAME`: this instance joins a consumer group, members sharing one
 * database and one durable consumer of the stream (see src/stream/group.ts).
 *
 * @module
 */

import type { ApiConfig, NatsConfig, WorkerConfig } from "../config.ts";
import { logger } from "../log.ts";
import { GroupMonitor } from "../ops/group_monitor.ts";
import type { BatchStore } from "../store/store.ts";
import { type GroupSummary, runGroupMember } from "../stream/group.ts";
import { backoffOf, streamLink } from "./wiring.ts";

/** The health state and metrics of a group member, with thresholds from the settings. */
export function groupMonitorFor(config: ApiConfig & WorkerConfig, group: string): GroupMonitor {
  return new GroupMonitor({
    stuckAfterMs: Math.max(60_000, 3 * config.apiTimeoutMs),
    pollFreshMs: Math.max(30_000, 3 * config.pollIntervalMs, 3 * config.apiTimeoutMs),
  }, group);
}

/** Run this instance as a member of `group` until drained or stopped. */
export function runGroup(
  config: ApiConfig & NatsConfig & WorkerConfig,
  store: BatchStore,
  options: {
    readonly group: string;
    readonly drain: boolean;
    readonly signal: AbortSignal;
    readonly monitor?: GroupMonitor;
    readonly onActive: () => void;
  },
): Promise<GroupSummary> {
  return runGroupMember({
    group: options.group,
    connect: streamLink(config, options.monitor),
    store,
    limit: config.limit,
    drain: options.drain,
    signal: options.signal,
    backoff: backoffOf(config),
    logger: logger("group"),
    events: options.monitor,
    onActive: options.onActive,
  });
}
