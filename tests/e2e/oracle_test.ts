import { DatabaseSync } from "node:sqlite";
import { assertEquals, assertOk } from "../helpers/assert.ts";
import { runMain } from "../helpers/cli.ts";
import { startSimulator } from "../helpers/simulator.ts";
import { oracle } from "../helpers/oracle.ts";
import { readTables, tempDatabase } from "../helpers/tables.ts";
import { feedShape } from "../../src/simulator/model.ts";

const EVENTS = 50_000;
const SEED = 2024;
const MALFORMED = 0.01;

Deno.test("a simulated feed of 50,000 events with malformed ones and API faults ends exactly as the model says", async () => {
  const simulator = await startSimulator([
    "--events",
    String(EVENTS),
    "--seed",
    String(SEED),
    "--malformed-rate",
    String(MALFORMED),
    "--fail-rate",
    "0.05",
    "--garbage-rate",
    "0.03",
    "--reset-rate",
    "0.03",
  ]);
  const db = tempDatabase("scan-worker-oracle-");
  try {
    const url = simulator.url;
    const worker = await runMain(["run", "--drain"], {
      env: {
        SCAN_API_URL: url,
        SCAN_API_LIMIT: "500",
        DATABASE_URL: db.url,
        RETRY_BASE_MS: "5",
        RETRY_MAX_MS: "20",
        LOG_LEVEL: "warning",
      },
    });
    assertEquals(worker.code, 0, worker.stderr);
    const retries = worker.logs.filter((l) =>
      String(l.message).startsWith("Scan API request failed")
    );
    assertOk(retries.length > 0, "the faults must have been met");

    const expected = oracle(
      feedShape({ seed: SEED, events: EVENTS, malformedRate: MALFORMED }),
      EVENTS,
    );
    const tables = readTables(db.path);
    assertEquals(tables.checkpoint, expected.checkpoint);
    assertEquals(tables.parcels.length, expected.parcels.length);
    assertEquals(tables.parcels, expected.parcels);
    const rejectedIds = tables.rejected.map((r) => r.EventId).sort((a, b) => (a ?? 0) - (b ?? 0));
    assertEquals(rejectedIds, expected.rejectedIds);
    assertOk(expected.rejectedIds.length > 400, "the feed must carry malformed events");

    const sqlite = new DatabaseSync(db.path, { readOnly: true });
    const warnings = worker.logs.filter((l) => String(l.message).startsWith("Rejected event"));
    sqlite.close();
    assertOk(warnings.length >= expected.rejectedIds.length);
  } finally {
    await simulator.stop();
    Deno.removeSync(db.dir, { recursive: true });
  }
});
