/**
 * Consumer groups in tests: a stream filled with a simulated feed's accepted events (as the
 * relay publishes them), and a group's consumer made with a short ack wait, so a dead member's
 * messages come back within a test's patience (a member uses an existing consumer as it is).
 *
 * @module
 */

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, nanos } from "@nats-io/transport-node";
import { messageId } from "../../src/domain/message.ts";
import { groupConsumerConfig, type GroupState, groupStateOf } from "../../src/stream/mod.ts";
import { createStream } from "./nats_server.ts";

/** A connection to the private server at `url`, for `work`. */
async function withNats<T>(
  url: string,
  work: (nc: Awaited<ReturnType<typeof connect>>) => Promise<T>,
): Promise<T> {
  const nc = await connect({ servers: url.replace("nats://", "") });
  try {
    return await work(nc);
  } finally {
    await nc.close();
  }
}

/**
 * Create the stream and publish `bodies` (the oracle's expected stream: accepted events in
 * EventId order) with their subjects and message ids, as the relay does.
 */
export async function publishBodies(url: string, bodies: readonly string[]): Promise<void> {
  await createStream(url, 600_000);
  await withNats(url, async (nc) => {
    const js = jetstream(nc);
    for (let i = 0; i < bodies.length; i += 500) {
      await Promise.all(
        bodies.slice(i, i + 500).map((body) => {
          const event = JSON.parse(body);
          return js.publish(`scan.v1.events.${event.Type}.${event.ParcelId}`, body, {
            msgID: messageId(event.EventId),
          });
        }),
      );
    }
  });
}

/** Create the group's consumer as a member would, but with an ack wait of `ackWaitMs`. */
export async function createGroupConsumer(
  url: string,
  group: string,
  ackWaitMs: number,
  stream = "SCAN_EVENTS",
): Promise<void> {
  await withNats(url, async (nc) => {
    const jsm = await jetstreamManager(nc);
    await jsm.consumers.add(stream, { ...groupConsumerConfig(group), ack_wait: nanos(ackWaitMs) });
  });
}

/** The group consumer's counts. */
export function groupState(
  url: string,
  group: string,
  stream = "SCAN_EVENTS",
): Promise<GroupState> {
  return withNats(url, async (nc) => {
    const jsm = await jetstreamManager(nc);
    return groupStateOf(await jsm.consumers.info(stream, group));
  });
}
