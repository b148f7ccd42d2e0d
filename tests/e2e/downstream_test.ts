/**
 * Downstream, end to end, against real (private) NATS servers: the stream holds each accepted
 * event of the feed once, in order, with its exact body; through kill -9 of the worker, a broker
 * killed and restarted (also beyond the duplicate window), a reset and a replay, a full outbox
 * with the broker down; and downstream workers build tables equal to the upstream one.
 */
import { assertEquals, assertOk } from "../helpers/assert.ts";
import {
  type CliResult,
  kill,
  props,
  runCli,
  runMain,
  spawnCli,
  startMain,
} from "../helpers/cli.ts";
import {
  createStream,
  NATS_IGNORE,
  type PrivateNats,
  readStream,
  startNats,
} from "../helpers/nats_server.ts";
import { oracle } from "../helpers/oracle.ts";
import {
  atMicroseconds,
  createTestDatabase,
  PG_SKIP,
  readPostgresTables,
} from "../helpers/postgres.ts";
import { startSimulator } from "../helpers/simulator.ts";
import { readTables, tempDatabase } from "../helpers/tables.ts";
import { messageId } from "../../src/domain/message.ts";
import { feedShape, hash } from "../../src/simulator/model.ts";
import { runSeed, sleepMs } from "../helpers/suite.ts";

const isPage = (line: Record<string, unknown>) => String(line.message).startsWith("Page ");

/** The seed of this run's random kill moments: set DOWNSTREAM_SEED to replay one. */
const RUN_SEED = runSeed("DOWNSTREAM_SEED", "downstream suite");

/** Check the stream holds exactly `expected` bodies, in order, once, with their message ids. */
async function assertStream(server: PrivateNats, expected: string[]): Promise<void> {
  const messages = await readStream(server.url);
  const ids = messages.map((m) => m.id);
  assertEquals(new Set(ids).size, ids.length, "no EventId twice");
  assertEquals(messages.length, expected.length, "every accepted event, nothing else");
  assertEquals(messages.map((m) => m.body), expected);
  assertEquals(ids, expected.map((body) => messageId(JSON.parse(body).EventId)));
  const first = JSON.parse(expected[0] ?? "{}");
  assertEquals(messages[0]?.subject, `scan.v1.events.${first.Type}.${first.ParcelId}`);
}

/** A test with a private broker, a simulated feed and a temporary SQLite database. */
function downstreamTest(
  name: string,
  simulatorArgs: string[],
  body: (
    env: Record<string, string>,
    server: PrivateNats,
    db: ReturnType<typeof tempDatabase>,
  ) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: NATS_IGNORE,
    async fn() {
      const server = await startNats();
      const sim = await startSimulator(simulatorArgs);
      const db = tempDatabase("scan-worker-downstream-");
      try {
        await body(
          {
            NATS_URL: server.url,
            SCAN_API_URL: sim.url,
            DATABASE_URL: db.url,
            RETRY_BASE_MS: "20",
            RETRY_MAX_MS: "300",
          },
          server,
          db,
        );
      } finally {
        await sim.stop();
        await server.destroy();
        Deno.removeSync(db.dir, { recursive: true });
      }
    },
  });
}

const CHAOS = ["--malformed-rate", "0.01", "--fail-rate", "0.05", "--reset-rate", "0.03"];

downstreamTest(
  "the stream equals the feed's accepted events: same EventIds, in order, once, exact bodies",
  ["--events", "20000", "--seed", "11", ...CHAOS],
  async (env, server, db) => {
    const drained = await runMain(["run", "--drain"], { env: { ...env, SCAN_API_LIMIT: "500" } });
    assertEquals(drained.code, 0, drained.stdout.slice(-2000));
    const expected = oracle(feedShape({ seed: 11, events: 20_000, malformedRate: 0.01 }), 20_000);
    await assertStream(server, expected.stream);
    assertEquals(readTables(db.path).parcels, expected.parcels);
  },
);

