/**
 * The relay's backlog and gate without a broker: when ingest pauses and goes on, when a drain
 * ends, what the gauges say, and that a relay stopped for good stops ingest with its error.
 */
import { getLogger } from "@logtape/logtape";
import { assertEquals, assertOk } from "../helpers/assert.ts";
import { Backlog, OutboxGate, type RelayEvents } from "../../src/relay/mod.ts";
import { ConfigError } from "../../src/errors.ts";

const logger = getLogger(["test"]);
const never = new AbortController().signal;

/** An outbox whose count the test sets, counting how often it was read. */
class FakeOutbox {
  rows = 0;
  oldestUtc: string | null = null;
  reads = 0;
  outboxBacklog() {
    this.reads++;
    return Promise.resolve({ rows: this.rows, oldestUtc: this.oldestUtc });
  }
}

/** The hooks' last values. */
function recorder() {
  const seen = { rows: -1, lag: -1, paused: [] as boolean[], acked: 0 };
  const events: Pick<RelayEvents, "backlog" | "paused" | "committedToAcked"> = {
    backlog: (rows, lag) => Object.assign(seen, { rows, lag }),
    paused: (paused) => seen.paused.push(paused),
    committedToAcked: () => seen.acked++,
  };
  return { seen, events };
}

function gateOn(outbox: FakeOutbox, maxRows: number, countEveryMs = 10_000, paceRows?: number) {
  const { seen, events } = recorder();
  const wakes: string[] = [];
  const gate = new OutboxGate({
    backlog: new Backlog(outbox),
    countEveryMs,
    maxRows,
    paceRows,
    start: () => wakes.push("start"),
    pause: () => Promise.resolve(void wakes.push("pause")),
    committed: () => wakes.push("wake"),
    logger,
    events,
  });
  return { gate, seen, wakes };
}

