/**
 * Private NATS servers for tests: whether one can run here, and reading and creating a stream
 * on one. Each test starts its own (`startNats`, shared with the bench), never the machine's
 * shared server, and removes it with `destroy()`, also on failure.
 *
 * @module
 */

import { jetstream, jetstreamManager, StorageType } from "@nats-io/jetstream";
import { connect, nanos } from "@nats-io/transport-node";
import { getLogger, type Logger } from "@logtape/logtape";
import { natsServerProblem } from "../../scripts/nats_server.ts";
import { type Config, parseNatsUrl, resolveConfig } from "../../src/config.ts";
import { connectNats, ensureStream, type NatsLink } from "../../src/nats/mod.ts";
import type { BackoffPolicy } from "../../src/retry.ts";
import { Relay, type RelayEvents } from "../../src/relay/mod.ts";
import type { OutboxStore, Store } from "../../src/store/store.ts";
import { projectPage } from "../../src/domain/project.ts";
import { scanEvent } from "./events.ts";
import { freePort } from "./pg_cluster.ts";

/** Why private NATS servers cannot run here, or null. */
export const NATS_SKIP: string | null = natsServerProblem();
if (NATS_SKIP !== null && Deno.env.get("CI") !== "true") {
  // deno-lint-ignore no-console -- every test that needs NATS is skipped: say why, once
  console.log(`NATS tests skipped: ${NATS_SKIP}`);
}
/** Whether NATS tests are ignored (never in CI: there a missing server fails them). */
export const NATS_IGNORE: boolean = NATS_SKIP !== null && Deno.env.get("CI") !== "true";

export { type PrivateNats, startNats } from "../../scripts/nats_server.ts";

/** The worker's configuration with `NATS_URL` naming a port where nothing listens. */
export function configWithoutBroker(): Config {
  const env = { NATS_URL: `nats://127.0.0.1:${freePort()}` };
  return resolveConfig({ flags: {}, env, dotenv: {}, stdoutIsTerminal: false });
}

/** One message of the stream: its sequence, message id, subject and body. */
export interface StreamMessage {
  readonly seq: number;
  readonly id: string;
  readonly subject: string;
  readonly body: string;
}

/** Every message of `stream` on the server at `url`, in order (read with an ordered consumer). */
export async function readStream(url: string, stream = "SCAN_EVENTS"): Promise<StreamMessage[]> {
  const nc = await connect({ servers: url.replace("nats://", "") });
  try {
    const jsm = await jetstreamManager(nc);
    const { state } = await jsm.streams.info(stream);
    const messages: StreamMessage[] = [];
    if (state.messages === 0) return messages;
    const consumer = await jetstream(nc).consumers.get(stream, { opt_start_seq: state.first_seq });
    while (messages.length < state.messages) {
      const batch = await consumer.fetch({ max_messages: 1000, expires: 2000 });
      let got = 0;
      for await (const m of batch) {
        got++;
        messages.push({
          seq: m.seq,
          id: m.headers?.get("Nats-Msg-Id") ?? "",
          subject: m.subject,
          body: m.string(),
        });
        if (messages.length >= state.messages) break;
      }
      if (got === 0) break;
    }
    return messages;
  } finally {
    await nc.close();
  }
}

/** Create `stream` on the server at `url` with a duplicate window of `windowMs` (the worker then uses it as it is). */
export async function createStream(
  url: string,
  windowMs: number,
  stream = "SCAN_EVENTS",
): Promise<void> {
  const nc = await connect({ servers: url.replace("nats://", "") });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({
      name: stream,
      subjects: ["scan.v1.events.>"],
      storage: StorageType.File,
      duplicate_window: nanos(windowMs),
    });
  } finally {
    await nc.close();
  }
}

/**
 * How a test's relay or reader connects to `server`: a link to its stream SCAN_EVENTS (created
 * when absent), retried with a short backoff; null when the signal aborts first.
 */
export function linkTo(
  server: { readonly url: string },
  logger: Logger = getLogger(["test"]),
  backoff: BackoffPolicy = { baseMs: 10, capMs: 100 },
): (signal: AbortSignal) => Promise<NatsLink | null> {
  const config = {
    nats: parseNatsUrl(server.url),
    natsForLog: server.url,
    natsCredsFile: null,
    natsStream: "SCAN_EVENTS",
  };
  return async (signal) => {
    const link = await connectNats(config, { logger, signal, backoff });
    if (link !== null) await ensureStream(link, 3_600_000, logger);
    return link;
  };
}

/** A relay's hooks: those a test gives, the others doing nothing. */
export function relayEvents(hooks: Partial<RelayEvents>): RelayEvents {
  const none = () => {};
  return {
    backlog: none,
    published: none,
    committedToAcked: none,
    resynced: none,
    failed: none,
    paused: none,
    ...hooks,
  };
}

/** A test's relay from `outbox` to `server`'s stream: short backoff, batches of 1000. */
export function relayTo(server: { readonly url: string }, outbox: OutboxStore): Relay {
  const backoff = { baseMs: 10, capMs: 100 };
  const logger = getLogger(["test"]);
  return new Relay({ store: outbox, connect: linkTo(server), logger, backoff, maxRows: 1000 });
}

/**
 * Commit pages of `count` events from EventId `from`, 10 a page, over a few parcels (every third a
 * PICKUP); each page handed to `relay`'s gate as the loop does, when a relay is given.
 */
export async function ingest(
  store: Pick<Store, "readCheckpoint" | "applyPage">,
  relay: Relay | null,
  from: number,
  count: number,
): Promise<void> {
  let checkpoint = await store.readCheckpoint();
  for (let id = from; id < from + count; id += 10) {
    const events = Array.from(
      { length: Math.min(10, from + count - id) },
      (_, i) => scanEvent(id + i, 1 + ((id + i) % 7), (id + i) % 3 === 0 ? "PICKUP" : "STATUS"),
    );
    const result = projectPage(checkpoint, events);
    const write = await store.applyPage(result);
    relay?.gate.pageCommitted(write, result.to);
    checkpoint = result.to;
  }
}
