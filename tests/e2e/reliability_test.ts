/**
 * The reliability suite: crashes at random moments, failover between two instances, and an
 * upstream that fails in every way. Each run is checked against the simulator's model.
 * Loopback only; every wait is bounded.
 */
import { assertEquals, assertOk } from "../helpers/assert.ts";
import { type CliResult, kill, props, runCli, spawnCli } from "../helpers/cli.ts";
import { oracle, type OracleResult } from "../helpers/oracle.ts";
import {
  atMicroseconds,
  createTestDatabase,
  PG_SKIP,
  readPostgresTables,
} from "../helpers/postgres.ts";
import { startSimulator } from "../helpers/simulator.ts";
import { readTables, type Tables, tempDatabase } from "../helpers/tables.ts";
import { eventAt, feedShape, firstSlotFrom } from "../../src/simulator/model.ts";
import { hash } from "../../src/simulator/model.ts";
import { runSeed, sleepMs } from "../helpers/suite.ts";

/** The seed of this run's random kill moments: set RELIABILITY_SEED to replay one. */
const RUN_SEED = runSeed("RELIABILITY_SEED", "reliability suite");

const isPage = (line: Record<string, unknown>) => String(line.message).startsWith("Page ");

/**
 * Check that the tables hold exactly the projection of the events up to their checkpoint:
 * parcels and id-carrying rejections exact; rejections without an id: those before the
 * checkpoint present, none repeated, none invented.
 */
function assertConsistentAtCheckpoint(
  tables: Tables,
  shape: ReturnType<typeof feedShape>,
  limit: number,
  micro: boolean,
): void {
  const slots = firstSlotFrom(tables.checkpoint + 1) - 1;
  const expected: OracleResult = oracle(shape, slots);
  const parcels = micro
    ? atMicroseconds({ checkpoint: 0, parcels: expected.parcels, rejected: [] }).parcels
    : expected.parcels;
  assertEquals(tables.checkpoint, slots === 0 ? 0 : expected.checkpoint);
  assertEquals(tables.parcels, parcels, `parcels at checkpoint ${tables.checkpoint}`);
  const ids = tables.rejected.map((r) => r.EventId).filter((id) => id !== null);
  assertEquals(ids, [...ids].sort((a, b) => (a ?? 0) - (b ?? 0)));
  assertEquals(ids, expected.rejectedIds.filter((id) => id !== null));
  const idless = tables.rejected.filter((r) => r.EventId === null).length;
  const before = expected.rejectedIds.filter((id) => id === null).length;
  const upTo = oracle(shape, slots + limit).rejectedIds.filter((id) => id === null).length;
  assertOk(
    idless >= before && idless <= upTo,
    `${idless} id-less rejections, expected ${before}..${upTo}`,
  );
}

async function crashConsistency(
  databaseUrl: string,
  read: () => Promise<Tables>,
  micro: boolean,
): Promise<void> {
  const events = 100_000;
  const limit = 200;
  const seed = 4242;
  const shape = feedShape({ seed, events, malformedRate: 0.005 });
  const sim = await startSimulator([
    "--events",
    String(events),
    "--seed",
    String(seed),
    "--malformed-rate",
    "0.005",
    "--slow-rate",
    "1",
    "--slow-ms",
    "4",
  ]);
  const env = {
    SCAN_API_URL: sim.url,
    SCAN_API_LIMIT: String(limit),
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: "debug",
    LOCK_RETRY_MS: "100",
  };
  try {
    assertEquals((await runCli(["migrate"], { env })).code, 0);
    const checkpoints: number[] = [];
    for (let round = 0; round < 20; round++) {
      const worker = spawnCli(["run", "--drain"], { env });
      // A random moment once the worker writes (a state, not a time: on a loaded machine the
      // start-up alone can take longer than any fixed delay): within its next few pages.
      await worker.waitForLog(isPage).catch(() => {}); // or it ended: drained already
      await sleepMs(hash(RUN_SEED, round) % 400);
      kill(worker.process, "SIGKILL");
      const stopped = await worker.done;
      const tables = await read();
      checkpoints.push(tables.checkpoint);
      assertConsistentAtCheckpoint(tables, shape, limit, micro);
      if (stopped.code === 0) break; // drained before the kill landed
    }
    assertOk(
      new Set(checkpoints).size >= 5,
      `kills landed at checkpoints ${checkpoints.join(", ")}`,
    );

    const last = await runCli(["run", "--drain"], { env });
    assertEquals(last.code, 0, last.stderr);
    const tables = await read();
    const expected = oracle(shape, events);
    assertEquals(tables.checkpoint, expected.checkpoint);
    assertEquals(
      tables.parcels,
      micro
        ? atMicroseconds({ checkpoint: 0, parcels: expected.parcels, rejected: [] }).parcels
        : expected.parcels,
    );
    assertEquals(
      tables.rejected.map((r) => r.EventId).sort((a, b) => (a ?? 0) - (b ?? 0)),
      expected.rejectedIds,
    );
  } finally {
    await sim.stop();
  }
}

