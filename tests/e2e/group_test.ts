/**
 * Consumer groups end to end, as operators run them: members are `scan-worker run --source nats
 * --group` subprocesses on one database, against a private nats-server, while the upstream worker
 * publishes the simulated feed. Members are killed with -9 and restarted mid-stream; one more
 * with --drain ends once the group has nothing left; the table then equals the projection of the
 * feed (an independent oracle) and the upstream worker's own.
 */
import { assertEquals, assertIncludes, assertOk } from "../helpers/assert.ts";
import {
  type CliResult,
  kill,
  props,
  runCli,
  runMain,
  spawnCli,
  startMain,
} from "../helpers/cli.ts";
import { createGroupConsumer, groupState } from "../helpers/group.ts";
import { createStream, NATS_IGNORE, type PrivateNats, startNats } from "../helpers/nats_server.ts";
import { oracle } from "../helpers/oracle.ts";
import {
  atMicroseconds,
  createTestDatabase,
  PG_SKIP,
  readPostgresTables,
} from "../helpers/postgres.ts";
import { startSimulator } from "../helpers/simulator.ts";
import { readTables, type Tables, tempDatabase } from "../helpers/tables.ts";
import { feedShape, hash } from "../../src/simulator/model.ts";

/** The seed of this run's kill moments: set GROUP_SEED to replay one. */
const RUN_SEED = Number(Deno.env.get("GROUP_SEED") ?? Date.now() % 1_000_000);
const sleepMs = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const isBatch = (line: Record<string, unknown>) => String(line.message).startsWith("Batch of ");

/** A member's batch size (SCAN_API_LIMIT). */
const MEMBER_LIMIT = 200;
/** How often each killed member is killed (rounds of kills in runGroup). */
const KILLS_PER_MEMBER = 2;

/** Messages a member's process wrote, from its per-batch lines (killed members' included). */
function messagesOf(result: CliResult): number {
  return result.logs.filter(isBatch).reduce((sum, l) => sum + Number(props(l).messages), 0);
}

/**
 * A group of members on `databaseUrl` while the upstream worker publishes `events` events:
 * three members (`members`) start together and join the group, then the upstream worker starts;
 * `killed` of them are killed with -9 twice at
 * seeded moments and restarted; once the upstream worker has drained, one more member runs with
 * --drain. Returns the messages each member's process wrote (those that started together
 * first, the one with --drain last) and the upstream worker's tables.
 */
async function runGroup(
  server: PrivateNats,
  options: { events: number; seed: number; databaseUrl: string; members: number; killed: number },
): Promise<{ perMember: number[]; outputs: string[]; upstream: Tables }> {
  const sim = await startSimulator([
    "--events",
    String(options.events),
    "--seed",
    String(options.seed),
    "--malformed-rate",
    "0.01",
    "--slow-rate",
    "1",
    "--slow-ms",
    "20",
  ]);
  const upstreamDb = tempDatabase("scan-worker-group-upstream-");
  try {
    // The group's consumer with a 2 s ack wait (members use it as it is): a killed member's
    // messages come back within the test's patience.
    await createStream(server.url, 600_000);
    await createGroupConsumer(server.url, "ledger", 2000);
    const memberEnv = {
      NATS_URL: server.url,
      NATS_GROUP: "ledger",
      DATABASE_URL: options.databaseUrl,
      SCAN_API_LIMIT: String(MEMBER_LIMIT),
      LOG_LEVEL: "debug",
      RETRY_BASE_MS: "50",
      RETRY_MAX_MS: "500",
    };
    const start = () => spawnCli(["run", "--source", "nats"], { env: memberEnv });
    const members = Array.from({ length: options.members }, start);
    const runs: Promise<CliResult>[] = members.map((m) => m.done);
    // Every member has joined the group before the stream grows: each gets a share of it, even
    // on a machine so busy that a member's start would otherwise outlast the upstream's drain.
    const joined = (line: Record<string, unknown>) =>
      String(line.message).startsWith("Joining the consumer");
    await Promise.all(members.map((member) => member.waitForLog(joined, 60_000)));
    const upstream = spawnCli(["run", "--drain"], {
      env: {
        NATS_URL: server.url,
        SCAN_API_URL: sim.url,
        DATABASE_URL: upstreamDb.url,
        SCAN_API_LIMIT: "50", // 20 ms a page: the stream grows while the members work
      },
    });
    const killedRuns = new Set<number>();
    for (let round = 0; round < KILLS_PER_MEMBER; round++) {
      for (let k = 0; k < options.killed; k++) {
        const member = members[k];
        if (member === undefined) continue;
        // Once it has written a batch (or, should the others have taken everything, once the
        // upstream worker is done): a kill mid-stream.
        await Promise.race([member.waitForLog(isBatch, 60_000).catch(() => {}), upstream.done]);
        await sleepMs(hash(RUN_SEED, round, k) % 700);
        kill(member.process, "SIGKILL");
        killedRuns.add(runs.indexOf(member.done));
        const again = start();
        members[k] = again;
        runs.push(again.done);
      }
    }
    const up = await upstream.done;
    assertEquals(up.code, 0, up.stdout.slice(-2000));
    const drainedBy = await runCli(["run", "--source", "nats", "--drain"], { env: memberEnv });
    assertEquals(drainedBy.code, 0, drainedBy.stdout.slice(-3000));
    for (const member of members) kill(member.process, "SIGTERM");
    const results = await Promise.all(runs);
    for (const [i, result] of results.entries()) {
      if (!killedRuns.has(i)) assertEquals(result.code, 0, result.stdout.slice(-2000));
    }
    // The first `members` runs are the members that started together.
    return {
      perMember: [...results, drainedBy].map(messagesOf),
      outputs: [...results, drainedBy].map((r) => `exit ${r.code}: ${r.stdout.slice(-1500)}`),
      upstream: readTables(upstreamDb.path),
    };
  } finally {
    await sim.stop();
    Deno.removeSync(upstreamDb.dir, { recursive: true });
  }
}