downstreamTest(
  "kill -9 of the worker at 12 random moments of ingest and relay: every event once, in order",
  [
    "--events",
    "30000",
    "--seed",
    "12",
    "--malformed-rate",
    "0.005",
    "--slow-rate",
    "1",
    "--slow-ms",
    "3",
  ],
  async (env, server) => {
    const workerEnv = { ...env, SCAN_API_LIMIT: "200", LOG_LEVEL: "debug", LOCK_RETRY_MS: "100" };
    for (let round = 0; round < 12; round++) {
      const worker = spawnCli(["run", "--drain"], { env: workerEnv });
      await worker.waitForLog(isPage).catch(() => {}); // or it drained already
      await sleepMs(hash(RUN_SEED, round) % 500);
      kill(worker.process, "SIGKILL"); // unless it ended
      await worker.done;
    }
    const last = await runCli(["run", "--drain"], { env: workerEnv });
    assertEquals(last.code, 0, last.stderr);
    const expected = oracle(feedShape({ seed: 12, events: 30_000, malformedRate: 0.005 }), 30_000);
    await assertStream(server, expected.stream);
  },
);

downstreamTest(
  "the broker killed mid-batch and back after its 1 s duplicate window: no loss, no duplicate",
  ["--events", "20000", "--seed", "13", "--slow-rate", "1", "--slow-ms", "5"],
  async (env, server) => {
    await createStream(server.url, 1000);
    const worker = startMain(["run", "--drain"], {
      env: { ...env, SCAN_API_LIMIT: "200", LOG_LEVEL: "debug" },
    });
    await worker.waitForLog((l) => isPage(l) && Number(props(l).to) >= 3000);
    await server.kill("SIGKILL");
    await worker.waitForLog((l) => String(l.message).startsWith("The relay could not publish"));
    await sleepMs(1500); // beyond the stream's duplicate window
    await server.start();
    const result = await worker.done;
    assertEquals(result.code, 0, result.stdout.slice(-2000));
    await assertStream(server, oracle(feedShape({ seed: 13, events: 20_000 }), 20_000).stream);
  },
);

downstreamTest(
  "a reset back and a replay publish nothing new",
  ["--events", "5000", "--seed", "14", "--malformed-rate", "0.01"],
  async (env, server) => {
    assertEquals((await runMain(["run", "--drain"], { env })).code, 0);
    const before = await readStream(server.url);
    const reset = await runMain(["reset", "--to", "0", "--yes"], { env });
    assertEquals(reset.code, 0, reset.stderr);
    assertEquals((await runMain(["run", "--drain"], { env })).code, 0);
    assertEquals(await readStream(server.url), before);
    await assertStream(
      server,
      oracle(feedShape({ seed: 14, events: 5000, malformedRate: 0.01 }), 5000).stream,
    );
  },
);

downstreamTest(
  "a full outbox with the broker down pauses ingest, which goes on when it returns: nothing dropped",
  ["--events", "3000", "--seed", "15"],
  async (env, server, db) => {
    await server.kill("SIGKILL");
    const worker = startMain(["run", "--drain", "--metrics-port", "0"], {
      env: { ...env, SCAN_API_LIMIT: "100", OUTBOX_MAX_ROWS: "500" },
    });
    const listening = await worker.waitForLog((l) =>
      String(l.message).startsWith("Health and metrics on")
    );
    await worker.waitForLog((l) => String(l.message).startsWith("The outbox is full"));
    const ready = await fetch(`${props(listening).url}/readyz`);
    const verdict = await ready.json();
    assertEquals(ready.status, 503);
    assertOk(
      String(verdict.reason).startsWith("ingest paused: the outbox is full"),
      verdict.reason,
    );
    const paused = readTables(db.path).checkpoint;
    await sleepMs(300);
    assertEquals(readTables(db.path).checkpoint, paused, "ingest waits");
    assertOk(paused >= 500 && paused < 3000, `paused at ${paused}`);
    await server.start();
    const result: CliResult = await worker.done;
    assertEquals(result.code, 0, result.stdout.slice(-2000));
    assertOk(result.logs.some((l) => String(l.message).startsWith("The outbox has room again")));
    await assertStream(server, oracle(feedShape({ seed: 15, events: 3000 }), 3000).stream);
  },
);

