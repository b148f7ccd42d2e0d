import { assertEquals, assertOk } from "../helpers/assert.ts";
import { props, runCli, spawnCli } from "../helpers/cli.ts";
import { entries, serveFeed } from "../helpers/feed_server.ts";
import { readTables, tempDatabase } from "../helpers/tables.ts";

const TYPES = ["PICKUP", "STATUS", "STATUS", "DELIVERY", "STATUS"];

/** 400 events over 40 parcels, each parcel cycling through a small lifecycle. */
function generatedFeed() {
  const seen = new Map<number, number>();
  return Array.from({ length: 400 }, (_, i) => {
    const eventId = i + 1;
    const parcelId = (i * 7) % 40 + 1;
    const n = seen.get(parcelId) ?? 0;
    seen.set(parcelId, n + 1);
    return {
      EventId: eventId,
      ParcelId: parcelId,
      Type: TYPES[n % TYPES.length] ?? "STATUS",
      CreatedDateTimeUtc: `2021-05-11T${String(8 + Math.floor(i / 60)).padStart(2, "0")}:${
        String(i % 60).padStart(2, "0")
      }:00.${String(eventId).padStart(7, "0")}Z`,
      StatusCode: n % 3 === 0 ? "" : `S${n}`,
      User: { RunId: eventId % 5 === 0 ? eventId : `R${parcelId}` },
    };
  });
}

async function referenceTables(feedEvents: ReturnType<typeof generatedFeed>) {
  const db = tempDatabase();
  const feed = serveFeed(entries(feedEvents));
  try {
    const result = await runCli(["run", "--drain"], {
      env: { SCAN_API_URL: feed.url, SCAN_API_LIMIT: "10", DATABASE_URL: db.url },
    });
    assertEquals(result.code, 0, result.stderr);
    return readTables(db.path);
  } finally {
    await feed.close();
    Deno.removeSync(db.dir, { recursive: true });
  }
}

for (const signal of ["SIGTERM", "SIGKILL"] as const) {
  Deno.test(`a worker stopped by ${signal} mid-feed resumes at checkpoint + 1 and ends exact`, async () => {
    const events = generatedFeed();
    const expected = await referenceTables(events);
    const db = tempDatabase();
    const feed = serveFeed(entries(events), { delayMs: 15 });
    try {
      const env = {
        SCAN_API_URL: feed.url,
        SCAN_API_LIMIT: "10",
        DATABASE_URL: db.url,
        POLL_INTERVAL_MS: "50",
        LOG_LEVEL: "debug",
      };
      const worker = spawnCli(["run"], { env });
      await worker.waitForLog((l) =>
        String(l.message).startsWith("Page ") && Number(props(l).to) >= 100
      );
      worker.process.kill(signal);
      const stopped = await worker.done;
      if (signal === "SIGTERM") {
        assertEquals(stopped.code, 0, stopped.stderr);
        assertOk(stopped.logs.some((l) => String(l.message).startsWith("Received SIGTERM")));
        assertEquals(props(stopped.logs.at(-1) ?? {}).reason, "stopped");
      } else {
        assertEquals(stopped.code, 137);
      }
      const checkpoint = readTables(db.path).checkpoint;
      assertOk(checkpoint >= 100 && checkpoint < 400, `checkpoint ${checkpoint} is mid-feed`);

      const requestsBefore = feed.requests.length;
      const resumed = await runCli(["run", "--drain"], { env });
      assertEquals(resumed.code, 0, resumed.stderr);
      assertEquals(feed.requests[requestsBefore]?.from, checkpoint + 1);
      assertEquals(readTables(db.path), expected);
    } finally {
      await feed.close();
      Deno.removeSync(db.dir, { recursive: true });
    }
  });
}
