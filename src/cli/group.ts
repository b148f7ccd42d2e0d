/**
 * `run --source nats --group NAME`: this instance joins a consumer group, members sharing one
 * database and one durable consumer of the stream (see src/stream/_group.ts).
 *
 * @module
 */

import type { ApiConfig, NatsConfig, NatsLinkConfig, WorkerConfig } from "../config.ts";
import { UsageError } from "../errors.ts";
import { logger } from "../log.ts";
import { GroupMonitor } from "../ops/group_monitor.ts";
import type { GroupReport } from "../ops/group_status.ts";
import { connectNats } from "../nats/mod.ts";
import type { BatchStore } from "../store/store.ts";
import { type GroupSummary, readGroupState, runGroupMember } from "../stream/mod.ts";
import { backoffOf, streamLink } from "./wiring.ts";

/** How long `status` tries to reach the broker. */
const STATUS_CONNECT_MS = 5000;

/** `status --group` needs NATS_URL: a usage error without it. */
export function requireNats(config: NatsLinkConfig): void {
  if (config.nats === null) {
    throw new UsageError("--group (NATS_GROUP) reads the group's consumer: set NATS_URL");
  }
}

/**
 * The group's counts for `status`, read once from the broker NATS_URL names.
 * @throws UsageError when NATS_URL is not set; Error when the broker does not answer in 5 s.
 */
export async function groupReport(config: NatsLinkConfig, group: string): Promise<GroupReport> {
  requireNats(config);
  const link = await connectNats(config, {
    logger: logger("nats"),
    signal: AbortSignal.timeout(STATUS_CONNECT_MS),
    backoff: { baseMs: 200, capMs: 1000 },
  });
  if (link === null) {
    throw new Error(
      `cannot reach NATS at ${config.natsForLog} within ${STATUS_CONNECT_MS} ms to read the group ${group}`,
    );
  }
  try {
    return { name: group, stream: link.stream, state: await readGroupState(link, group) };
  } finally {
    await link.close();
  }
}

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
