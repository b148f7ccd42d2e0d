import { assertEquals, assertOk } from "../helpers/assert.ts";
import { props, runMain, spawnCli } from "../helpers/cli.ts";
import { oracle } from "../helpers/oracle.ts";
import {
  atMicroseconds,
  createTestDatabase,
  PG_SKIP,
  readPostgresTables,
} from "../helpers/postgres.ts";
import { entries, serveFeed } from "../helpers/feed_server.ts";
import { CLUSTER_SKIP, startCluster } from "../helpers/pg_cluster.ts";
import { startSimulator } from "../helpers/simulator.ts";
import { POSTGRES_MIGRATIONS } from "../../src/store/postgres.ts";
import { readTables, tempDatabase } from "../helpers/tables.ts";
import { feedShape } from "../../src/simulator/model.ts";
import { messageId } from "../../src/domain/message.ts";
import { NATS_IGNORE, readStream, startNats } from "../helpers/nats_server.ts";

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
        [
          fromSqlite.checkpoint,
          fromSqlite.parcels.length,
          fromSqlite.rejected.length,
          POSTGRES_MIGRATIONS.at(-1)?.version,
        ],
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
    "PostgreSQL stopped mid-drain, longer than the store's own retries: the worker logs the outage, waits, resumes, ends exact",
  ignore: CLUSTER_SKIP !== null,
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
    const cluster = await startCluster();
    try {
      const db = await createTestDatabase("scan_worker_outage", cluster.url());
      const worker = spawnCli(["run", "--drain"], {
        env: {
          SCAN_API_URL: sim.url,
          SCAN_API_LIMIT: "200",
          DATABASE_URL: db.url,
          RETRY_BASE_MS: "100",
          RETRY_MAX_MS: "1000",
          LOG_LEVEL: "debug",
        },
      });
      await worker.waitForLog((l) =>
        String(l.message).startsWith("Page ") && Number(props(l).to) >= 4000
      );
      await cluster.stop();
      // The state that matters: the store's own retries are spent, the loop logs the failure.
      await worker.waitForLog((l) => String(l.message).startsWith("Writing page "), 30_000);
      await cluster.start();
      const result = await worker.done;
      assertEquals(result.code, 0, result.stderr);
      const failures = result.logs.filter((l) => String(l.message).startsWith("Writing page "));
      assertOk(failures.length >= 1 && failures.every((l) => l.level === "ERROR"));

      const expected = oracle(feedShape({ seed: 8, events }), events);
      const tables = await readPostgresTables(db);
      assertEquals(tables.checkpoint, expected.checkpoint);
      assertEquals(
        tables.parcels,
        atMicroseconds({ checkpoint: 0, parcels: expected.parcels, rejected: [] }).parcels,
      );
      assertEquals(tables.rejected, []);
      await db.drop();
    } finally {
      await sim.stop();
      await cluster.destroy();
    }
  },
});

Deno.test({
  name:
    "the feed lock's session ended by the server: the worker says so, its relay stops, and both go on once it takes the lock back",
  ignore: PG_SKIP !== null || NATS_IGNORE,
  async fn() {
    const db = await createTestDatabase("scan_worker_relock");
    const server = await startNats();
    const feed = serveFeed(
      entries(Array.from({ length: 30 }, (_, i) => ({
        EventId: i + 1,
        ParcelId: 1 + (i % 3),
        Type: "STATUS",
        CreatedDateTimeUtc: "2021-05-11T10:00:00Z",
      }))),
    );
    const worker = spawnCli(["run"], {
      env: {
        SCAN_API_URL: feed.url,
        DATABASE_URL: db.url,
        NATS_URL: server.url,
        POLL_INTERVAL_MS: "50",
        LOCK_RETRY_MS: "100",
      },
    });
    try {
      await worker.waitForLog((l) => String(l.message).startsWith("Caught up at checkpoint 30"));
      await db.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = 'scan-worker (feed lock)'`,
      );
      await worker.waitForLog((l) => String(l.message).startsWith("Lost the feed lock"));
      await worker.waitForLog((l) =>
        String(l.message).startsWith("The relay paused: this instance lost the feed lock")
      );
      await worker.waitForLog((l) =>
        l.message === "Holding the feed lock again: this instance is active"
      );
      let connects = 0; // the relay's connection: at start, and again once the lock is back
      await worker.waitForLog((l) =>
        String(l.message).startsWith("Connected to NATS") && ++connects === 2
      );
    } finally {
      worker.process.kill("SIGTERM");
      const result = await worker.done;
      assertEquals(result.code, 0, result.stderr);
      assertEquals(
        result.logs.filter((l) => String(l.message).startsWith("Another instance holds")),
        [],
      );
      const ids = (await readStream(server.url)).map((m) => m.id);
      await feed.close();
      await server.destroy();
      await db.drop();
      assertEquals(ids, Array.from({ length: 30 }, (_, i) => messageId(i + 1)));
    }
  },
});
