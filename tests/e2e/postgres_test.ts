import { assertEquals, assertOk } from "../helpers/assert.ts";
import { props, runMain, spawnCli } from "../helpers/cli.ts";
import { oracle } from "../helpers/oracle.ts";
import {
  atMicroseconds,
  createTestDatabase,
  PG_SKIP,
  readPostgresTables,
} from "../helpers/postgres.ts";
import { startSimulator } from "../helpers/simulator.ts";
import { readTables, tempDatabase } from "../helpers/tables.ts";
import { feedShape } from "../../src/simulator/model.ts";

const CLUSTER = (() => {
  try {
    const [version] = [...Deno.readDirSync("/etc/postgresql")].map((e) => e.name);
    return version ?? null;
  } catch {
    return null;
  }
})();

async function cluster(action: "start" | "stop"): Promise<void> {
  const result = await new Deno.Command("pg_ctlcluster", {
    args: [
      "--skip-systemctl-redirect",
      CLUSTER ?? "",
      "main",
      action,
      ...(action === "stop" ? ["-m", "fast"] : []),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) {
    throw new Error(`pg_ctlcluster ${action} failed: ${new TextDecoder().decode(result.stderr)}`);
  }
}

async function waitForPostgres(): Promise<void> {
  for (let i = 0; i < 60; i++) {
    const ready = await new Deno.Command("pg_isready", { args: ["-h", "127.0.0.1", "-q"] })
      .output();
    if (ready.success) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error("PostgreSQL did not come back");
}

Deno.test({
  name: "the same simulated feed gives equal tables in SQLite and PostgreSQL (at microseconds)",
  ignore: PG_SKIP !== null,
  async fn() {
    const sim = await startSimulator([
      "--events",
      "20000",
      "--seed",
      "31",
      "--malformed-rate",
      "0.01",
    ]);
    const sqlite = tempDatabase("scan-worker-pg-vs-sqlite-");
    const pgdb = await createTestDatabase("scan_worker_e2e");
    try {
      const env = { SCAN_API_URL: sim.url, SCAN_API_LIMIT: "500", LOG_LEVEL: "warning" };
      const a = await runMain(["run", "--drain"], { env: { ...env, DATABASE_URL: sqlite.url } });
      assertEquals(a.code, 0, a.stderr);
      const b = await runMain(["run", "--drain"], { env: { ...env, DATABASE_URL: pgdb.url } });
      assertEquals(b.code, 0, b.stderr);

      const fromSqlite = atMicroseconds(readTables(sqlite.path));
      const fromPostgres = await readPostgresTables(pgdb);
      assertEquals(fromPostgres.checkpoint, fromSqlite.checkpoint);
      assertEquals(fromPostgres.parcels, fromSqlite.parcels);
      assertEquals(fromPostgres.rejected.length, fromSqlite.rejected.length);
      assertOk(fromSqlite.parcels.length > 2000);

      const status = await runMain(["status", "--json"], { env: { DATABASE_URL: pgdb.url } });
      assertEquals(status.code, 0, status.stderr);
      const report = JSON.parse(status.stdout);
      assertEquals(
        [report.checkpoint, report.parcels, report.rejected, report.schemaVersion],
        [fromSqlite.checkpoint, fromSqlite.parcels.length, fromSqlite.rejected.length, 1],
      );
    } finally {
      await sim.stop();
      await pgdb.drop();
      Deno.removeSync(sqlite.dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "PostgreSQL stopped for 10 s mid-drain: the worker logs the outage, waits, resumes, ends exact",
  ignore: PG_SKIP !== null || CLUSTER === null,
  async fn() {
    const events = 30_000;
    const sim = await startSimulator([
      "--events",
      String(events),
      "--seed",
      "8",
      "--slow-rate",
      "1",
      "--slow-ms",
      "15",
    ]);
    const pgdb = await createTestDatabase("scan_worker_outage");
    let stopped = false;
    try {
      const worker = spawnCli(["run", "--drain"], {
        env: {
          SCAN_API_URL: sim.url,
          SCAN_API_LIMIT: "200",
          DATABASE_URL: pgdb.url,
          RETRY_BASE_MS: "100",
          RETRY_MAX_MS: "1000",
          LOG_LEVEL: "debug",
        },
      });
      await worker.waitForLog((l) =>
        String(l.message).startsWith("Page ") && Number(props(l).to) >= 4000
      );
      await cluster("stop");
      stopped = true;
      await worker.waitForLog((l) => String(l.message).startsWith("Writing page "), 20_000);
      await new Promise((resolve) => setTimeout(resolve, 10_000));
      await cluster("start");
      stopped = false;
      await waitForPostgres();
      const result = await worker.done;
      assertEquals(result.code, 0, result.stderr);
      const failures = result.logs.filter((l) => String(l.message).startsWith("Writing page "));
      assertOk(failures.length >= 1 && failures.every((l) => l.level === "ERROR"));

      const expected = oracle(feedShape({ seed: 8, events }), events);
      const tables = await readPostgresTables(pgdb);
      assertEquals(tables.checkpoint, expected.checkpoint);
      assertEquals(
        tables.parcels,
        atMicroseconds({ checkpoint: 0, parcels: expected.parcels, rejected: [] }).parcels,
      );
      assertEquals(tables.rejected, []);
    } finally {
      if (stopped) {
        await cluster("start");
        await waitForPostgres();
      }
      await sim.stop();
      await pgdb.drop();
    }
  },
});

if (PG_SKIP === null && CLUSTER === null) {
  // deno-lint-ignore no-console -- the skip must say why, on the test output
  console.log("PostgreSQL outage test skipped: no cluster under /etc/postgresql to stop and start");
}