/** The group's consumer has nothing pending and nothing unacknowledged. */
async function assertGroupEmpty(server: PrivateNats): Promise<void> {
  const state = await groupState(server.url, "ledger");
  assertEquals([state.pending, state.ackPending], [0, 0], JSON.stringify(state));
}

/**
 * Each of the first `count` members wrote part of the messages, none all of them, and their
 * lines account for every message but those of the batches in flight at a kill: a member killed
 * with -9 between its acknowledgements and its batch line wrote a batch it never reported
 * (`unreported` messages at most; the tables and the empty consumer prove that batch landed).
 */
function assertSpread(
  { perMember, outputs }: { perMember: number[]; outputs: string[] },
  count: number,
  total: number,
  unreported = 0,
): void {
  for (let i = 0; i < count; i++) {
    const written = perMember[i] ?? 0;
    assertOk(
      written > 0 && written < total,
      `member ${i} wrote ${written} of ${total}: ${perMember}; its output's end: ${outputs[i]}`,
    );
  }
  const all = perMember.reduce((a, b) => a + b, 0);
  assertOk(
    all >= total - unreported,
    `the members reported ${all} messages in all, the stream holds ${total} (${unreported} may go unreported)`,
  );
}

Deno.test({
  name:
    "three members on PostgreSQL, two killed with -9 and restarted mid-stream, one more with --drain: the projection of the feed, nothing pending",
  ignore: NATS_IGNORE || PG_SKIP !== null,
  async fn() {
    const server = await startNats();
    const db = await createTestDatabase("scan_worker_group");
    try {
      const events = 12_000;
      const run = await runGroup(server, {
        events,
        seed: 41,
        databaseUrl: db.url,
        members: 3,
        killed: 2,
      });
      const expected = oracle(feedShape({ seed: 41, events, malformedRate: 0.01 }), events);
      await assertGroupEmpty(server);
      const tables = await readPostgresTables(db);
      const oracleTables = atMicroseconds({
        checkpoint: 0,
        parcels: expected.parcels,
        rejected: [],
      });
      assertEquals(tables.parcels, oracleTables.parcels, "the oracle's projection");
      assertEquals(
        tables.parcels,
        atMicroseconds(run.upstream).parcels,
        "the upstream worker's table",
      );
      assertEquals(tables.rejected, [], "the stream holds accepted events only");
      assertEquals(tables.checkpoint, 0, "members keep no checkpoint");
      assertSpread(run, 3, expected.stream.length, KILLS_PER_MEMBER * 2 * MEMBER_LIMIT);
    } finally {
      await db.drop();
      await server.destroy();
    }
  },
});

