/**
 * `scan-worker run`: migrate (unless --no-migrate), then the worker loop until drained or
 * signalled, with the health and metrics listener when METRICS_PORT is set.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import type { ApiConfig, DatabaseConfig, NatsConfig, WorkerConfig } from "../config.ts";
import { EXIT, UsageError } from "../errors.ts";
import { logger } from "../log.ts";
import { type OpsServer, serveOps } from "../ops/http.ts";
import { telemetryOn } from "../telemetry/mod.ts";
import { openStore } from "../store/open.ts";
import { VERSION } from "../version.ts";
import { OPEN_GATE } from "../worker/gate.ts";
import { runLoop } from "../worker/loop.ts";
import type { LateOptions } from "../worker/late.ts";
import { lateMetrics } from "../ops/late_metrics.ts";
import type { WorkerMonitor } from "../ops/monitor.ts";
import type { PageSource } from "../source.ts";
import { defineCommand } from "./command.ts";
import { groupMonitorFor, runGroup } from "./group.ts";
import type { CliIo } from "./io.ts";
import {
  apiClient,
  backoffOf,
  exportWatch,
  monitorFor,
  prepareSchema,
  relayFor,
  streamSource,
} from "./wiring.ts";

/** The `run` command. */
export const run = defineCommand({
  name: "run",
  summary: "poll the Scan Event API and keep ParcelStates up to date",
  description:
    `Applies pending migrations (unless --no-migrate), takes the feed lock (or stands by while
another instance holds it), then polls forever: each page is validated, projected and written
with the new checkpoint in one transaction. SIGINT/SIGTERM: no new request, the page in flight
commits or rolls back, exit 0; a second signal exits at once with 1. A permanent database error
(a missing table, a permission denied) stops it with exit 1 and one line. A signal during
start-up (connecting, migrating, standing by) exits at once.

With NATS_URL set, each page's accepted events also go into an outbox in the page's
transaction, and a relay publishes them to the stream, once each and in order; with --drain the
worker exits once they are published. --source nats makes a downstream worker: it reads the
stream instead of the API into its own database, with the same rules and checkpoint. With
--group NAME (NATS_GROUP) it joins a consumer group instead: any number of instances share one
database and the stream's durable consumer NAME, each writing and acknowledging its own batches;
with --drain it exits once the group has nothing pending and nothing unacknowledged.`,
  flags: [
    {
      name: "drain",
      type: "boolean",
      help: "exit 0 once the API returns an empty page (caught up)",
    },
    {
      name: "no-migrate",
      type: "boolean",
      help: "do not migrate at start; fail if any migration is missing",
    },
    {
      name: "source",
      type: "string",
      value: "api|nats",
      help: "read the Scan Event API (api, the default) or the stream NATS_URL names (nats)",
    },
  ],
  needs: ["database", "api", "worker", "nats", "group"],
  logTo: "stdout",
  examples: [
    "scan-worker run --api-url http://scan-api.internal/v1/scans/scanevents --db sqlite:/var/lib/scan-worker/scan.db",
    "SCAN_API_LIMIT=1000 scan-worker run --drain",
    "scan-worker run --metrics-port 9464 --db postgres://scan:secret@db:5432/scan",
    "NATS_URL=nats://broker:4222 scan-worker run",
    "NATS_URL=nats://broker:4222 scan-worker run --source nats --db sqlite:./downstream.db",
    "NATS_URL=nats://broker:4222 scan-worker run --source nats --group ledger --db postgres://scan@db/ledger",
  ],
  async run({ config, flags, io }) {
    const log = logger("worker");
    const { drain, fromStream, group, publishing } = modeOf(config, flags);
    const store = await openStore(config, { outbox: publishing });
    const shutdown = new Shutdown(io, log);
    let ops: OpsServer | null = null;
    const groupMonitor = config.metricsPort === null || group === null
      ? undefined
      : groupMonitorFor(config, group);
    const monitor = config.metricsPort === null ? undefined : groupMonitor ?? monitorFor(config);
    const relay = publishing ? relayFor(config, store.outbox, monitor?.relay) : null;
    const gate = relay?.gate ?? OPEN_GATE;
    const source: PageSource = fromStream
      ? streamSource(config, monitor)
      : apiClient(config, monitor);
    const telemetry = telemetryOn() ? exportWatch(monitor) : null; // docs/telemetry.md
    try {
      await prepareSchema(store, flags["no-migrate"] !== true);
      logStart(log, config, { fromStream, publishing, drain });
      telemetry?.start();
      ops = monitor === undefined ? null : opsFor(config, monitor, store);
      if (group !== null) {
        const joined = await runGroup(config, store, {
          group,
          drain,
          signal: shutdown.signal,
          monitor: groupMonitor,
          onActive: () => shutdown.started(),
        });
        log.info("Group member stopped ({reason})", { reason: joined.reason });
        return EXIT.ok;
      }
      const summary = await runLoop({
        ...loopSettings(config),
        store,
        source,
        drain,
        signal: shutdown.signal,
        events: monitor,
        gate,
        ...lateSettings(config, fromStream, monitor),
        onActive: () => shutdown.started(),
      });
      log.info(
        "Stopped at checkpoint {checkpoint}: {pages} pages, {applied} events applied, {rejected} rejected",
        { ...summary },
      );
      return EXIT.ok;
    } finally {
      await telemetry?.stop();
      shutdown.stopListening();
      await relay?.stop();
      await source.close?.();
      await ops?.shutdown();
      await store.close();
    }
  },
});