downstreamTest(
  "downstream workers on SQLite and PostgreSQL build tables equal to the upstream one, also after kill -9",
  ["--events", "20000", "--seed", "16", ...CHAOS],
  async (env, server, upstream) => {
    assertEquals(
      (await runMain(["run", "--drain"], { env: { ...env, SCAN_API_LIMIT: "500" } })).code,
      0,
    );
    const expected = readTables(upstream.path);
    const sqlite = tempDatabase("scan-worker-downstream-sqlite-");
    try {
      const downEnv = {
        NATS_URL: server.url,
        DATABASE_URL: sqlite.url,
        SCAN_API_LIMIT: "300",
        LOG_LEVEL: "debug",
      };
      const first = spawnCli(["run", "--source", "nats", "--metrics-port", "0"], { env: downEnv });
      try {
        const listening = await first.waitForLog((l) =>
          String(l.message).startsWith("Health and metrics on")
        );
        await first.waitForLog((l) => isPage(l) && Number(props(l).to) >= 3000);
        // Its reads of the stream are its polls: ready, and the poll age a number.
        const ready = await fetch(`${props(listening).url}/readyz`);
        const verdict = await ready.json();
        assertEquals([ready.status, verdict.reason], [200, "ready"]);
        const metrics = await (await fetch(`${props(listening).url}/metrics`)).text();
        const age = /^scan_worker_last_successful_poll_age_seconds (\S+)$/m.exec(metrics)?.[1];
        assertOk(Number(age) >= 0 && Number(age) < 30, `poll age ${age}`);
      } finally {
        kill(first.process, "SIGKILL"); // also when a check failed: nothing left running
        await first.done;
      }
      const again = await runCli(["run", "--source", "nats", "--drain"], { env: downEnv });
      assertEquals(again.code, 0, again.stderr);
      assertEquals(readTables(sqlite.path).parcels, expected.parcels);
      if (PG_SKIP === null) {
        const pgdb = await createTestDatabase("scan_worker_downstream");
        try {
          const result = await runMain(["run", "--source", "nats", "--drain"], {
            env: { NATS_URL: server.url, DATABASE_URL: pgdb.url, SCAN_API_LIMIT: "1000" },
          });
          assertEquals(result.code, 0, result.stdout.slice(-2000));
          assertEquals(
            (await readPostgresTables(pgdb)).parcels,
            atMicroseconds(expected).parcels,
          );
        } finally {
          await pgdb.drop();
        }
      }
    } finally {
      Deno.removeSync(sqlite.dir, { recursive: true });
    }
  },
);

downstreamTest(
  "tail prints the stream's events, filtered by type or parcel, text or JSON, and stops on a signal",
  ["--events", "600", "--seed", "17"],
  async (env, server) => {
    assertEquals((await runMain(["run", "--drain"], { env })).code, 0);
    const stream = await readStream(server.url);
    const pickups = stream.filter((m) => m.subject.startsWith("scan.v1.events.PICKUP."));
    const tail = startMain(["tail", "--type", "pickup", "--from", "1", "--json"], {
      env: { NATS_URL: server.url },
    });
    const last = JSON.parse(pickups.at(-1)?.body ?? "{}");
    await tail.waitForLine((line) => line.includes(`"EventId":${last.EventId},`));
    tail.signal("SIGINT");
    const printed = await tail.done;
    assertEquals(printed.code, 0);
    assertEquals(printed.stdout.trim().split("\n"), pickups.map((m) => m.body));

    const parcel = JSON.parse(stream[0]?.body ?? "{}").ParcelId;
    const own = stream.filter((m) => m.subject.endsWith(`.${parcel}`));
    const text = startMain(["tail", "--parcel", String(parcel), "--from", "1"], {
      env: { NATS_URL: server.url },
    });
    const lastOwn = JSON.parse(own.at(-1)?.body ?? "{}");
    await text.waitForLine((line) => line.startsWith(`${lastOwn.EventId} `));
    text.signal("SIGTERM");
    const lines = (await text.done).stdout.trim().split("\n");
    assertEquals(lines.length, own.length);
    const first = JSON.parse(own[0]?.body ?? "{}");
    assertOk(
      lines[0]?.startsWith(
        `${first.EventId} ${first.Type} parcel ${parcel} at ${first.CreatedDateTimeUtc}`,
      ),
      lines[0],
    );
  },
);
