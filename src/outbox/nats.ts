/**
 * The connection to NATS JetStream (docs/rules.md §7): connecting (retrying until it succeeds,
 * each failure logged), the stream (created when absent, used as it is when present), and
 * finding messages in it by EventId.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { connect, credsAuthenticator, nanos, type NatsConnection } from "@nats-io/transport-node";
import {
  jetstream,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamApiError as ApiError,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
  StorageType,
  type StreamInfo,
} from "@nats-io/jetstream";
import type { NatsConfig, NatsTarget } from "../config.ts";
import { eventIdOf, SUBJECTS } from "../domain/message.ts";
import { backoffDelay, type BackoffPolicy, sleep } from "../retry.ts";
import { Publisher } from "./publisher.ts";

/** How the connection reports its state (metrics, health). */
export interface LinkEvents {
  /** Connected to the broker, or lost it. */
  connected(up: boolean): void;
}

/** A live connection to JetStream and the stream the worker uses. */
export interface NatsLink {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** Publishes with acknowledgements, many in flight. */
  readonly publisher: Publisher;
  /** The stream's name. */
  readonly stream: string;
  /** Close the connection (and stop watching it). */
  close(): Promise<void>;
}

/** The duplicate window of a stream the worker creates. */
export const DUPLICATE_WINDOW_MS = 10 * 60_000;

let guarded = false;

/**
 * Deno's `node:net` can raise a late ECONNRESET on a socket the NATS client has already given up
 * (after a refused login), which would end the process as an uncaught error. Those, and only
 * those, are dropped.
 */
function guardLateSocketErrors(): void {
  if (guarded) return;
  guarded = true;
  globalThis.addEventListener("error", (event) => {
    const code = (event.error as { code?: string } | undefined)?.code;
    if (code === "ECONNRESET" || code === "EPIPE") event.preventDefault();
  });
}

/** The client's options for a target (the URL's credentials as options: it ignores them). */
async function connectOptions(target: NatsTarget, credsFile: string | null, name: string) {
  return {
    servers: [...target.servers],
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    timeout: 5000,
    pingInterval: 10_000,
    ...(target.user !== null ? { user: target.user, pass: target.pass ?? "" } : {}),
    ...(target.token !== null ? { token: target.token } : {}),
    ...(credsFile !== null
      ? { authenticator: credsAuthenticator(await Deno.readFile(credsFile)) }
      : {}),
  };
}

/**
 * Connect to the broker `config` names, retrying with backoff (each failure logged with its
 * cause) until it answers; null when `signal` aborts first. Once connected, the client itself
 * reconnects for ever after a loss; losses and returns are logged and reported.
 */
export async function connectNats(
  config: Pick<NatsConfig, "nats" | "natsForLog" | "natsCredsFile" | "natsStream">,
  options: { logger: Logger; signal: AbortSignal; backoff: BackoffPolicy; events?: LinkEvents },
): Promise<NatsLink | null> {
  const { logger, signal, backoff, events } = options;
  if (config.nats === null) throw new Error("NATS_URL is not set");
  guardLateSocketErrors();
  for (let attempt = 1; !signal.aborted; attempt++) {
    let nc: NatsConnection;
    try {
      nc = await connect(await connectOptions(config.nats, config.natsCredsFile, "scan-worker"));
    } catch (error) {
      const delayMs = backoffDelay(attempt, backoff);
      logger.warn(
        "Could not connect to NATS at {url} (attempt {attempt}): {error}; retrying in {delayMs} ms",
        { url: config.natsForLog, attempt, error: describe(error), delayMs },
      );
      if (!await sleep(delayMs, signal)) return null;
      continue;
    }
    events?.connected(true);
    logger.info("Connected to NATS at {url}", { url: config.natsForLog });
    const watching = watch(nc, logger, events);
    const publisher = new Publisher(nc);
    return {
      nc,
      js: jetstream(nc),
      jsm: await jetstreamManager(nc, { checkAPI: false }),
      publisher,
      stream: config.natsStream,
      close: async () => {
        publisher.close();
        await nc.close().catch(() => {});
        await watching;
        events?.connected(false);
      },
    };
  }
  return null;
}

