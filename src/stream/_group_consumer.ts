/**
 * A consumer group's durable JetStream consumer: the settings it is created with, joining it
 * (created when absent, refused when it cannot serve a group) and its counts.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { nanos } from "@nats-io/transport-node";
import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerInfo,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  ReplayPolicy,
} from "@nats-io/jetstream";
import { ConfigError } from "../errors.ts";
import type { NatsLink } from "../nats/mod.ts";

/**
 * How long the broker waits for a member's acknowledgement before it hands the message to a
 * member again: 30 s. A batch is written in milliseconds (a few seconds when the database
 * retries), far below it; a dead member's batch comes back within half a minute. Writing it
 * twice (a slow member and the next one) is harmless, so a short wait costs little.
 */
export const GROUP_ACK_WAIT_MS = 30_000;

/**
 * How many messages the whole group may hold unacknowledged at once: 20,000. A member holds at
 * most one batch (`SCAN_API_LIMIT` messages), so this is room for 200 members at the default
 * limit of 100, or 20 at 1000; the broker's default (1000) would keep a second member of a
 * group with batches of 1000 idle. It bounds what is in flight, never what the group keeps.
 */
export const GROUP_MAX_ACK_PENDING = 20_000;

/** The counts a group's consumer reports (`status`, metrics, `--drain`). */
export interface GroupState {
  /** Messages of the stream not yet handed to any member. */
  readonly pending: number;
  /** Messages handed to a member and not yet acknowledged. */
  readonly ackPending: number;
  /** Of those, the ones handed out more than once (their first member did not acknowledge). */
  readonly redelivered: number;
  /** Members waiting for messages right now. */
  readonly waiting: number;
}

/**
 * The consumer a group creates when it is absent: durable, pull, explicit acknowledgements,
 * every message of the stream from its first, the ack wait and max-ack-pending above. It never
 * gives a message up (`max_deliver` -1): every message either applies or becomes a rejection.
 * @example
 * ```ts
 * import { groupConsumerConfig } from "./mod.ts";
 * const config = groupConsumerConfig("ledger");
 * if (config.durable_name !== "ledger" || config.ack_policy !== "explicit") throw new Error();
 * if (config.max_ack_pending !== 20_000) throw new Error(String(config.max_ack_pending));
 * ```
 */
export function groupConsumerConfig(group: string): Partial<ConsumerConfig> {
  return {
    durable_name: group,
    description: `scan-worker consumer group ${group}: members share one database`,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    replay_policy: ReplayPolicy.Instant,
    ack_wait: nanos(GROUP_ACK_WAIT_MS),
    max_ack_pending: GROUP_MAX_ACK_PENDING,
    max_deliver: -1,
  };
}

/**
 * Raised when a consumer of the group's name exists but cannot serve a group: a configuration
 * mistake (exit 2), not a failure to retry.
 */
export class GroupConsumerError extends ConfigError {
  /** @param group the consumer's name; @param why what is wrong with it. */
  constructor(group: string, why: string) {
    super(
      "NATS_GROUP (--group)",
      `the consumer ${group} cannot serve a scan-worker group: ${why}; delete it (nats consumer rm) or choose another group`,
    );
    this.name = "GroupConsumerError";
  }
}

/**
 * The group's consumer: created when absent (two members creating it at once get the same
 * one), used as it is when present (its settings logged), refused when it is not a pull
 * consumer with explicit acknowledgements.
 */
export async function ensureGroupConsumer(
  link: NatsLink,
  group: string,
  logger: Logger,
): Promise<ConsumerInfo> {
  let info: ConsumerInfo;
  try {
    info = await link.jsm.consumers.info(link.stream, group);
  } catch (error) {
    if (
      !(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.ConsumerNotFound)
    ) {
      throw error;
    }
    info = await link.jsm.consumers.add(link.stream, groupConsumerConfig(group));
    logger.info(
      "Created the consumer {group} on {stream}: explicit acks, ack wait {ackWaitS} s, max ack pending {maxAckPending}",
      {
        group,
        stream: link.stream,
        ackWaitS: GROUP_ACK_WAIT_MS / 1000,
        maxAckPending: GROUP_MAX_ACK_PENDING,
      },
    );
    return info;
  }
  if (info.config.deliver_subject) {
    throw new GroupConsumerError(group, "it is a push consumer");
  }
  if (info.config.ack_policy !== AckPolicy.Explicit) {
    throw new GroupConsumerError(
      group,
      `its ack policy is ${info.config.ack_policy}, not explicit`,
    );
  }
  logger.info(
    "Joining the consumer {group} on {stream}: ack wait {ackWaitS} s, max ack pending {maxAckPending}, {pending} pending, {ackPending} unacknowledged",
    {
      group,
      stream: link.stream,
      ackWaitS: (info.config.ack_wait ?? 0) / 1e9,
      maxAckPending: info.config.max_ack_pending,
      pending: info.num_pending,
      ackPending: info.num_ack_pending,
    },
  );
  return info;
}

/** A consumer's counts, as a group reports them. */
export function groupStateOf(info: ConsumerInfo): GroupState {
  return {
    pending: info.num_pending,
    ackPending: info.num_ack_pending,
    redelivered: info.num_redelivered,
    waiting: info.num_waiting,
  };
}

/** The group's counts, read once (`status`); null when its consumer (or the stream) does not exist. */
export async function readGroupState(link: NatsLink, group: string): Promise<GroupState | null> {
  try {
    return groupStateOf(await link.jsm.consumers.info(link.stream, group));
  } catch (error) {
    const absent = [JetStreamApiCodes.ConsumerNotFound, JetStreamApiCodes.StreamNotFound];
    if (error instanceof JetStreamApiError && absent.some((code) => code === error.code)) {
      return null;
    }
    throw error;
  }
}
