/**
 * The `scan-worker` command line (SPEC §6): parse argv, load the configuration, dispatch a
 * command, and map errors to exit codes (0 ok, 1 runtime failure, 2 usage or configuration).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { ScanApiClient } from "./api/client.ts";
import { type Config, ConfigError, readDotEnv, resolveConfig } from "./config.ts";
import { logger, setupLogging, stopLogging } from "./log.ts";
import { serveOps } from "./ops/http.ts";
import { WorkerMonitor } from "./ops/monitor.ts";
import {
  formatParcel,
  formatRejections,
  resetCheckpoint,
  ResetRefusedError,
  wholeNumber,
} from "./ops/operator.ts";
import { formatStatus, statusReport } from "./ops/status.ts";
import { VERSION, versionLine } from "./version.ts";
import { openStore } from "./store/open.ts";
import { parseSimulateFlags, SIMULATE_FLAGS, type SimulateFlags } from "./simulator/options.ts";
import { startSimulator } from "./simulator/server.ts";
import { runLoop } from "./worker/loop.ts";

/** The program's version, from deno.json. */
export { VERSION } from "./version.ts";

/** Exit codes (SPEC §6). */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

const HELP = `scan-worker ${VERSION} — pulls parcel scan events into parcel states

Usage:
  scan-worker run [--drain] [--no-migrate] [options]   run the worker
  scan-worker migrate [options]                        apply pending database migrations
  scan-worker status [--json] [options]                checkpoint, parcels, rejections, schema
  scan-worker simulate [simulator options]             a built-in Scan Event API for dev and tests
  scan-worker parcel <ParcelId> [--json] [options]     one parcel's row
  scan-worker rejected [--limit N] [--json] [options]  the newest rejected events
  scan-worker reset --to <EventId> [--yes] [options]   move the checkpoint (replay or skip)
  scan-worker --help | --version

Commands:
  run          Poll the Scan Event API and keep ParcelStates up to date. Stops cleanly on
               SIGINT/SIGTERM: the page in flight commits or rolls back.
               --drain       exit 0 once the API returns an empty page (caught up)
               --no-migrate  do not apply migrations at start (fail if any are missing)
  migrate      Apply pending migrations and print what was applied.
  status       Print the checkpoint, parcel and rejection counts and the schema version.
               --json        as one JSON object
  parcel       Print a parcel's row (times in UTC); exit 1 when the parcel is unknown.
               --json        as one JSON object
  rejected     Print the newest rejected events with reason and payload, newest first.
               --limit N     how many (20)   --json   as a JSON array
  reset        Move the checkpoint to EventId: back replays events (safe, changes nothing
               stored), forward skips them. Asks for confirmation unless --yes, and refuses
               without --yes when stdin is not a terminal, or while a worker holds the feed lock.
  simulate     Serve GET /v1/scans/scanevents (SPEC §2) from a seeded, deterministic feed of
               parcel lifecycles; prints its URL, stops on SIGINT/SIGTERM.
               --host H             interface (127.0.0.1)      --port N      0 = any free (0)
               --seed N             feed seed (1)              --events N    backlog (100000)
               --parcels P          parcels in the backlog (events/8)
               --rate R             new events/s after the backlog, 0 = fixed feed (0)
               --max-limit N        largest Limit served (1000)
               --fail-rate F        share of requests answered 503 (0)
               --slow-rate F, --slow-ms MS   share delayed by MS (0, 2000)
               --garbage-rate F     share answered 200 with an HTML body (0)
               --reset-rate F       share whose connection drops mid-body (0)
               --throttle-rate F    share answered 429 with Retry-After: 1 (0)
               --malformed-rate F   share of events that break SPEC §3.2 (0)

Options (each overrides its environment variable, which overrides .env):
  --api-url URL            SCAN_API_URL         feed URL (http://localhost/v1/scans/scanevents)
  --limit N                SCAN_API_LIMIT       events per page (100)
  --api-timeout-ms MS      SCAN_API_TIMEOUT_MS  per-request timeout (10000)
  --poll-interval-ms MS    POLL_INTERVAL_MS     wait after a short or empty page (5000)
  --db URL                 DATABASE_URL         sqlite:PATH (sqlite:./scan-worker.db)
  --log-level LEVEL        LOG_LEVEL            debug, info, warning, error (info)
  --log-format FORMAT      LOG_FORMAT           json or pretty (pretty on a terminal)
  --metrics-port N         METRICS_PORT         serve /healthz, /readyz, /metrics (unset: none)
                           METRICS_HOST         the listener's interface (127.0.0.1)
                           SCAN_API_TOKEN       bearer token sent to the API (unset)
                           RETRY_BASE_MS        first retry wait, doubling per attempt (500)
                           RETRY_MAX_MS         longest retry wait, and the wait after a 4xx (30000)
                           LOCK_RETRY_MS        how often a standby retries the feed lock (5000)
                           LOG_PROGRESS_MS      progress line interval while catching up (10000)
                           SCAN_API_MAX_BODY_BYTES  larger responses are refused (52428800)

Examples:
  scan-worker run --api-url http://scan-api.internal/v1/scans/scanevents --db sqlite:/var/lib/scan-worker/scan.db
  SCAN_API_LIMIT=1000 scan-worker run --drain
  scan-worker status --json --db sqlite:./scan-worker.db
  scan-worker simulate --port 8080 --events 1000000 --rate 50 --fail-rate 0.05
  scan-worker parcel 5002 --json
  scan-worker reset --to 83000 --yes

Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.
`;