/** Log and report the connection's losses and returns until it closes. */
async function watch(nc: NatsConnection, logger: Logger, events?: LinkEvents): Promise<void> {
  for await (const status of nc.status()) {
    if (status.type === "disconnect") {
      events?.connected(false);
      logger.warn("Lost the connection to NATS ({server}); the client reconnects", {
        server: String(status.server ?? ""),
      });
    } else if (status.type === "reconnect") {
      events?.connected(true);
      logger.info("Reconnected to NATS ({server})", { server: String(status.server ?? "") });
    }
  }
}

/** An error's message with its cause, for a log line. */
export function describe(error: unknown): string {
  const e = error as Error & { cause?: unknown; code?: unknown };
  const cause = e?.cause instanceof Error ? `: ${e.cause.message}` : "";
  return `${e?.name ?? "Error"} ${e?.message ?? String(error)}${cause}`;
}

/** Whether an error is JetStream's "stream not found" (10059). */
function isStreamNotFound(error: unknown): error is ApiError {
  return error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound;
}

/**
 * The stream: created when absent (file storage, subjects `scan.v1.events.>`, a 10-minute
 * duplicate window, `NATS_STREAM_MAX_AGE`), used as it is when present (its settings logged).
 */
export async function ensureStream(
  link: NatsLink,
  maxAgeMs: number,
  logger: Logger,
): Promise<StreamInfo> {
  try {
    const info = await link.jsm.streams.info(link.stream);
    logger.info(
      "Using the existing stream {stream}: subjects {subjects}, duplicate window {duplicateWindowS} s, max age {maxAgeS} s, {messages} messages",
      {
        stream: link.stream,
        subjects: info.config.subjects?.join(", "),
        duplicateWindowS: (info.config.duplicate_window ?? 0) / 1e9,
        maxAgeS: (info.config.max_age ?? 0) / 1e9,
        messages: info.state.messages,
      },
    );
    return info;
  } catch (error) {
    if (!isStreamNotFound(error)) throw error;
  }
  const info = await link.jsm.streams.add({
    name: link.stream,
    subjects: [SUBJECTS],
    storage: StorageType.File,
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    max_age: nanos(maxAgeMs),
    num_replicas: 1,
  });
  logger.info("Created the stream {stream} ({subjects})", {
    stream: link.stream,
    subjects: SUBJECTS,
  });
  return info;
}

/** Where the stream ends: its last sequence, and the last EventId it holds of ours. */
export interface StreamEnd {
  readonly lastSeq: number;
  readonly lastEventId: number;
}

/** How far back from the end to look for a message of ours, past others' messages. */
const LOOK_BACK = 1000;

/**
 * Where the stream ends. The last EventId is read from the last message's `Nats-Msg-Id`
 * (`scan-event-<EventId>`); messages of other writers are stepped over.
 */
export async function streamEnd(link: NatsLink): Promise<StreamEnd> {
  const info = await link.jsm.streams.info(link.stream);
  const lastSeq = info.state.last_seq;
  for (let seq = lastSeq; seq >= Math.max(1, info.state.first_seq, lastSeq - LOOK_BACK); seq--) {
    const message = await link.jsm.streams.getMessage(link.stream, { seq });
    const eventId = eventIdOf(message?.header?.get("Nats-Msg-Id"));
    if (eventId !== null) return { lastSeq, lastEventId: eventId };
  }
  return { lastSeq, lastEventId: 0 };
}

/**
 * The stream sequence of the first message whose EventId is `eventId` or more (the stream holds
 * EventIds in ascending order): found by halving, a few dozen reads at most. One past the last
 * sequence when there is none.
 */
export async function seqOfEventId(link: NatsLink, eventId: number): Promise<number> {
  const { state } = await link.jsm.streams.info(link.stream);
  let low = Math.max(1, state.first_seq);
  let high = state.last_seq + 1;
  while (low < high) {
    const middle = Math.floor((low + high) / 2);
    const message = await link.jsm.streams.getMessage(link.stream, { seq: middle });
    const found = eventIdOf(message?.header?.get("Nats-Msg-Id")) ?? 0;
    if (message !== null && found >= eventId) high = middle;
    else low = middle + 1;
  }
  return low;
}
