/**
 * The connection to NATS JetStream (docs/rules.md §7): connecting, retrying until it succeeds
 * (each failure logged), then watching the connection's losses and returns.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import {
  jetstream,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
} from "@nats-io/jetstream";
import type { NatsConfig, NatsTarget } from "../config.ts";
import { backoffDelay, type BackoffPolicy, sleep } from "../retry.ts";
import { Publisher } from "./_publisher.ts";

/** How the connection reports its state (metrics, health). */
export interface LinkEvents {
  /** Connected to the broker, or lost it. */
  connected(up: boolean): void;
  /** A connection attempt failed; the next one starts after `delayMs`. */
  connectFailed?(delayMs: number): void;
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
        { url: config.natsForLog, attempt, error: errorLine(error), delayMs },
      );
      events?.connectFailed?.(delayMs);
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

/**
 * An error as one log-line fragment: its name, message and the cause's message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const error = new Error("no stream", { cause: new Error("refused") });
 * assert.equal(errorLine(error), "Error no stream: refused");
 * ```
 */
export function errorLine(error: unknown): string {
  const e = error as Error & { cause?: unknown; code?: unknown };
  const cause = e?.cause instanceof Error ? `: ${e.cause.message}` : "";
  return `${e?.name ?? "Error"} ${e?.message ?? String(error)}${cause}`;
}