const OPTIONS = {
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
  drain: { type: "boolean" },
  "no-migrate": { type: "boolean" },
  json: { type: "boolean" },
  to: { type: "string" },
  yes: { type: "boolean" },
  "api-url": { type: "string" },
  limit: { type: "string" },
  "api-timeout-ms": { type: "string" },
  "poll-interval-ms": { type: "string" },
  db: { type: "string" },
  "log-level": { type: "string" },
  "log-format": { type: "string" },
  "metrics-port": { type: "string" },
  ...Object.fromEntries(SIMULATE_FLAGS.map((flag) => [flag, { type: "string" }])) as Record<
    typeof SIMULATE_FLAGS[number],
    { type: "string" }
  >,
} as const;

/** Flags that only one command takes. */
const COMMAND_FLAGS: Record<string, readonly string[]> = {
  drain: ["run"],
  "no-migrate": ["run"],
  "metrics-port": ["run"],
  json: ["status", "parcel", "rejected"],
  to: ["reset"],
  yes: ["reset"],
  ...Object.fromEntries(SIMULATE_FLAGS.map((flag) => [flag, ["simulate"]])),
};

const COMMANDS = ["run", "migrate", "status", "simulate", "parcel", "rejected", "reset"] as const;
type Command = typeof COMMANDS[number];

/** A wrong command line; printed with a hint, exit 2. */
class UsageError extends Error {}

const encoder = new TextEncoder();
function print(text: string, stream: "stdout" | "stderr" = "stdout"): void {
  const target = stream === "stdout" ? Deno.stdout : Deno.stderr;
  const bytes = encoder.encode(text);
  let written = 0;
  while (written < bytes.length) written += target.writeSync(bytes.subarray(written));
}

