/**
 * `scan-worker run`: migrate (unless --no-migrate), then the worker loop until drained or
 * signalled, with the health and metrics listener when METRICS_PORT is set.
 *
 * @module
 */

import { type ClientEvents, ScanApiClient } from "../api/client.ts";
import type { ApiConfig, WorkerConfig } from "../config.ts";
import { EXIT } from "../errors.ts";
import { logger } from "../log.ts";
import { type OpsServer, serveOps } from "../ops/http.ts";
import { WorkerMonitor } from "../ops/monitor.ts";
import { openStore } from "../store/open.ts";
import type { StoreAdmin } from "../store/store.ts";
import { VERSION } from "../version.ts";
import { runLoop } from "../worker/loop.ts";
import { defineCommand } from "./command.ts";

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
start-up (connecting, migrating, standing by) exits at once.`,
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
  ],
  needs: ["database", "api", "worker"],
  logTo: "stdout",
  examples: [
    "scan-worker run --api-url http://scan-api.internal/v1/scans/scanevents --db sqlite:/var/lib/scan-worker/scan.db",
    "SCAN_API_LIMIT=1000 scan-worker run --drain",
    "scan-worker run --metrics-port 9464 --db postgres://scan:secret@db:5432/scan",
  ],
  async run({ config, flags, io }) {
    const log = logger("worker");
    const drain = flags.drain === true;
    const store = await openStore(config);
    const controller = new AbortController();
    let active = false;
    const stopListening = io.onSignal((signal) => {
      if (!active) {
        // Start-up (connecting, migrating, standing by): no page is in flight, and a database
        // rolls back a migration cut short. Do not wait for a server that may never answer.
        log.info("Received {signal} during start-up: exiting", { signal });
        io.exit(EXIT.ok);
      }
      if (controller.signal.aborted) {
        log.warn("Received {signal} again: exiting now", { signal });
        io.exit(EXIT.failure);
      }
      log.info("Received {signal}: stopping after the page in flight", { signal });
      controller.abort();
    });
    let ops: OpsServer | null = null;
    try {
      await prepareSchema(store, flags["no-migrate"] !== true);
      log.info(
        "scan-worker {version} starting: API {apiUrl}, limit {limit}, database {database}",
        {
          version: VERSION,
          apiUrl: config.apiUrl,
          limit: config.limit,
          database: config.databaseForLog,
          drain,
        },
      );
      const monitor = config.metricsPort === null ? undefined : monitorFor(config);
      ops = monitor === undefined ? null : serveOps({
        host: config.metricsHost,
        port: config.metricsPort ?? 0,
        monitor,
        checkDatabase: () => store.readCheckpoint(),
        databaseTimeoutMs: 2000,
        logger: logger("http"),
      });
      const backoff = { baseMs: config.retryBaseMs, capMs: config.retryMaxMs };
      const summary = await runLoop({
        store,
        source: apiClient(config, monitor),
        pollIntervalMs: config.pollIntervalMs,
        drain,
        signal: controller.signal,
        backoff,
        lockRetryMs: config.lockRetryMs,
        progressIntervalMs: config.progressIntervalMs,
        logger: logger("loop"),
        events: monitor,
        onActive: () => active = true,
      });
      log.info(
        "Stopped at checkpoint {checkpoint}: {pages} pages, {applied} events applied, {rejected} rejected",
        { ...summary },
      );
      return EXIT.ok;
    } finally {
      stopListening();
      await ops?.shutdown();
      await store.close();
    }
  },
});

/** Apply pending migrations (logging each), or with `migrate` false check none is missing. */
async function prepareSchema(store: StoreAdmin, migrate: boolean): Promise<void> {
  if (!migrate) return await store.verifySchema();
  for (const m of await store.migrate()) {
    logger("worker").info("Applied migration {version} {name}", {
      version: m.version,
      name: m.name,
    });
  }
}

/** The health state and metrics, with thresholds from the settings. */
function monitorFor(config: ApiConfig & WorkerConfig): WorkerMonitor {
  return new WorkerMonitor({
    stuckAfterMs: Math.max(60_000, 3 * config.apiTimeoutMs),
    pollFreshMs: Math.max(30_000, 3 * config.pollIntervalMs, 3 * config.apiTimeoutMs),
  });
}

/** The Scan Event API client the settings describe. */
function apiClient(config: ApiConfig & WorkerConfig, events?: ClientEvents): ScanApiClient {
  return new ScanApiClient({
    url: config.apiUrl,
    limit: config.limit,
    token: config.apiToken,
    timeoutMs: config.apiTimeoutMs,
    maxBodyBytes: config.maxBodyBytes,
    events,
    backoff: { baseMs: config.retryBaseMs, capMs: config.retryMaxMs },
    logger: logger("api"),
  });
}
