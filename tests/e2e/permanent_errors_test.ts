/**
 * A database error that retrying cannot fix stops `run` with exit 1 and one line naming the
 * store, the error's code and what the worker was doing, instead of an endless retry: a table
 * dropped mid-run (SQLite, PostgreSQL) and a permission revoked mid-run (PostgreSQL).
 */
import { DatabaseSync } from "node:sqlite";
import { assertEquals, assertOk } from "../helpers/assert.ts";
import { type CliResult, props, runMain, startMain } from "../helpers/cli.ts";
import { entries, serveFeed } from "../helpers/feed_server.ts";
import { adminQuery, createTestDatabase, PG_SKIP } from "../helpers/postgres.ts";
import { tempDatabase } from "../helpers/tables.ts";

/** A long feed of valid events over a few parcels. */
const FEED = entries(Array.from({ length: 5000 }, (_, i) => ({
  EventId: i + 1,
  ParcelId: 1 + (i % 50),
  Type: i % 50 === i ? "PICKUP" : "STATUS",
  CreatedDateTimeUtc: "2021-05-11T10:00:00.1234567Z",
})));

const isPage = (line: Record<string, unknown>) => String(line.message).startsWith("Page ");

/**
 * Run the worker on `databaseUrl` against a slow feed, wait until it has written a few pages,
 * `breakIt`, and return what the worker printed by the time it ended.
 */
async function breakMidRun(
  databaseUrl: string,
  breakIt: () => Promise<void>,
): Promise<CliResult> {
  const feed = serveFeed(FEED, { delayMs: 5 });
  const worker = startMain(["run"], {
    env: {
      SCAN_API_URL: feed.url,
      SCAN_API_LIMIT: "10",
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: "debug",
      RETRY_BASE_MS: "50",
      RETRY_MAX_MS: "100",
      POLL_INTERVAL_MS: "100",
    },
  });
  try {
    await worker.waitForLog((l) => isPage(l) && Number(props(l).to) >= 50);
    await breakIt();
    // A retry loop would never end: stop it after 30 s (the test then fails on its exit code).
    const timer = setTimeout(() => worker.signal("SIGTERM"), 30_000);
    const result = await worker.done;
    clearTimeout(timer);
    return result;
  } finally {
    worker.signal("SIGTERM");
    await worker.done;
    await feed.close();
  }
}

/** Exit 1, one error line whose error matches `line`, and no retried page write. */
function assertStoppedOnce(result: CliResult, line: RegExp): void {
  assertEquals(result.code, 1, result.stdout.slice(-3000));
  const errors = result.logs.filter((l) => l.level === "ERROR");
  assertEquals(errors.length, 1, JSON.stringify(errors));
  const error = String(props(errors[0] ?? {}).error);
  assertOk(line.test(error), error);
  const retried = result.logs.filter((l) => String(l.message).startsWith("Writing page "));
  assertEquals(retried, [], "a permanent error is not retried");
}

Deno.test("SQLite: a table dropped mid-run stops the worker with exit 1 and one line", async () => {
  const db = tempDatabase("scan-worker-permanent-");
  try {
    const result = await breakMidRun(db.url, () => {
      const other = new DatabaseSync(db.path);
      try {
        other.exec("PRAGMA busy_timeout = 5000; DROP TABLE ParcelStates");
      } finally {
        other.close();
      }
      return Promise.resolve();
    });
    assertStoppedOnce(
      result,
      /SQLite SQLITE_ERROR while writing page \d+\.\.\d+: no such table: (main\.)?ParcelStates/,
    );
  } finally {
    Deno.removeSync(db.dir, { recursive: true });
  }
});

Deno.test({
  name: "PostgreSQL: a table dropped mid-run stops the worker with exit 1 and one line",
  ignore: PG_SKIP !== null,
  async fn() {
    const db = await createTestDatabase("scan_worker_permanent");
    try {
      const result = await breakMidRun(db.url, async () => {
        await db.query("DROP TABLE parcel_states");
      });
      assertStoppedOnce(
        result,
        /PostgreSQL SQLSTATE 42P01 while writing page \d+\.\.\d+: relation "parcel_states" does not exist/,
      );
    } finally {
      await db.drop();
    }
  },
});

Deno.test({
  name: "PostgreSQL: a permission revoked mid-run stops the worker with exit 1 and one line",
  ignore: PG_SKIP !== null,
  async fn() {
    const db = await createTestDatabase("scan_worker_revoke");
    const role = `scan_worker_role_${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
    await db.query(`CREATE ROLE ${role} LOGIN`);
    try {
      const migrated = await runMain(["migrate"], { env: { DATABASE_URL: db.url } });
      assertEquals(migrated.code, 0, migrated.stderr);
      await db.query(
        `GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO ${role}`,
      );
      const url = new URL(db.url);
      url.username = role;
      const result = await breakMidRun(url.href, async () => {
        await db.query(`REVOKE UPDATE ON parcel_states FROM ${role}`);
      });
      assertStoppedOnce(
        result,
        /PostgreSQL SQLSTATE 42501 while writing page \d+\.\.\d+: permission denied for table parcel_states/,
      );
    } finally {
      await db.drop();
      await adminQuery(`DROP ROLE IF EXISTS ${role}`);
    }
  },
});