/** `run`: migrate (unless --no-migrate), then the loop until drained or signalled. */
async function runCommand(config: Config, drain: boolean, migrate: boolean): Promise<number> {
  const log = logger("worker");
  const store = await openStore(config.database);
  const controller = new AbortController();
  const onSignal = (name: Deno.Signal) => () => {
    if (controller.signal.aborted) {
      log.warn("Received {signal} again: exiting now", { signal: name });
      Deno.exit(EXIT.failure);
    }
    log.info("Received {signal}: stopping after the page in flight", { signal: name });
    controller.abort();
  };
  let ops: { shutdown(): Promise<void> } | null = null;
  const handlers = (["SIGINT", "SIGTERM"] as const).map((name) => {
    const handler = onSignal(name);
    Deno.addSignalListener(name, handler);
    return [name, handler] as const;
  });
  try {
    if (migrate) {
      for (const m of await store.migrate()) {
        log.info("Applied migration {version} {name}", { version: m.version, name: m.name });
      }
    } else {
      await store.verifySchema();
    }
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
    const backoff = { baseMs: config.retryBaseMs, capMs: config.retryMaxMs };
    const monitor = config.metricsPort === null ? undefined : new WorkerMonitor({
      stuckAfterMs: Math.max(60_000, 3 * config.apiTimeoutMs),
      pollFreshMs: Math.max(30_000, 3 * config.pollIntervalMs, 3 * config.apiTimeoutMs),
    });
    ops = monitor === undefined ? null : serveOps({
      host: config.metricsHost,
      port: config.metricsPort ?? 0,
      monitor,
      checkDatabase: () => store.readCheckpoint(),
      databaseTimeoutMs: 2000,
      logger: logger("http"),
    });
    const client = new ScanApiClient({
      url: config.apiUrl,
      limit: config.limit,
      token: config.apiToken,
      timeoutMs: config.apiTimeoutMs,
      maxBodyBytes: config.maxBodyBytes,
      events: monitor,
      backoff,
      logger: logger("api"),
    });
    const summary = await runLoop({
      store,
      source: client,
      limit: config.limit,
      pollIntervalMs: config.pollIntervalMs,
      drain,
      signal: controller.signal,
      backoff,
      lockRetryMs: config.lockRetryMs,
      progressIntervalMs: config.progressIntervalMs,
      logger: logger("loop"),
      events: monitor,
    });
    log.info(
      "Stopped at checkpoint {checkpoint}: {pages} pages, {applied} events applied, {rejected} rejected",
      { ...summary },
    );
    return EXIT.ok;
  } finally {
    for (const [name, handler] of handlers) Deno.removeSignalListener(name, handler);
    await ops?.shutdown();
    await store.close();
  }
}

/** Resolve when SIGINT or SIGTERM arrives. */
function waitForSignal(): Promise<Deno.Signal> {
  return new Promise((resolve) => {
    const signals = ["SIGINT", "SIGTERM"] as const;
    const handlers = signals.map((name) => {
      const handler = () => {
        signals.forEach((s, i) => Deno.removeSignalListener(s, handlers[i] ?? handler));
        resolve(name);
      };
      Deno.addSignalListener(name, handler);
      return handler;
    });
  });
}

/** `simulate`: serve the built-in Scan Event API until SIGINT/SIGTERM. */
async function simulateCommand(values: SimulateFlags): Promise<number> {
  const settings = parseSimulateFlags(values);
  const log = logger("simulator");
  const simulator = startSimulator({ ...settings, logger: log });
  const { shape } = settings;
  print(`Scan Event API simulator listening on ${simulator.url}\n`);
  log.info(
    "Serving {events} events (seed {seed}, {steps} per parcel), growing {rate}/s, Limit capped at {maxLimit}",
    {
      events: shape.events,
      seed: shape.seed,
      steps: shape.stepsPerParcel,
      rate: settings.rate,
      maxLimit: settings.maxLimit,
      malformedRate: shape.malformedRate,
      ...settings.faults,
    },
  );
  const signal = await waitForSignal();
  await simulator.shutdown();
  log.info("Received {signal}: stopped after {requests} requests, {eventsServed} events served", {
    signal,
    ...simulator.stats,
  });
  return EXIT.ok;
}