Deno.test("kill -9 at 20 random moments on SQLite: always exactly the events up to the checkpoint", async () => {
  const db = tempDatabase("scan-worker-crash-");
  try {
    await crashConsistency(db.url, () => Promise.resolve(readTables(db.path)), false);
  } finally {
    Deno.removeSync(db.dir, { recursive: true });
  }
});

Deno.test({
  name:
    "kill -9 at 20 random moments on PostgreSQL: always exactly the events up to the checkpoint",
  ignore: PG_SKIP !== null,
  async fn() {
    const db = await createTestDatabase("scan_worker_crash");
    try {
      await crashConsistency(db.url, () => readPostgresTables(db), true);
    } finally {
      await db.drop();
    }
  },
});

function pageRanges(result: CliResult): { from: number; to: number; applied: number }[] {
  return result.logs.filter(isPage).map((l) => ({
    from: Number(props(l).from),
    to: Number(props(l).to),
    applied: Number(props(l).applied),
  }));
}

Deno.test({
  name: "failover on PostgreSQL: the standby takes over when the active worker dies; no page twice",
  ignore: PG_SKIP !== null,
  async fn() {
    const events = 40_000;
    const seed = 99;
    const lockRetryMs = 500;
    const sim = await startSimulator([
      "--events",
      String(events),
      "--seed",
      String(seed),
      "--slow-rate",
      "1",
      "--slow-ms",
      "10",
    ]);
    const db = await createTestDatabase("scan_worker_failover");
    const env = {
      SCAN_API_URL: sim.url,
      SCAN_API_LIMIT: "200",
      DATABASE_URL: db.url,
      LOCK_RETRY_MS: String(lockRetryMs),
      POLL_INTERVAL_MS: "100",
      LOG_LEVEL: "debug",
    };
    const active = spawnCli(["run"], { env });
    let standby: ReturnType<typeof spawnCli> | null = null;
    try {
      await active.waitForLog((l) => String(l.message).startsWith("Holding the feed lock"));
      standby = spawnCli(["run"], { env });
      await standby.waitForLog((l) =>
        String(l.message).startsWith("Another instance holds the feed lock")
      );
      await active.waitForLog((l) => isPage(l) && Number(props(l).to) >= 10_000);

      active.process.kill("SIGKILL");
      const killedAt = performance.now();
      const died = await active.done;
      const took = await standby.waitForLog(
        (l) => String(l.message).startsWith("Holding the feed lock"),
        10_000,
      );
      const takeoverMs = performance.now() - killedAt;
      assertOk(takeoverMs < lockRetryMs + 1500, `took over after ${Math.round(takeoverMs)} ms`);
      assertOk(took !== undefined);

      const expected = oracle(feedShape({ seed, events }), events);
      for (let i = 0; i < 200; i++) {
        const [row] = await db.query<{ c: string }>(
          "SELECT last_processed_event_id AS c FROM worker_states WHERE id = 'scan-events'",
        );
        if (Number(row?.c) === expected.checkpoint) break;
        await sleepMs(100);
      }
      standby.process.kill("SIGTERM");
      const second = await standby.done;
      standby = null;
      assertEquals(second.code, 0, second.stderr);

      const tables = await readPostgresTables(db);
      assertEquals(tables.checkpoint, expected.checkpoint);
      assertEquals(
        tables.parcels,
        atMicroseconds({ checkpoint: 0, parcels: expected.parcels, rejected: [] }).parcels,
      );

      // No page twice: the standby starts where the database says, above every page the dead
      // worker logged, and the events applied add up to at most the feed's valid events.
      const first = pageRanges(died);
      const after = pageRanges(second);
      const resumedAt = Number(
        props(second.logs.find((l) => String(l.message).startsWith("Starting at checkpoint")) ?? {})
          .checkpoint,
      );
      assertOk(
        first.every((p) => p.to <= resumedAt),
        "the standby resumed above the dead worker's pages",
      );
      assertEquals(after[0]?.from, resumedAt + 1);
      const valid = events; // no malformed events in this feed
      const total = [...first, ...after].reduce((n, p) => n + p.applied, 0);
      assertOk(total <= valid && total >= valid - 200, `applied ${total} of ${valid}`);
    } finally {
      if (standby !== null) {
        kill(standby.process, "SIGKILL");
        await standby.done;
      }
      kill(active.process, "SIGKILL");
      await active.done;
      await sim.stop();
      await db.drop();
    }
  },
});

