/**
 * The parts `run` (and `tail`) are built from, made from the settings: the API client, the
 * health monitor, the connection to the stream, the relay and the stream source.
 *
 * @module
 */

import { type ClientEvents, ScanApiClient } from "../api/client.ts";
import type {
  ApiConfig,
  NatsConfig,
  NatsLinkConfig,
  RetryConfig,
  WorkerConfig,
} from "../config.ts";
import { logger } from "../log.ts";
import { WorkerMonitor } from "../ops/monitor.ts";
import { telemetryDroppedCounter } from "../ops/telemetry_metrics.ts";
import { connectNats, ensureStream, type LinkEvents, type NatsLink } from "../nats/mod.ts";
import { Relay, type RelayEvents } from "../relay/mod.ts";
import type { BackoffPolicy } from "../retry.ts";
import type { OutboxStore, StoreAdmin } from "../store/store.ts";
import { StreamSource, type StreamSourceEvents } from "../stream/mod.ts";
import { exportTarget, ExportWatch } from "../telemetry/mod.ts";

/** The retry spacing the settings give. */
export function backoffOf(config: RetryConfig): BackoffPolicy {
  return { baseMs: config.retryBaseMs, capMs: config.retryMaxMs };
}

/** The health state and metrics, with thresholds from the settings. */
export function monitorFor(config: ApiConfig & WorkerConfig): WorkerMonitor {
  return new WorkerMonitor({
    stuckAfterMs: Math.max(60_000, 3 * config.apiTimeoutMs),
    pollFreshMs: Math.max(30_000, 3 * config.pollIntervalMs, 3 * config.apiTimeoutMs),
  });
}

/** The Scan Event API client the settings describe. */
export function apiClient(config: ApiConfig & WorkerConfig, events?: ClientEvents): ScanApiClient {
  return new ScanApiClient({
    url: config.apiUrl,
    limit: config.limit,
    token: config.apiToken,
    timeoutMs: config.apiTimeoutMs,
    maxBodyBytes: config.maxBodyBytes,
    events,
    backoff: backoffOf(config),
    logger: logger("api"),
  });
}

/**
 * How to reach the stream: connect (retrying until the broker answers) and make sure the stream
 * exists. Resolves null when `signal` aborts first; rejects with a ConfigError naming
 * NATS_STREAM when the stream cannot hold the worker's subjects.
 */
export function streamLink(
  config: NatsLinkConfig & RetryConfig,
  events?: LinkEvents,
): (signal: AbortSignal) => Promise<NatsLink | null> {
  const log = logger("nats");
  return async (signal) => {
    const link = await connectNats(config, {
      logger: log,
      signal,
      backoff: backoffOf(config),
      events,
    });
    if (link === null) return null;
    try {
      await ensureStream(link, config.natsStreamMaxAgeMs, log);
      return link;
    } catch (error) {
      await link.close();
      throw error;
    }
  };
}

/** The relay from `store`'s outbox to the stream. */
export function relayFor(
  config: NatsConfig & WorkerConfig,
  store: OutboxStore,
  events?: RelayEvents & LinkEvents,
): Relay {
  return new Relay({
    store,
    connect: streamLink(config, events),
    logger: logger("relay"),
    backoff: backoffOf(config),
    maxRows: config.outboxMaxRows,
    events,
  });
}

/**
 * The stream as the page source of a downstream worker. Its link reports to `events` too: the
 * monitor counts a failed connection attempt as the stream's retry (the loop waits for a page
 * meanwhile, and health sees the source move).
 */
export function streamSource(
  config: ApiConfig & NatsConfig & WorkerConfig,
  events?: LinkEvents & StreamSourceEvents,
): StreamSource {
  return new StreamSource({
    connect: streamLink(config, events),
    limit: config.limit,
    backoff: backoffOf(config),
    logger: logger("source"),
    events,
  });
}

/**
 * The watch over the OpenTelemetry collector, with the exporter's settings, counting what it
 * drops in `monitor`'s metrics when there is one (docs/telemetry.md).
 */
export function exportWatch(monitor?: WorkerMonitor): ExportWatch {
  return new ExportWatch({
    target: exportTarget((name) => Deno.env.get(name)),
    logger: logger("telemetry"),
    ...(monitor === undefined ? {} : { dropped: telemetryDroppedCounter(monitor.registry) }),
  });
}

/** Apply pending migrations (logging each), or with `migrate` false check none is missing. */
export async function prepareSchema(store: StoreAdmin, migrate: boolean): Promise<void> {
  if (!migrate) return await store.verifySchema();
  for (const m of await store.migrate()) {
    logger("worker").info("Applied migration {version} {name}", {
      version: m.version,
      name: m.name,
    });
  }
}