/** `parcel <ParcelId>`: one parcel's row. */
async function parcelCommand(
  config: Config,
  argument: string | undefined,
  json: boolean,
): Promise<number> {
  const parcelId = wholeNumber(argument, "ParcelId", 1);
  const store = await openStore(config.database, { readOnly: true });
  try {
    const parcel = await store.parcel(parcelId);
    if (parcel === null) {
      print(`scan-worker: parcel ${parcelId} is not in ParcelStates\n`, "stderr");
      return EXIT.failure;
    }
    print(json ? JSON.stringify(parcel) + "\n" : formatParcel(parcel));
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

/** `rejected [--limit N]`: the newest rejections. */
async function rejectedCommand(
  config: Config,
  limit: string | undefined,
  json: boolean,
): Promise<number> {
  const count = limit === undefined ? 20 : wholeNumber(limit, "--limit", 1);
  const store = await openStore(config.database, { readOnly: true });
  try {
    const rows = await store.rejections(count);
    print(json ? JSON.stringify(rows) + "\n" : formatRejections(rows));
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

/** `reset --to <EventId>`: move the checkpoint, under the feed lock. */
async function resetCommand(config: Config, to: string | undefined, yes: boolean): Promise<number> {
  const eventId = wholeNumber(to, "--to", 0);
  const store = await openStore(config.database);
  try {
    const outcome = await resetCheckpoint(store, eventId, yes, {
      interactive: Deno.stdin.isTerminal(),
      ask: (question) => (prompt(question) ?? "").trim().toLowerCase().startsWith("y"),
    });
    logger("reset").warning("Checkpoint moved from {from} to {to} by reset", { ...outcome });
    print(`checkpoint moved from ${outcome.from} to ${outcome.to}\n`);
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

/** `migrate`: apply pending migrations and print them. */
async function migrateCommand(config: Config): Promise<number> {
  const store = await openStore(config.database);
  try {
    const applied = await store.migrate();
    if (applied.length === 0) {
      const { schemaVersion } = await store.status();
      print(`schema is up to date (version ${schemaVersion})\n`);
    }
    for (const m of applied) {
      print(
        `applied ${String(m.version).padStart(3, "0")}_${m.name} (${m.checksum.slice(0, 12)})\n`,
      );
    }
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

/** `status`: the store's key figures. */
async function statusCommand(config: Config, json: boolean): Promise<number> {
  const store = await openStore(config.database, { readOnly: true });
  try {
    const report = statusReport(config.databaseForLog, await store.status(), Date.now());
    print(json ? JSON.stringify(report) + "\n" : formatStatus(report));
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

function parseCommandLine(args: string[]) {
  let parsed;
  try {
    parsed = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help || values.version) return { command: null, values };
  const [command, ...extra] = positionals;
  if (command === undefined) throw new UsageError("no command given");
  if (!COMMANDS.includes(command as Command)) throw new UsageError(`unknown command "${command}"`);
  const takes = command === "parcel" ? 1 : 0;
  if (extra.length > takes) throw new UsageError(`unexpected argument "${extra[takes]}"`);
  if (extra.length < takes) {
    throw new UsageError(`${command} needs a ParcelId: scan-worker parcel 5002`);
  }
  for (const [flag, commands] of Object.entries(COMMAND_FLAGS)) {
    if (values[flag as keyof typeof values] !== undefined && !commands.includes(command)) {
      throw new UsageError(`--${flag} is only for: ${commands.join(", ")}`);
    }
  }
  return { command: command as Command, values, argument: extra[0] };
}

/**
 * Run the program with `args` (without the program name); returns the exit code.
 * Everything the process prints goes through here, so tests can call it in-process.
 */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseCommandLine(args);
  } catch (error) {
    print(
      `scan-worker: ${(error as Error).message}\nRun "scan-worker --help" for usage.\n`,
      "stderr",
    );
    return EXIT.usage;
  }
  const { command, values } = parsed;
  if (values.help) {
    print(HELP);
    return EXIT.ok;
  }
  if (command === null) {
    print(`${versionLine()}\n`);
    return EXIT.ok;
  }

  let config: Config;
  try {
    config = resolveConfig({
      // For `rejected`, --limit is how many rows to show, not SCAN_API_LIMIT.
      flags: command === "rejected" ? { ...values, limit: undefined } : values,
      env: Deno.env.toObject(),
      dotenv: readDotEnv(),
      stdoutIsTerminal: Deno.stdout.isTerminal(),
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    print(`scan-worker: ${error.message}\n`, "stderr");
    return EXIT.usage;
  }

  const logStream = command === "run" ? "stdout" : "stderr";
  await setupLogging(config.logLevel, config.logFormat, logStream);
  try {
    switch (command) {
      case "run":
        return await runCommand(config, values.drain ?? false, !(values["no-migrate"] ?? false));
      case "migrate":
        return await migrateCommand(config);
      case "status":
        return await statusCommand(config, values.json ?? false);
      case "simulate":
        return await simulateCommand(values);
      case "parcel":
        return await parcelCommand(config, parsed.argument, values.json ?? false);
      case "rejected":
        return await rejectedCommand(config, values.limit, values.json ?? false);
      case "reset":
        return await resetCommand(config, values.to, values.yes ?? false);
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      print(`scan-worker: ${error.message}\n`, "stderr");
      return EXIT.usage;
    }
    if (error instanceof ResetRefusedError) {
      print(`scan-worker: reset: ${error.message}\n`, "stderr");
      return EXIT.failure;
    }
    logger("cli").error("{command} failed: {error}", {
      command,
      error: (error as Error).message ?? String(error),
    });
    return EXIT.failure;
  } finally {
    await stopLogging();
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
