import { assertEquals, assertIncludes, assertOk } from "../helpers/assert.ts";
import { runMain } from "../helpers/cli.ts";
import { serveFeed } from "../helpers/feed_server.ts";
import { readTables, tempDatabase } from "../helpers/tables.ts";
import { SQLITE_MIGRATIONS } from "../../src/store/sqlite.ts";
import { FIXTURE_FEED, FIXTURE_REQUESTS_AT_LIMIT_3, FIXTURE_TABLES } from "./fixture.ts";

Deno.test("run --drain turns the fixture feed into exactly the expected tables", async () => {
  const db = tempDatabase();
  const feed = serveFeed(FIXTURE_FEED, { reversePages: true });
  try {
    const result = await runMain(["run", "--drain"], {
      env: {
        SCAN_API_URL: feed.url,
        SCAN_API_LIMIT: "3",
        DATABASE_URL: db.url,
        LOG_LEVEL: "debug",
        // Only checkpoint + 1 is asked for: no late-event re-read of the gap at 10 (late_test.ts).
        LATE_EVENT_WINDOW_MS: "0",
      },
    });
    assertEquals(result.code, 0, result.stdout + result.stderr);
    assertEquals(readTables(db.path), FIXTURE_TABLES);
    assertEquals(feed.requests.map((r) => r.from), FIXTURE_REQUESTS_AT_LIMIT_3);
    assertEquals(feed.requests.every((r) => r.limit === 3 && r.authorization === null), true);

    const pageLines = result.logs.filter((l) => String(l.message).startsWith("Page "));
    assertEquals(pageLines.length, 6);
    const warnings = result.logs.filter((l) => l.level === "WARN");
    assertEquals(warnings.length, 4);
    assertIncludes(String(warnings[0]?.message), "Rejected event 4: ");
    const last = result.logs.at(-1);
    assertIncludes(String(last?.message), "Stopped");
    assertEquals((last?.properties as Record<string, unknown>).checkpoint, 15);
  } finally {
    await feed.close();
    Deno.removeSync(db.dir, { recursive: true });
  }
});

Deno.test("draining again changes nothing and asks for checkpoint + 1", async () => {
  const db = tempDatabase();
  const feed = serveFeed(FIXTURE_FEED);
  try {
    const env = {
      SCAN_API_URL: feed.url,
      SCAN_API_LIMIT: "3",
      DATABASE_URL: db.url,
      LATE_EVENT_WINDOW_MS: "0", // no re-read of the gap at 10 (late_test.ts)
    };
    assertEquals((await runMain(["run", "--drain"], { env })).code, 0);
    const before = readTables(db.path);
    feed.requests.length = 0;
    assertEquals((await runMain(["run", "--drain"], { env })).code, 0);
    assertEquals(feed.requests.map((r) => r.from), [16]);
    assertEquals(readTables(db.path), before);
  } finally {
    await feed.close();
    Deno.removeSync(db.dir, { recursive: true });
  }
});

Deno.test("an API that ignores FromEventId cannot make the worker spin or double-apply", async () => {
  const db = tempDatabase();
  // Always serves the whole feed from the start, whatever was asked.
  const feed = serveFeed(FIXTURE_FEED, {
    fault: (_req, _i) => Response.json({ ScanEvents: FIXTURE_FEED.map((e) => e.raw) }),
  });
  try {
    const result = await runMain(["run", "--drain"], {
      env: {
        SCAN_API_URL: feed.url,
        SCAN_API_LIMIT: "100",
        DATABASE_URL: db.url,
        LATE_EVENT_WINDOW_MS: "0", // no re-read of the gap at 10 (late_test.ts)
      },
    });
    assertEquals(result.code, 0, result.stdout + result.stderr);
    const tables = readTables(db.path);
    const byEventId = (a: { EventId: number | null }, b: { EventId: number | null }) =>
      (a.EventId ?? 0) - (b.EventId ?? 0);
    assertEquals(
      { ...tables, rejected: tables.rejected.sort(byEventId) },
      { ...FIXTURE_TABLES, rejected: [...FIXTURE_TABLES.rejected].sort(byEventId) },
    );
    assertEquals(feed.requests.map((r) => r.from), [1, 16]);
  } finally {
    await feed.close();
    Deno.removeSync(db.dir, { recursive: true });
  }
});

Deno.test("the bearer token is sent and never logged", async () => {
  const db = tempDatabase();
  const feed = serveFeed(FIXTURE_FEED);
  try {
    const result = await runMain(["run", "--drain", "--log-level", "debug"], {
      env: {
        SCAN_API_URL: feed.url,
        DATABASE_URL: db.url,
        SCAN_API_TOKEN: "tok-3f9a-secret",
      },
    });
    assertEquals(result.code, 0, result.stderr);
    assertEquals(feed.requests[0]?.authorization, "Bearer tok-3f9a-secret");
    assertOk(!result.stdout.includes("tok-3f9a-secret") && !result.stderr.includes("tok-3f9a"));
  } finally {
    await feed.close();
    Deno.removeSync(db.dir, { recursive: true });
  }
});

Deno.test("status reports the checkpoint, counts and schema version", async () => {
  const db = tempDatabase();
  const feed = serveFeed(FIXTURE_FEED);
  try {
    const env = { SCAN_API_URL: feed.url, DATABASE_URL: db.url };
    assertEquals((await runMain(["run", "--drain"], { env })).code, 0);
    const json = await runMain(["status", "--json"], { env });
    assertEquals(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout);
    assertEquals(
      [report.checkpoint, report.parcels, report.rejected, report.schemaVersion, report.database],
      [15, 5, 4, SQLITE_MIGRATIONS.at(-1)?.version, db.url],
    );
    const text = await runMain(["status"], { env });
    assertIncludes(text.stdout, "checkpoint      15 (moved ");
    assertIncludes(text.stdout, "parcels         5\n");
    assertIncludes(text.stdout, "rejected        4\n");
    assertIncludes(text.stdout, `schema version  ${SQLITE_MIGRATIONS.at(-1)?.version}\n`);
  } finally {
    await feed.close();
    Deno.removeSync(db.dir, { recursive: true });
  }
});

Deno.test("an event without an id served again at a page's edge is reported and counted once", async () => {
  const db = tempDatabase();
  const event = (id: number) => ({
    EventId: id,
    ParcelId: 7,
    Type: "STATUS",
    CreatedDateTimeUtc: "2021-05-11T10:00:00Z",
  });
  // The junk sits between events 2 and 3: it ends the first page (Limit 3) and, paged by the
  // EventId after it, starts the second.
  const feed = serveFeed([
    { key: 1, raw: event(1) },
    { key: 2, raw: event(2) },
    { key: 3, raw: "junk" },
    { key: 3, raw: event(3) },
    { key: 4, raw: event(4) },
  ]);
  try {
    const result = await runMain(["run", "--drain", "--metrics-port", "0"], {
      env: { SCAN_API_URL: feed.url, SCAN_API_LIMIT: "3", DATABASE_URL: db.url },
    });
    assertEquals(result.code, 0, result.stdout);
    assertEquals(feed.requests.map((r) => r.from), [1, 3, 5]);
    assertEquals(readTables(db.path).rejected.length, 1);
    const warnings = result.logs.filter((l) => String(l.message).startsWith("Rejected event"));
    assertEquals(warnings.length, 1);
    const stopped = result.logs.at(-1);
    assertEquals((stopped?.properties as Record<string, unknown>).rejected, 1);
  } finally {
    await feed.close();
    Deno.removeSync(db.dir, { recursive: true });
  }
});
