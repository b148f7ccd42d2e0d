// deno-lint-ignore-file no-console -- this script prints its report for people
/**
 * `deno task demo`: start the built-in simulator and the worker (both as the real CLI, in
 * subprocesses) on a fresh SQLite database in a temporary folder, drain a backlog of 100,000
 * events, and print a summary and three sample parcels.
 *
 * Options: `--events N` (100000), `--limit N` (1000), `--keep` (keep the database and print
 * its path).
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { checkArgs } from "./args.ts";
import { cliCommand, startSimulatorProcess } from "./subprocess.ts";

/** The options; `--help` lists them with their defaults. */
const DEMO_OPTIONS = {
  events: { type: "string", default: "100000" },
  limit: { type: "string", default: "1000" },
  keep: { type: "boolean", default: false },
} satisfies ParseArgsOptionsConfig;
checkArgs(
  "demo",
  "the simulator and the worker draining its feed into a temporary SQLite file.",
  DEMO_OPTIONS,
);
const { values } = parseArgs({ args: Deno.args, options: DEMO_OPTIONS });
const events = Number(values.events);
const limit = Number(values.limit);
if (!Number.isSafeInteger(events) || events < 1 || !Number.isSafeInteger(limit) || limit < 1) {
  console.error("demo: --events and --limit must be positive whole numbers");
  Deno.exit(2);
}

const dir = await Deno.makeTempDir({ prefix: "scan-worker-demo-" });
const dbPath = `${dir}/demo.db`;
const simulator = await startSimulatorProcess(
  ["--port", "0", "--events", String(events), "--malformed-rate", "0.0005"],
);

let code = 1;
try {
  const url = simulator.url;
  console.log(`simulator: ${url} (${events} events)`);
  console.log(`database:  sqlite:${dbPath}`);
  const started = performance.now();
  const worker = await cliCommand(["run", "--drain"], {
    env: {
      SCAN_API_URL: url,
      SCAN_API_LIMIT: String(limit),
      DATABASE_URL: `sqlite:${dbPath}`,
      LOG_LEVEL: "warning",
      LOG_FORMAT: "json",
    },
    stdout: "null",
    stderr: "inherit",
  }).output();
  const seconds = (performance.now() - started) / 1000;
  if (!worker.success) throw new Error(`the worker exited with ${worker.code}`);

  const db = new DatabaseSync(dbPath, { readOnly: true });
  const one = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
  const checkpoint = one(
    "SELECT LastProcessedEventId AS n FROM WorkerStates WHERE Id = 'scan-events'",
  );
  const parcels = one("SELECT count(*) AS n FROM ParcelStates");
  const pickedUp = one("SELECT count(*) AS n FROM ParcelStates WHERE PickupTimeUtc IS NOT NULL");
  const delivered = one("SELECT count(*) AS n FROM ParcelStates WHERE DeliveryTimeUtc IS NOT NULL");
  const rejected = one("SELECT count(*) AS n FROM RejectedEvents");
  const samples = db.prepare(
    `SELECT * FROM (SELECT * FROM ParcelStates WHERE DeliveryTimeUtc IS NOT NULL ORDER BY ParcelId LIMIT 1)
     UNION ALL SELECT * FROM (SELECT * FROM ParcelStates WHERE DeliveryTimeUtc IS NULL AND Type = 'STATUS'
       ORDER BY ParcelId LIMIT 1)
     UNION ALL SELECT * FROM (SELECT * FROM ParcelStates WHERE Type NOT IN ('PICKUP', 'STATUS', 'DELIVERY')
       ORDER BY ParcelId LIMIT 1)`,
  ).all() as Record<string, unknown>[];
  db.close();

  const rows: [string, string][] = [
    ["events", String(events)],
    ["checkpoint", String(checkpoint)],
    ["parcels", String(parcels)],
    ["picked up", String(pickedUp)],
    ["delivered", String(delivered)],
    ["rejected", String(rejected)],
    ["events/s", String(Math.round(events / seconds))],
    ["elapsed", `${seconds.toFixed(2)} s`],
  ];
  console.log("\nsummary");
  for (const [name, value] of rows) console.log(`  ${name.padEnd(12)}${value}`);
  console.log("\nsample parcels");
  for (const p of samples) {
    console.log(
      `  parcel ${p.ParcelId}: last event ${p.LastEventId} ${p.Type}` +
        `${p.StatusCode ? ` (${p.StatusCode})` : ""} at ${p.CreatedDateTimeUtc}, run ${
          p.RunId ?? "-"
        }` +
        `\n    picked up ${p.PickupTimeUtc ?? "-"}, delivered ${p.DeliveryTimeUtc ?? "-"}`,
    );
  }
  code = 0;
} catch (error) {
  console.error(`demo failed: ${(error as Error).message}`);
} finally {
  await simulator.stop();
  if (values.keep) console.log(`\nkept ${dbPath}`);
  else await Deno.remove(dir, { recursive: true });
}
Deno.exit(code);
