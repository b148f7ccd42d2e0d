/**
 * Group members in this process against a private nats-server and SQLite: a member that dies
 * between its commit and its acknowledgement leaves its batch to another member, which writes
 * it again and changes nothing; `--drain` waits for it; a consumer that cannot serve a group is
 * refused with a clear error.
 */
import { getLogger } from "@logtape/logtape";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { assertEquals, assertOk, assertRejects } from "../helpers/assert.ts";
import { createGroupConsumer, groupState, publishBodies } from "../helpers/group.ts";
import {
  configWithoutBroker,
  NATS_IGNORE,
  type PrivateNats,
  startNats,
} from "../helpers/nats_server.ts";
import { oracle } from "../helpers/oracle.ts";
import { readTables, tempDatabase } from "../helpers/tables.ts";
import { feedShape } from "../../src/simulator/model.ts";
import { connectNats, type LinkEvents, type NatsLink } from "../../src/nats/mod.ts";
import { SqliteStore } from "../../src/store/sqlite.ts";
import type { BatchStore } from "../../src/store/store.ts";
import { GroupConsumerError, runGroupMember } from "../../src/stream/mod.ts";
import { groupMonitorFor, runGroup } from "../../src/cli/group.ts";
import { GroupMonitor } from "../../src/ops/group_monitor.ts";

const logger = getLogger(["scan-worker", "test"]);
const BACKOFF = { baseMs: 20, capMs: 200 };

/** How a member in this process connects to the private server (telling `events`, if given). */
function connector(url: string, links: NatsLink[] = [], events?: LinkEvents) {
  return async (signal: AbortSignal) => {
    const link = await connectNats({
      nats: { servers: [url.replace("nats://", "")], user: null, pass: null, token: null },
      natsForLog: url,
      natsCredsFile: null,
      natsStream: "SCAN_EVENTS",
    }, { logger, signal, backoff: BACKOFF, events });
    if (link !== null) links.push(link);
    return link;
  };
}

/** A test with a private broker and a migrated temporary SQLite database. */
function groupTest(
  name: string,
  body: (server: PrivateNats, db: ReturnType<typeof tempDatabase>) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: NATS_IGNORE,
    async fn() {
      const server = await startNats();
      const db = tempDatabase("scan-worker-group-");
      try {
        const store = new SqliteStore(db.path);
        await store.migrate();
        await store.close();
        await body(server, db);
      } finally {
        await server.destroy();
        Deno.removeSync(db.dir, { recursive: true });
      }
    },
  });
}

groupTest(
  "a member dead between commit and ack: its batch comes back to another member and changes nothing",
  async (server, db) => {
    const expected = oracle(feedShape({ seed: 31, events: 300 }), 300);
    await publishBodies(server.url, expected.stream);
    // A 2 s ack wait: a dead member's batch comes back soon; longer than a fetch (1 s), so a
    // message is not handed out again while its first fetch still runs (on a loaded machine a
    // fetch can outlast a shorter wait, and a batch then holds a message twice).
    await createGroupConsumer(server.url, "ledger", 2000);

    // Member A writes its batch (all 300 messages), then dies before acknowledging: its
    // connection is gone the moment the transaction has committed.
    const links: NatsLink[] = [];
    const stopA = new AbortController();
    const storeA = new SqliteStore(db.path);
    const dying: BatchStore = {
      applyBatch: async (result) => {
        const write = await storeA.applyBatch(result);
        stopA.abort();
        await links[0]?.nc.close();
        return write;
      },
    };
    const a = await runGroupMember({
      group: "ledger",
      connect: connector(server.url, links),
      store: dying,
      limit: 1000,
      drain: false,
      signal: stopA.signal,
      backoff: BACKOFF,
      logger,
    });
    await storeA.close();
    assertEquals(a.batches, 1, "A wrote one batch");
    assertOk(a.messages >= 300, `A's batch held every message: ${a.messages}`);
    const afterA = readTables(db.path);
    assertEquals(afterA.parcels, expected.parcels, "A's commit holds the whole feed");
    const held = await groupState(server.url, "ledger");
    assertEquals([held.pending, held.ackPending], [0, expected.stream.length]);

    // Member B drains: it waits for A's messages to come back after the 2 s ack wait.
    const storeB = new SqliteStore(db.path);
    try {
      const b = await runGroupMember({
        group: "ledger",
        connect: connector(server.url),
        store: storeB,
        limit: 1000,
        drain: true,
        signal: new AbortController().signal,
        backoff: BACKOFF,
        logger,
      });
      assertEquals(b.reason, "drained");
      // Every message came back (once, or more should an ack wait pass while B fetches).
      assertOk(b.messages >= expected.stream.length, JSON.stringify(b));
      assertEquals(b.redelivered, b.messages, "every message B got had been handed out before");
    } finally {
      await storeB.close();
    }
    assertEquals(readTables(db.path), afterA, "writing them again changed nothing");
    const drained = await groupState(server.url, "ledger");
    assertEquals([drained.pending, drained.ackPending], [0, 0]);
  },
);