Deno.test({
  name:
    "two members on SQLite, one killed with -9 and restarted mid-stream, one more with --drain: the projection of the feed, nothing pending",
  ignore: NATS_IGNORE,
  async fn() {
    const server = await startNats();
    const db = tempDatabase("scan-worker-group-sqlite-");
    try {
      const events = 6000;
      const run = await runGroup(server, {
        events,
        seed: 42,
        databaseUrl: db.url,
        members: 2,
        killed: 1,
      });
      const expected = oracle(feedShape({ seed: 42, events, malformedRate: 0.01 }), events);
      await assertGroupEmpty(server);
      const tables = readTables(db.path);
      assertEquals(tables.parcels, expected.parcels, "the oracle's projection");
      assertEquals(tables.parcels, run.upstream.parcels, "the upstream worker's table");
      assertEquals(tables.checkpoint, 0, "members keep no checkpoint");
      assertSpread(run, 2, expected.stream.length, KILLS_PER_MEMBER * 1 * MEMBER_LIMIT);
    } finally {
      await server.destroy();
      Deno.removeSync(db.dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "a member's /readyz fails while the broker is down and its metrics show the group; status shows the group's counts",
  ignore: NATS_IGNORE,
  async fn() {
    const server = await startNats();
    const sim = await startSimulator(["--events", "2000", "--seed", "43"]);
    const db = tempDatabase("scan-worker-group-ops-");
    try {
      const env = { NATS_URL: server.url, SCAN_API_URL: sim.url, DATABASE_URL: db.url };
      assertEquals((await runMain(["run", "--drain"], { env })).code, 0);
      const memberEnv = {
        NATS_URL: server.url,
        DATABASE_URL: `sqlite:${db.dir}/group.db`,
        RETRY_BASE_MS: "50",
        RETRY_MAX_MS: "300",
      };
      const member = startMain(
        ["run", "--source", "nats", "--group", "ledger", "--metrics-port", "0"],
        { env: { ...memberEnv, LOG_LEVEL: "debug" } },
      );
      const listening = await member.waitForLog((l) =>
        String(l.message).startsWith("Health and metrics on")
      );
      const url = String(props(listening).url);
      const verdict = async () => {
        const response = await fetch(`${url}/readyz`);
        return { status: response.status, body: await response.json() };
      };
      const until = async (want: number) => {
        for (let i = 0; i < 400; i++) {
          const v = await verdict();
          if (v.status === want) return v;
          await sleepMs(50);
        }
        throw new Error(`/readyz never answered ${want}`);
      };
      await until(200);
      await member.waitForLog((l) => isBatch(l) && Number(props(l).messages) > 0);
      for (let i = 0; i < 400; i++) {
        const state = await groupState(server.url, "ledger");
        if (state.pending === 0 && state.ackPending === 0) break;
        await sleepMs(50);
      }
      // The member reads the consumer's counts after each batch and each empty fetch: once the
      // group is drained, its gauges come to 0.
      let metrics = "";
      for (let i = 0; i < 100; i++) {
        metrics = await (await fetch(`${url}/metrics`)).text();
        const drained = ["", "ack_"].every((kind) =>
          metrics.includes(`scan_worker_group_${kind}pending_messages{group="ledger"} 0\n`)
        );
        if (drained) break;
        await sleepMs(100);
      }
      assertIncludes(metrics, 'scan_worker_group_pending_messages{group="ledger"} 0');
      assertIncludes(metrics, 'scan_worker_group_ack_pending_messages{group="ledger"} 0');
      for (const name of ["batches", "redeliveries", "ack_failures"]) {
        assertIncludes(metrics, `# TYPE scan_worker_group_${name}_total counter`);
      }

      const status = await runMain(["status", "--group", "ledger", "--json"], { env: memberEnv });
      assertEquals(status.code, 0, status.stderr);
      const report = JSON.parse(status.stdout);
      assertEquals(report.group.name, "ledger");
      assertEquals([report.group.state.pending, report.group.state.ackPending], [0, 0]);
      const text = await runMain(["status", "--group", "ledger"], { env: memberEnv });
      assertIncludes(text.stdout, "unacknowledged  0 (");

      await server.kill("SIGKILL");
      const down = await until(503);
      assertEquals(down.body.reason, "the broker is unreachable");
      await server.start();
      await until(200);
      member.signal("SIGTERM");
      assertEquals((await member.done).code, 0);
      assertEquals(readTables(`${db.dir}/group.db`).parcels, readTables(db.path).parcels);
    } finally {
      await sim.stop();
      await server.destroy();
      Deno.removeSync(db.dir, { recursive: true });
    }
  },
});