Deno.test("API chaos: 30% 503s, 10% stalls, 5% HTML, dropped connections, Retry-After: exact", async () => {
  const events = 20_000;
  const seed = 7;
  const malformed = 0.01;
  const sim = await startSimulator([
    "--events",
    String(events),
    "--seed",
    String(seed),
    "--malformed-rate",
    String(malformed),
    "--fail-rate",
    "0.3",
    "--slow-rate",
    "0.1",
    "--slow-ms",
    "1500",
    "--garbage-rate",
    "0.05",
    "--reset-rate",
    "0.05",
    "--throttle-rate",
    "0.03",
  ]);
  const db = tempDatabase("scan-worker-chaos-");
  try {
    const result = await runCli(["run", "--drain"], {
      env: {
        SCAN_API_URL: sim.url,
        SCAN_API_LIMIT: "500",
        DATABASE_URL: db.url,
        SCAN_API_TIMEOUT_MS: "400",
        RETRY_BASE_MS: "10",
        RETRY_MAX_MS: "100",
      },
    });
    assertEquals(result.code, 0, result.stderr);
    const failures = result.logs.filter((l) =>
      String(l.message).startsWith("Scan API request failed")
    );
    const problems = failures.map((l) => String(props(l).problem));
    const statuses = failures.map((l) => props(l).status);
    assertOk(statuses.includes(503), "503s were met");
    assertOk(statuses.includes(429), "a Retry-After was met");
    assertOk(
      problems.some((p) => p.startsWith("no complete response within 400 ms")),
      "stalls were met",
    );
    assertOk(problems.some((p) => p.startsWith("body is not JSON")), "HTML bodies were met");
    assertOk(problems.some((p) => p.startsWith("request failed:")), "dropped connections were met");
    const throttled = failures.filter((l) => props(l).status === 429);
    assertOk(throttled.every((l) => props(l).delayMs === 1000), "Retry-After was honoured");

    const expected = oracle(feedShape({ seed, events, malformedRate: malformed }), events);
    const tables = readTables(db.path);
    assertEquals(tables.checkpoint, expected.checkpoint);
    assertEquals(tables.parcels, expected.parcels);
    assertEquals(
      tables.rejected.map((r) => r.EventId).sort((a, b) => (a ?? 0) - (b ?? 0)),
      expected.rejectedIds,
    );
    assertOk(eventAt(feedShape({ seed, events }), 1).eventId === 1);
  } finally {
    await sim.stop();
    Deno.removeSync(db.dir, { recursive: true });
  }
});