/** Whether a promise has settled after the pending jobs ran. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(() => done = true, () => done = true);
  await new Promise((resolve) => setTimeout(resolve, 0));
  return done;
}

Deno.test("ingest waits while OUTBOX_MAX_ROWS rows wait, and goes on once the relay publishes", async () => {
  const outbox = new FakeOutbox();
  const { gate, seen, wakes } = gateOn(outbox, 100);
  await gate.active(true);
  await gate.count(0);
  gate.pageCommitted({ rejected: [], outboxed: 60 }, 60);
  assertEquals(await gate.waitForRoom(never), true);
  gate.pageCommitted({ rejected: [], outboxed: 40 }, 100);
  assertEquals([seen.rows, wakes], [100, ["start", "wake", "wake"]]);
  const room = gate.waitForRoom(never);
  assertEquals(await settled(room), false, "ingest waits at 100 rows");
  assertEquals(seen.paused, [true]);
  await gate.published(60, 60);
  assertEquals(await room, true);
  assertEquals([seen.rows, seen.paused, seen.acked], [40, [true, false], 1]);
});

Deno.test("a signal ends the wait for room with false", async () => {
  const outbox = new FakeOutbox();
  outbox.rows = 500;
  const { gate } = gateOn(outbox, 100);
  await gate.count(0);
  const controller = new AbortController();
  const room = gate.waitForRoom(controller.signal);
  controller.abort();
  assertEquals(await room, false);
});

Deno.test("a drain ends once the outbox was counted and nothing waits in it", async () => {
  const outbox = new FakeOutbox();
  const { gate } = gateOn(outbox, 100);
  const drained = gate.drained(never);
  assertEquals(await settled(drained), false, "not before the first count");
  outbox.rows = 25; // left by an earlier run
  await gate.count(0);
  assertEquals(await settled(drained), false, "not while 25 rows wait");
  await gate.published(25, 25);
  await drained;
});

Deno.test("a relay stopped for good stops ingest and the drain with its error", async () => {
  const outbox = new FakeOutbox();
  outbox.rows = 500;
  const { gate } = gateOn(outbox, 100);
  await gate.count(0);
  const room = gate.waitForRoom(never);
  const drained = gate.drained(never);
  const error = new ConfigError("NATS_STREAM", "wrong stream");
  gate.fail(error);
  for (const waiting of [room, drained, gate.waitForRoom(never)]) {
    const thrown = await waiting.then(() => null, (e) => e);
    assertEquals(thrown, error);
  }
});

Deno.test("the lag is the age of the oldest row the database counted, before anything is published", async () => {
  const outbox = new FakeOutbox();
  outbox.rows = 300;
  outbox.oldestUtc = new Date(Date.now() - 90_000).toISOString();
  const { gate, seen } = gateOn(outbox, 1000);
  await gate.count(0);
  gate.pageCommitted({ rejected: [], outboxed: 10 }, 310); // a page of this process: younger
  assertEquals(seen.rows, 310);
  assertOk(seen.lag >= 90 && seen.lag < 120, `lag ${seen.lag}`);
  outbox.rows = 0;
  outbox.oldestUtc = null;
  await gate.count(310);
  assertEquals([seen.rows, seen.lag], [0, 0]);
});

Deno.test("while the relay waits (the broker away) the outbox is counted from the database", async () => {
  const outbox = new FakeOutbox();
  outbox.rows = 7;
  const { gate, seen } = gateOn(outbox, 1000, 5);
  const { promise: away, resolve: back } = Promise.withResolvers<string>();
  const waiting = gate.countingWhile(away);
  const rowsSeen = async (rows: number) => {
    while (seen.rows !== rows) await new Promise((resolve) => setTimeout(resolve, 5));
  };
  await rowsSeen(7);
  outbox.rows = 52_879; // written by another instance meanwhile
  await rowsSeen(52_879);
  const reads = outbox.reads;
  back("connected");
  assertEquals(await waiting, "connected");
  await new Promise((resolve) => setTimeout(resolve, 20));
  assertOk(outbox.reads <= reads + 1, "no count after the wait ended");
});

Deno.test("ingest waits for the first count: rows left by an earlier run pause it at once", async () => {
  const outbox = new FakeOutbox();
  outbox.rows = 800; // the outbox an earlier run filled while the broker was away
  const { gate, seen } = gateOn(outbox, 500);
  await gate.active(true);
  const room = gate.waitForRoom(never);
  assertEquals(await settled(room), false, "not before the count");
  await gate.count(0);
  assertEquals([await settled(room), seen.rows, seen.paused], [false, 800, [true]]);
  await gate.published(400, 400);
  assertEquals(await room, true);
});

Deno.test("while the relay publishes, ingest keeps pace with it; while it cannot, it goes on up to OUTBOX_MAX_ROWS", async () => {
  const outbox = new FakeOutbox();
  const { gate, seen } = gateOn(outbox, 1000, 10_000, 100);
  await gate.count(0);
  gate.pageCommitted({ rejected: [], outboxed: 150 }, 150);
  assertEquals(await gate.waitForRoom(never), true, "not publishing yet: up to OUTBOX_MAX_ROWS");
  gate.publishing(true);
  const paced = gate.waitForRoom(never);
  assertEquals(await settled(paced), false, "publishing: 150 rows wait, 100 at most");
  assertEquals(seen.paused, [], "pacing is not the outbox being full");
  await gate.published(60, 60);
  assertEquals(await paced, true, "90 rows wait");
  gate.pageCommitted({ rejected: [], outboxed: 50 }, 200);
  const again = gate.waitForRoom(never);
  assertEquals(await settled(again), false);
  gate.publishing(false); // the broker went away: the outbox takes the backlog
  assertEquals(await again, true);
});

Deno.test("after a pause (the feed lock lost) ingest waits for a new count: another relay moved the outbox", async () => {
  const outbox = new FakeOutbox();
  const { gate, wakes } = gateOn(outbox, 100);
  await gate.active(true);
  await gate.count(0);
  gate.pageCommitted({ rejected: [], outboxed: 60 }, 60);
  assertEquals(await gate.waitForRoom(never), true);
  await gate.active(false);
  outbox.rows = 150; // the other instance's pages, while this one stood by
  await gate.active(true);
  const room = gate.waitForRoom(never);
  assertEquals(await settled(room), false, "not on the count from before the pause");
  await gate.count(0);
  assertEquals(await settled(room), false, "150 rows wait: full");
  await gate.published(100, 160);
  assertEquals(await room, true);
  assertEquals(wakes, ["start", "wake", "pause", "start"]);
});