groupTest(
  "a member that stops on a signal acknowledges the batch it wrote; the next one starts after it",
  async (server, db) => {
    const expected = oracle(feedShape({ seed: 32, events: 1000 }), 1000);
    await publishBodies(server.url, expected.stream);
    const store = new SqliteStore(db.path);
    try {
      const stop = new AbortController();
      const first = await runGroupMember({
        group: "ledger",
        connect: connector(server.url),
        store: {
          applyBatch: async (result) => {
            stop.abort(); // a signal while the first batch is written
            return await store.applyBatch(result);
          },
        },
        limit: 100,
        drain: false,
        signal: stop.signal,
        backoff: BACKOFF,
        logger,
      });
      assertEquals([first.reason, first.batches, first.messages], ["stopped", 1, 100]);
      const state = await groupState(server.url, "ledger");
      assertEquals([state.pending, state.ackPending], [900, 0]);
      const rest = await runGroupMember({
        group: "ledger",
        connect: connector(server.url),
        store,
        limit: 100,
        drain: true,
        signal: new AbortController().signal,
        backoff: BACKOFF,
        logger,
      });
      assertEquals([rest.reason, rest.messages, rest.redelivered], ["drained", 900, 0]);
    } finally {
      await store.close();
    }
    assertEquals(readTables(db.path).parcels, expected.parcels);
  },
);

groupTest(
  "a consumer of the group's name that is not a pull consumer with explicit acks is refused",
  async (server, db) => {
    await publishBodies(server.url, oracle(feedShape({ seed: 33, events: 10 }), 10).stream);
    const nc = await connect({ servers: server.url.replace("nats://", "") });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.consumers.add("SCAN_EVENTS", { durable_name: "audit", ack_policy: "none" });
    } finally {
      await nc.close();
    }
    const store = new SqliteStore(db.path);
    try {
      await assertRejects(
        runGroupMember({
          group: "audit",
          connect: connector(server.url),
          store,
          limit: 100,
          drain: true,
          signal: new AbortController().signal,
          backoff: BACKOFF,
          logger,
        }),
        GroupConsumerError,
        /the consumer audit cannot serve a scan-worker group: its ack policy is none, not explicit/,
      );
    } finally {
      await store.close();
    }
  },
);

groupTest(
  "a failed batch write is handed back and written again; the consumer deleted under a member is made again",
  async (server, db) => {
    const expected = oracle(feedShape({ seed: 34, events: 2000 }), 2000);
    await publishBodies(server.url, expected.stream);
    const store = new SqliteStore(db.path);
    const stop = new AbortController();
    let writes = 0;
    let deleted = false;
    const failing: BatchStore = {
      applyBatch: async (result) => {
        writes++;
        if (writes === 2 || writes === 3) throw new Error("database is locked (injected)");
        if (writes === 5 && !deleted) {
          deleted = true;
          const nc = await connect({ servers: server.url.replace("nats://", "") });
          await (await jetstreamManager(nc)).consumers.delete("SCAN_EVENTS", "ledger");
          await nc.close();
        }
        return await store.applyBatch(result);
      },
    };
    try {
      const member = runGroupMember({
        group: "ledger",
        connect: connector(server.url),
        store: failing,
        limit: 200,
        drain: true,
        signal: stop.signal,
        backoff: BACKOFF,
        logger,
      });
      const summary = await member;
      assertEquals(summary.reason, "drained");
      assertEquals(deleted, true);
      // The failed batches came back (handed back at once), and after the consumer was made
      // again every message was delivered again from the first: more messages than the stream.
      assertEquals(summary.redelivered >= 200, true, JSON.stringify(summary));
      assertEquals(summary.messages > expected.stream.length, true, JSON.stringify(summary));
    } finally {
      await store.close();
    }
    assertEquals(readTables(db.path).parcels, expected.parcels);
    const state = await groupState(server.url, "ledger");
    assertEquals([state.pending, state.ackPending], [0, 0]);
  },
);

groupTest(
  "a member of a group with nothing to do stays alive and ready, and a failed write no longer counts once it idles",
  async (server, db) => {
    await publishBodies(server.url, oracle(feedShape({ seed: 35, events: 20 }), 20).stream);
    // Stuck after 1.5 s: each empty fetch waits 1 s (the client's least), so only the fetches'
    // ends keep it alive.
    const monitor = new GroupMonitor({ stuckAfterMs: 1500, pollFreshMs: 30_000 }, "ledger");
    const store = new SqliteStore(db.path);
    let failFirst = true;
    const flaky: BatchStore = {
      applyBatch: (result) => {
        if (!failFirst) return store.applyBatch(result);
        failFirst = false;
        return Promise.reject(new Error("database is locked (injected)"));
      },
    };
    const stop = new AbortController();
    const running = runGroupMember({
      group: "ledger",
      connect: connector(server.url, [], monitor),
      store: flaky,
      limit: 100,
      drain: false,
      signal: stop.signal,
      backoff: BACKOFF,
      logger,
      events: monitor,
    });
    try {
      const deadline = Date.now() + 20_000;
      while (readTables(db.path).parcels.length === 0) {
        assertOk(Date.now() < deadline, "the member never wrote the batch");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      // Idle for twice the stuck threshold, fetching and finding nothing.
      await new Promise((resolve) => setTimeout(resolve, 4000));
      assertEquals(monitor.health.liveness().details.step, "fetch");
      assertEquals(monitor.health.liveness().reason, "alive");
      assertEquals(monitor.health.readiness(null).reason, "ready");
    } finally {
      stop.abort();
      await running;
      await store.close();
    }
  },
);

Deno.test("a member that cannot reach the broker waits by design: its health says so", async () => {
  const config = configWithoutBroker();
  const monitor = groupMonitorFor(config, "ledger");
  const stop = new AbortController();
  const store: BatchStore = {
    applyBatch: () => Promise.reject(new Error("a member that never connects writes nothing")),
  };
  const running = runGroup(config, store, {
    group: "ledger",
    drain: false,
    signal: stop.signal,
    monitor,
    onActive: () => {},
  });
  try {
    const deadline = Date.now() + 10_000;
    while (monitor.health.liveness().details.step !== "wait") {
      assertOk(Date.now() < deadline, "the member never reported its failed connection");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } finally {
    stop.abort();
    await running;
  }
});
