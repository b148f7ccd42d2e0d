import { assertEquals, assertIncludes, assertOk } from "../helpers/assert.ts";
import { runMain, spawnCli } from "../helpers/cli.ts";
import { serveFeed } from "../helpers/feed_server.ts";
import { createTestDatabase, PG_SKIP } from "../helpers/postgres.ts";
import { readTables, tempDatabase } from "../helpers/tables.ts";
import { FIXTURE_FEED, FIXTURE_TABLES } from "./fixture.ts";

/** A drained fixture database of one kind. */
interface Drained {
  readonly url: string;
  /** The checkpoint as the database holds it. */
  checkpoint(): Promise<number>;
  cleanup(): Promise<void>;
}

async function drained(kind: "sqlite" | "postgres", feedUrl: string): Promise<Drained> {
  let url: string;
  let checkpoint: () => Promise<number>;
  let cleanup: () => Promise<void>;
  if (kind === "sqlite") {
    const db = tempDatabase("scan-worker-operator-");
    url = db.url;
    checkpoint = () => Promise.resolve(readTables(db.path).checkpoint);
    cleanup = () => Deno.remove(db.dir, { recursive: true });
  } else {
    const db = await createTestDatabase("scan_worker_operator");
    url = db.url;
    checkpoint = async () =>
      Number(
        (await db.query<{ c: string }>(
          "SELECT last_processed_event_id AS c FROM worker_states WHERE id = 'scan-events'",
        ))[0]
          ?.c,
      );
    cleanup = () => db.drop();
  }
  const run = await runMain(["run", "--drain"], {
    env: { SCAN_API_URL: feedUrl, SCAN_API_LIMIT: "3", DATABASE_URL: url },
  });
  assertEquals(run.code, 0, run.stderr);
  return { url, checkpoint, cleanup };
}