/** What `run` does: drain or not, read the API or the stream, alone or in a group, publish or not. */
function modeOf(
  config: NatsConfig & { readonly natsGroup: string | null },
  flags: Readonly<Record<string, string | boolean | undefined>>,
) {
  const fromStream = sourceOf(flags.source) === "nats";
  if (fromStream && config.nats === null) {
    throw new UsageError("run --source nats reads the stream NATS_URL names: set NATS_URL");
  }
  const group = config.natsGroup;
  if (group !== null && !fromStream) {
    throw new UsageError(
      "--group (NATS_GROUP) joins a group reading the stream: add --source nats",
    );
  }
  const publishing = !fromStream && config.nats !== null;
  return { drain: flags.drain === true, fromStream, group, publishing };
}

/** The health and metrics listener on METRICS_PORT; readiness asks the database with `ping()`. */
function opsFor(
  config: WorkerConfig,
  monitor: Parameters<typeof serveOps>[0]["monitor"],
  store: { ping(): Promise<void> },
): OpsServer {
  return serveOps({
    host: config.metricsHost,
    port: config.metricsPort ?? 0,
    monitor,
    checkDatabase: () => store.ping(),
    databaseTimeoutMs: 2000,
    logger: logger("http"),
  });
}

/** The one line `run` logs once the schema is ready: what it reads, where it writes. */
function logStart(
  log: Logger,
  config: DatabaseConfig & ApiConfig & WorkerConfig & NatsConfig,
  how: { fromStream: boolean; publishing: boolean; drain: boolean },
): void {
  log.info(
    "scan-worker {version} starting: {source} {url}, limit {limit}, database {database}{downstream}",
    {
      version: VERSION,
      source: how.fromStream ? "stream" : "API",
      url: how.fromStream ? config.natsForLog : config.apiUrl,
      limit: config.limit,
      database: config.databaseForLog,
      downstream: how.publishing ? `, publishing to ${config.natsForLog}` : "",
      drain: how.drain,
    },
  );
}

/** The loop's settings from the configuration. */
function loopSettings(config: WorkerConfig) {
  return {
    pollIntervalMs: config.pollIntervalMs,
    backoff: backoffOf(config),
    lockRetryMs: config.lockRetryMs,
    progressIntervalMs: config.progressIntervalMs,
    logger: logger("loop"),
  };
}

/** Late events (docs/rules.md §3.10): off with LATE_EVENT_WINDOW_MS=0; a stream is not re-read. */
function lateSettings(
  config: WorkerConfig,
  fromStream: boolean,
  monitor: WorkerMonitor | undefined,
): { late?: LateOptions } {
  if (config.lateEventWindowMs === 0) return {};
  return {
    late: {
      windowMs: config.lateEventWindowMs,
      reread: !fromStream,
      pollIntervalMs: config.pollIntervalMs,
      logger: logger("late"),
      ...(monitor === undefined ? {} : { hooks: lateMetrics(monitor.registry) }),
    },
  };
}

/**
 * SIGINT and SIGTERM for `run`. During start-up (connecting, migrating, standing by) a signal
 * ends the program at once: no page is in flight, and a database rolls back a migration cut
 * short, so there is nothing to wait for, least of all a server that may never answer. Once the
 * worker is active, the first signal stops it after the page in flight, a second one at once.
 */
class Shutdown {
  readonly #controller = new AbortController();
  #active = false;
  /** Stop listening for the signals. */
  readonly stopListening: () => void;

  constructor(io: CliIo, log: Logger) {
    this.stopListening = io.onSignal((signal) => {
      if (!this.#active) {
        log.info("Received {signal} during start-up: exiting", { signal });
        io.exit(EXIT.ok);
      }
      if (this.#controller.signal.aborted) {
        log.warn("Received {signal} again: exiting now", { signal });
        io.exit(EXIT.failure);
      }
      log.info("Received {signal}: stopping after the page in flight", { signal });
      this.#controller.abort();
    });
  }

  /** Aborts on the first signal once active. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Start-up is over: a signal now stops the worker after the page in flight. */
  started(): void {
    this.#active = true;
  }
}

/** Where `run` reads events from: the API (the default) or the stream. */
function sourceOf(flag: string | boolean | undefined): "api" | "nats" {
  if (flag === undefined || flag === "api") return "api";
  if (flag === "nats") return "nats";
  throw new UsageError(`invalid --source: ${JSON.stringify(flag)} is not api or nats`);
}