for (const kind of ["sqlite", "postgres"] as const) {
  const ignore = kind === "postgres" && PG_SKIP !== null;

  /** A test on a database of this kind drained from the fixture feed, cleaned up after. */
  const operatorTest = (
    name: string,
    body: (db: Drained, feed: { url: string }) => Promise<void>,
  ) =>
    Deno.test({
      name: `${kind}: ${name}`,
      ignore,
      async fn() {
        const feed = serveFeed(FIXTURE_FEED);
        try {
          const db = await drained(kind, feed.url);
          try {
            await body(db, feed);
          } finally {
            await db.cleanup();
          }
        } finally {
          await feed.close();
        }
      },
    });

  operatorTest("parcel prints one parcel's row, in UTC", async (db) => {
    const env = { DATABASE_URL: db.url };
    const json = await runMain(["parcel", "2", "--json"], { env });
    assertEquals(json.code, 0, json.stderr);
    const row = JSON.parse(json.stdout);
    const expected = FIXTURE_TABLES.parcels[1];
    const micro = (t: string | null | undefined) =>
      kind === "postgres" && t ? t.replace(/\d(Z)$/, "0$1") : t;
    assertEquals(
      [
        row.parcelId,
        row.lastEventId,
        row.type,
        row.statusCode,
        row.runId,
        row.createdDateTimeUtc,
        row.pickupTimeUtc,
        row.deliveryTimeUtc,
      ],
      [
        2,
        8,
        "STATUS",
        "RETURN_REQUEST",
        "201",
        micro(expected?.CreatedDateTimeUtc),
        micro(expected?.PickupTimeUtc),
        micro(expected?.DeliveryTimeUtc),
      ],
    );
    const text = await runMain(["parcel", "4"], { env });
    assertEquals(text.code, 0);
    assertIncludes(text.stdout, "Type                CUSTOMS_HOLD\n");
    assertIncludes(text.stdout, "RunId               NULL\n");
    assertIncludes(text.stdout, "PickupTimeUtc       NULL\n");

    const missing = await runMain(["parcel", "999"], { env });
    assertEquals([missing.code, missing.stderr], [
      1,
      "scan-worker: parcel 999 is not in ParcelStates\n",
    ]);
    for (const args of [["parcel"], ["parcel", "abc"], ["parcel", "0"], ["parcel", "1", "2"]]) {
      assertEquals((await runMain(args, { env })).code, 2, args.join(" "));
    }
  });

  operatorTest(
    "rejected prints the newest rejections with reason and payload",
    async (db) => {
      const env = { DATABASE_URL: db.url };
      const json = await runMain(["rejected", "--limit", "2", "--json"], { env });
      assertEquals(json.code, 0, json.stderr);
      const rows = JSON.parse(json.stdout);
      assertEquals(rows.map((r: { eventId: number; reason: string }) => [r.eventId, r.reason]), [
        [15, "ParcelId must be an integer JSON number, got a string"],
        [13, 'CreatedDateTimeUtc "2021-02-30T00:00:00Z" is not an ISO-8601 date-time'],
      ]);
      assertEquals(JSON.parse(rows[0].payload).ParcelId, "4");
      const text = await runMain(["rejected"], { env });
      assertEquals(text.code, 0);
      assertEquals(text.stdout.match(/^#\d+ EventId /gm)?.length, 4);
      assertIncludes(text.stdout, "EventId - at ");
      assertEquals((await runMain(["rejected", "--limit", "0"], { env })).code, 2);
    },
  );

  operatorTest(
    "reset moves the checkpoint back (replay changes nothing) and forward (skip)",
    async (db, feed) => {
      const env = { DATABASE_URL: db.url };
      const refused = await runMain(["reset", "--to", "5"], { env });
      assertEquals(refused.code, 2);
      assertIncludes(
        refused.stderr,
        "refusing to move the checkpoint without --yes when stdin is not a terminal",
      );
      assertEquals(await db.checkpoint(), 15);

      const back = await runMain(["reset", "--to", "5", "--yes"], { env });
      assertEquals([back.code, back.stdout], [
        0,
        "checkpoint moved from 15 to 5, back by 10: events 6..15 are applied again (safe: it changes nothing already stored)\n",
      ]);
      assertEquals(await db.checkpoint(), 5);
      const parcelsBefore = (await runMain(["parcel", "1", "--json"], { env })).stdout;
      const replay = await runMain(["run", "--drain"], {
        env: { ...env, SCAN_API_URL: feed.url, SCAN_API_LIMIT: "3" },
      });
      assertEquals(replay.code, 0);
      assertEquals(await db.checkpoint(), 15);
      const after = JSON.parse((await runMain(["parcel", "1", "--json"], { env })).stdout);
      const before = JSON.parse(parcelsBefore);
      assertEquals({ ...after, updatedAtUtc: "" }, { ...before, updatedAtUtc: "" });
      assertEquals(JSON.parse((await runMain(["status", "--json"], { env })).stdout).rejected, 4);

      const withFeed = { ...env, SCAN_API_URL: feed.url };
      const forward = await runMain(["reset", "--to", "12", "--yes"], { env: withFeed });
      assertEquals([forward.code, forward.stdout], [
        0,
        "checkpoint moved from 15 to 12, back by 3: events 13..15 are applied again (safe: it changes nothing already stored)\n",
      ]);
      // Forward within the feed: said how far; beyond its end: refused unless insisted on.
      const within = await runMain(["reset", "--to", "14", "--yes"], { env: withFeed });
      assertEquals([within.code, within.stdout], [
        0,
        "checkpoint moved from 12 to 14, forward by 2: events 13..14 are skipped and never applied\n",
      ]);
      const typo = await runMain(["reset", "--to", "99999999999", "--yes"], { env: withFeed });
      assertEquals(typo.code, 1);
      assertIncludes(typo.stderr, "the feed has no event at or after EventId 99999999999");
      assertIncludes(typo.stderr, "--beyond-feed");
      assertEquals(await db.checkpoint(), 14);
      const unreachable = await runMain(["reset", "--to", "40", "--yes"], {
        env: { ...env, SCAN_API_URL: "http://127.0.0.1:9/v1/scans/scanevents" },
      });
      assertEquals(unreachable.code, 1);
      assertIncludes(unreachable.stderr, "could not ask the feed whether it reaches EventId 40");
      const insisted = await runMain(["reset", "--to", "40", "--yes", "--beyond-feed"], { env });
      assertEquals([insisted.code, insisted.stdout], [
        0,
        "checkpoint moved from 14 to 40, forward by 26: events 15..40 are skipped and never applied\n",
      ]);
      for (
        const args of [["reset"], ["reset", "--to", "x", "--yes"], [
          "reset",
          "--to",
          "-1",
          "--yes",
        ]]
      ) {
        assertEquals((await runMain(args, { env })).code, 2, args.join(" "));
      }
    },
  );

  operatorTest("reset refuses while a worker holds the feed lock", async (db, feed) => {
    const worker = spawnCli(["run"], {
      env: { DATABASE_URL: db.url, SCAN_API_URL: feed.url, POLL_INTERVAL_MS: "100" },
    });
    try {
      await worker.waitForLog((l) => String(l.message).startsWith("Holding the feed lock"));
      const refused = await runMain(["reset", "--to", "0", "--yes"], {
        env: { DATABASE_URL: db.url },
      });
      assertEquals(refused.code, 1);
      assertIncludes(refused.stderr, "another instance holds the feed lock");
      assertEquals(await db.checkpoint(), 15);
    } finally {
      worker.process.kill("SIGTERM");
      assertOk((await worker.done).code === 0);
    }
  });
}

Deno.test("--version prints the version and the commit it was built from", async () => {
  const result = await runMain(["--version"]);
  assertEquals(result.code, 0);
  assertOk(
    /^scan-worker \d+\.\d+\.\d+ \(commit [0-9a-f]{12}\)\n$/.test(result.stdout),
    result.stdout,
  );
});
