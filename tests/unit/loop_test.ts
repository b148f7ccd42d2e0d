import { getLogger } from "@logtape/logtape";
import { assertEquals, assertOk, assertRejects } from "../helpers/assert.ts";
import { type RawEvent, scanEvent } from "../helpers/events.ts";
import type { PageResult } from "../../src/domain/project.ts";
import { SqliteStore } from "../../src/store/sqlite.ts";
import type { FeedStore } from "../../src/store/store.ts";
import { SchemaMissingError } from "../../src/errors.ts";
import type { PageGate } from "../../src/worker/gate.ts";
import { type LoopOptions, runLoop } from "../../src/worker/loop.ts";
import { FetchAbortedError, type FetchedPage, type PageSource } from "../../src/source.ts";
import { stepRecorder } from "../helpers/loop_steps.ts";

/** A page of `events` as the client returns it for `Limit=limit`. */
function fetched(from: number, events: RawEvent[], limit: number): FetchedPage {
  return { from, events, full: events.length >= limit, attempts: 1, ms: 0 };
}

/** A source that serves `events` by FromEventId and records what was asked. */
function scriptedSource(events: RawEvent[], limit: number) {
  const asked: number[] = [];
  const source: PageSource = {
    fetchPage(from: number): Promise<FetchedPage> {
      asked.push(from);
      const page = events.filter((e) => Number(e.EventId) >= from).slice(0, limit);
      return Promise.resolve(fetched(from, page, limit));
    },
  };
  return { source, asked };
}

/** A store that fails its first `failures` writes, as a locked or unreachable database does. */
function flakyStore(inner: FeedStore, failures: number): FeedStore & { attempts: number } {
  const store = {
    attempts: 0,
    readCheckpoint: () => inner.readCheckpoint(),
    tryLockFeed: () => inner.tryLockFeed(),
    close: () => inner.close(),
    applyPage(result: PageResult) {
      store.attempts++;
      if (store.attempts <= failures) return Promise.reject(new Error("database is locked"));
      return inner.applyPage(result);
    },
  };
  return store;
}

const options = {
  pollIntervalMs: 0,
  lockRetryMs: 10,
  backoff: { baseMs: 1, capMs: 2 },
  logger: getLogger(["test"]),
};

/** Run the loop with `--drain` semantics: until the first empty page. */
function drainLoop(store: FeedStore, source: PageSource, more: Partial<LoopOptions> = {}) {
  return runLoop({
    ...options,
    store,
    source,
    drain: true,
    signal: new AbortController().signal,
    ...more,
  });
}

/** A gate that records what the loop tells it, in order; `room` and `drained` as given. */
function recordingGate(
  room: () => Promise<boolean> = () => Promise.resolve(true),
  drained: () => Promise<void> = () => Promise.resolve(),
) {
  const heard: string[] = [];
  const gate: PageGate = {
    active: (held) => Promise.resolve(void heard.push(held ? "active" : "not active")),
    waitForRoom: () => {
      heard.push("room?");
      return room();
    },
    pageCommitted: (write, checkpoint) => heard.push(`committed ${checkpoint} (${write.outboxed})`),
    drained: () => {
      heard.push("drained?");
      return drained();
    },
  };
  return { gate, heard };
}

/** A store with the schema, in memory. */
async function migratedStore(): Promise<SqliteStore> {
  const store = new SqliteStore(":memory:");
  await store.migrate();
  return store;
}

Deno.test("the loop drains page by page, asking for checkpoint + 1", async () => {
  const store = new SqliteStore(":memory:");
  await store.migrate();
  const events = [1, 2, 3, 4, 5, 6, 7].map((id) => scanEvent(id, id % 3 + 1));
  const { source, asked } = scriptedSource(events, 3);
  const summary = await drainLoop(store, source);
  assertEquals(asked, [1, 4, 7, 8]);
  assertEquals(summary, { reason: "drained", checkpoint: 7, pages: 3, applied: 7, rejected: 0 });
  await store.close();
});

Deno.test("a failed write is retried whole from the re-read checkpoint", async () => {
  const inner = new SqliteStore(":memory:");
  await inner.migrate();
  const store = flakyStore(inner, 2);
  const { source, asked } = scriptedSource([scanEvent(1, 1), scanEvent(2, 2)], 10);
  const summary = await drainLoop(store, source);
  assertEquals(asked, [1, 1, 1, 3]);
  assertEquals(store.attempts, 3);
  assertEquals(summary.checkpoint, 2);
  assertEquals((await inner.status()).parcels, 2);
  await inner.close();
});

Deno.test("a missing schema ends the loop with its error", async () => {
  const store = new SqliteStore(":memory:");
  const { source } = scriptedSource([scanEvent(1, 1)], 10);
  await assertRejects(
    drainLoop(store, source),
    SchemaMissingError,
  );
  await store.close();
});

Deno.test("an aborted signal stops the loop before the next request", async () => {
  const store = new SqliteStore(":memory:");
  await store.migrate();
  const controller = new AbortController();
  controller.abort();
  const { source, asked } = scriptedSource([scanEvent(1, 1)], 10);
  const summary = await runLoop({
    ...options,
    store,
    source,
    drain: false,
    signal: controller.signal,
  });
  assertEquals([summary.reason, asked], ["stopped", []]);
  await store.close();
});

Deno.test("the next page is asked for before the current one is written, one page ahead at most", async () => {
  const inner = new SqliteStore(":memory:");
  await inner.migrate();
  const events = Array.from({ length: 20 }, (_, i) => scanEvent(i + 1, (i % 4) + 1));
  const { source, asked } = scriptedSource(events, 4);
  // At each write: which pages had been asked for by then.
  const askedAtWrite: number[][] = [];
  const store = flakyStore(inner, 0);
  const write = store.applyPage;
  store.applyPage = (result: PageResult) => {
    askedAtWrite.push([...asked]);
    return write(result);
  };
  const summary = await drainLoop(store, source);
  assertEquals(summary.checkpoint, 20);
  // Page k (from 4k+1) is written once page k+1 is asked for, and page k+2 is not yet.
  assertEquals(askedAtWrite, [
    [1, 5],
    [1, 5, 9],
    [1, 5, 9, 13],
    [1, 5, 9, 13, 17],
    [1, 5, 9, 13, 17, 21],
  ]);
  await inner.close();
});

Deno.test("a page fetched ahead for a checkpoint that did not hold is cancelled, not used", async () => {
  const inner = new SqliteStore(":memory:");
  await inner.migrate();
  const events = Array.from({ length: 8 }, (_, i) => scanEvent(i + 1, i + 1));
  const aborted: number[] = [];
  const asked: number[] = [];
  const source: PageSource = {
    fetchPage(from: number, signal: AbortSignal): Promise<FetchedPage> {
      asked.push(from);
      signal.addEventListener("abort", () => aborted.push(from), { once: true });
      const page = events.filter((e) => Number(e.EventId) >= from).slice(0, 4);
      return Promise.resolve(fetched(from, page, 4));
    },
  };
  // The first write fails: the page asked for ahead (from 5) no longer follows the checkpoint
  // it was asked for, since page 1..4 is fetched again.
  const summary = await drainLoop(flakyStore(inner, 1), source);
  assertEquals(summary.checkpoint, 8);
  assertEquals(asked, [1, 5, 1, 5, 9]);
  assertEquals(aborted.includes(5), true);
  await inner.close();
});

Deno.test("the gate is opened once the lock is held, asked for room before each write, told of each commit", async () => {
  const store = await migratedStore();
  const { source } = scriptedSource([1, 2, 3].map((id) => scanEvent(id, id)), 2);
  const { gate, heard } = recordingGate();
  await drainLoop(store, source, { gate });
  assertEquals(heard, [
    "active",
    "room?",
    "committed 2 (0)",
    "room?",
    "committed 3 (0)",
    "room?",
    "committed 3 (0)",
    "drained?",
  ]);
  await store.close();
});

/** Resolves once `signal` aborts, or after `ms` (a test whose fix is gone fails, not hangs). */
async function abortedWithin(signal: AbortSignal, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
  clearTimeout(timer);
  return signal.aborted;
}

/** A store whose lock, once `lose()` is called, is found lost at its next check (once). */
function losingStore(inner: FeedStore, heard: string[]) {
  let losing = false;
  const store: FeedStore = {
    readCheckpoint: () => inner.readCheckpoint(),
    applyPage: (result) => inner.applyPage(result),
    close: () => inner.close(),
    async tryLockFeed() {
      const lock = await inner.tryLockFeed();
      if (lock === null) return null;
      heard.push("lock taken");
      const held = () => {
        if (!losing) return Promise.resolve(true);
        losing = false; // the session is gone, as after a database restart; the next one holds
        return Promise.resolve(false);
      };
      return { held, release: () => lock.release() };
    },
  };
  return { store, lose: () => void (losing = true) };
}

/** A migrated in-memory store (`inner`), the losing store over it, and a gate recording into `heard`. */
async function losingSetup() {
  const inner = await migratedStore();
  const { gate, heard } = recordingGate();
  return { inner, gate, heard, ...losingStore(inner, heard) };
}

Deno.test("a lost feed lock stops the gate before the lock is asked for again, and a retaken one starts it", async () => {
  const { inner, gate, heard, store, lose } = await losingSetup();
  const { source } = scriptedSource([1, 2, 3].map((id) => scanEvent(id, id)), 2);
  const committed = gate.pageCommitted;
  gate.pageCommitted = (write, checkpoint) => {
    if (checkpoint === 2) lose();
    committed(write, checkpoint);
  };
  // Checked before every page (lockRetryMs 0), so the loss is found before the next write.
  const summary = await drainLoop(store, source, { gate, lockRetryMs: 0 });
  assertEquals(heard.slice(0, 4), ["lock taken", "active", "room?", "committed 2 (0)"]);
  assertEquals(heard.slice(4, 7), ["not active", "lock taken", "active"]);
  assertEquals(heard.filter((h) => h === "not active").length, 1);
  assertEquals([summary.checkpoint, summary.applied], [3, 3]);
  await inner.close();
});

Deno.test("a feed lock lost while the loop waits for room ends the wait: the lock is taken again, the page written", async () => {
  const { inner, gate, heard, store, lose } = await losingSetup();
  const { source } = scriptedSource([1, 2, 3].map((id) => scanEvent(id, id)), 10);
  let waits = 0;
  gate.waitForRoom = async (signal) => {
    if (++waits > 1) return true;
    lose(); // the outbox is full, and meanwhile the database restarts
    const ended = await abortedWithin(signal, 10_000);
    heard.push(ended ? "wait for room ended" : "wait for room timed out");
    return !ended;
  };
  const summary = await drainLoop(store, source, { gate, lockRetryMs: 5 });
  assertEquals(heard.slice(0, 6), [
    "lock taken",
    "active",
    "wait for room ended",
    "not active",
    "lock taken",
    "active",
  ]);
  assertEquals([summary.checkpoint, summary.applied], [3, 3]);
  await inner.close();
});

Deno.test("a feed lock lost while a fetch hangs (an API that is down) ends the fetch; the page is asked for again once the lock is back", async () => {
  const { inner, gate, heard, store, lose } = await losingSetup();
  const scripted = scriptedSource([1, 2, 3].map((id) => scanEvent(id, id)), 10);
  let fetches = 0;
  const source: PageSource = {
    async fetchPage(from, signal) {
      if (++fetches > 1) return await scripted.source.fetchPage(from, signal);
      lose(); // the API is down (the client retries), and meanwhile the database restarts
      heard.push(await abortedWithin(signal, 10_000) ? "fetch cancelled" : "fetch timed out");
      throw new FetchAbortedError(from);
    },
  };
  const summary = await drainLoop(store, source, { gate, lockRetryMs: 5 });
  assertEquals(heard.slice(0, 6), [
    "lock taken",
    "active",
    "fetch cancelled",
    "not active",
    "lock taken",
    "active",
  ]);
  assertEquals([summary.checkpoint, summary.applied, scripted.asked], [3, 3, [1, 4]]);
  await inner.close();
});

Deno.test("a feed lock found lost lets the page fetched ahead go before the instance stands by", async () => {
  const { inner, gate, heard, store, lose } = await losingSetup();
  const scripted = scriptedSource([1, 2].map((id) => scanEvent(id, id)), 1);
  let aheads = 0;
  const source: PageSource = {
    async fetchPage(from, signal) {
      if (from !== 2 || ++aheads > 1) return await scripted.source.fetchPage(from, signal);
      // Page 1 was full: page 2 is asked for ahead, from an API that is down (retried).
      heard.push(await abortedWithin(signal, 10_000) ? "ahead cancelled" : "ahead timed out");
      throw new FetchAbortedError(from);
    },
  };
  let waits = 0;
  gate.waitForRoom = async (signal) => {
    if (++waits > 1) return true;
    lose();
    return !await abortedWithin(signal, 10_000);
  };
  const summary = await drainLoop(store, source, { gate, lockRetryMs: 5 });
  assertEquals(heard.slice(0, 5), [
    "lock taken",
    "active",
    "ahead cancelled",
    "not active",
    "lock taken",
  ]);
  assertEquals([summary.checkpoint, summary.applied], [2, 2]);
  await inner.close();
});

Deno.test("a feed lock lost while the loop waits between polls ends the wait", async () => {
  const { inner, gate, heard, store, lose } = await losingSetup();
  const controller = new AbortController();
  const { source } = scriptedSource([scanEvent(1, 1)], 10);
  const committed = gate.pageCommitted;
  gate.pageCommitted = (write, checkpoint) => {
    committed(write, checkpoint);
    lose(); // found during the 60 s wait after this short page
  };
  const asked = source.fetchPage;
  source.fetchPage = (from, signal) => {
    if (heard.includes("not active")) controller.abort(); // asked again after the loss: enough
    return asked(from, signal);
  };
  const polling = { ...options, lockRetryMs: 5, pollIntervalMs: 60_000, drain: false };
  const running = runLoop({ ...polling, store, source, signal: controller.signal, gate });
  const timer = setTimeout(() => controller.abort(), 10_000); // a wait not cut short fails here
  const summary = await running;
  clearTimeout(timer);
  assertEquals(heard.slice(0, 7), [
    "lock taken",
    "active",
    "room?",
    "committed 1 (0)",
    "not active",
    "lock taken",
    "active",
  ]);
  assertEquals([summary.reason, summary.checkpoint], ["stopped", 1]);
  await inner.close();
});

Deno.test("a feed lock lost while --drain waits for the gate ends the wait; the drain ends once the lock is back", async () => {
  const { inner, gate, heard, store, lose } = await losingSetup();
  let drains = 0;
  gate.drained = async (signal) => {
    heard.push("drained?");
    if (++drains > 1) return;
    lose(); // the relay publishes what is left, and meanwhile the database restarts
    heard.push(await abortedWithin(signal, 10_000) ? "drain cut short" : "drain timed out");
  };
  const { source } = scriptedSource([scanEvent(1, 1)], 10);
  const summary = await drainLoop(store, source, { gate, lockRetryMs: 5 });
  const lost = heard.indexOf("drain cut short");
  assertOk(lost > 0, heard.join(", "));
  assertEquals(heard.slice(lost, lost + 4), [
    "drain cut short",
    "not active",
    "lock taken",
    "active",
  ]);
  assertEquals([summary.reason, summary.checkpoint, heard.at(-1)], ["drained", 1, "drained?"]);
  await inner.close();
});

Deno.test("no page is written while the gate has no room; the loop stops when the wait is cut short", async () => {
  const store = await migratedStore();
  const { source } = scriptedSource([scanEvent(1, 1)], 10);
  const { gate } = recordingGate(() => Promise.resolve(false));
  const summary = await drainLoop(store, source, { gate });
  assertEquals([summary.reason, summary.pages, await store.readCheckpoint()], ["stopped", 0, 0]);
  await store.close();
});

Deno.test("with --drain the loop returns only once the gate has drained", async () => {
  const store = await migratedStore();
  const { source } = scriptedSource([scanEvent(1, 1)], 10);
  let release = () => {};
  const drainedAt = new Promise<void>((resolve) => (release = resolve));
  const { gate, heard } = recordingGate(undefined, () => drainedAt);
  let returned = false;
  const running = drainLoop(store, source, { gate }).then((summary) => {
    returned = true;
    return summary;
  });
  while (!heard.includes("drained?")) await new Promise((resolve) => setTimeout(resolve, 1));
  assertEquals(returned, false);
  release();
  assertEquals((await running).reason, "drained");
  await store.close();
});

Deno.test("a shutdown while the gate drains ends the loop as stopped, not drained", async () => {
  const store = await migratedStore();
  const { source } = scriptedSource([scanEvent(1, 1)], 10);
  const controller = new AbortController();
  const { gate } = recordingGate(undefined, () => {
    controller.abort();
    return Promise.resolve();
  });
  const summary = await drainLoop(store, source, { gate, signal: controller.signal });
  assertEquals([summary.reason, summary.checkpoint], ["stopped", 1]);
  await store.close();
});

Deno.test("onActive is called once, when the lock is first held", async () => {
  const store = await migratedStore();
  const { source } = scriptedSource([scanEvent(1, 1)], 10);
  let active = 0;
  await drainLoop(store, source, { onActive: () => active++ });
  assertEquals(active, 1);
  await store.close();
});

Deno.test("waiting for room at the gate is a wait step, not a stuck fetch", async () => {
  const store = await migratedStore();
  const { source } = scriptedSource([scanEvent(1, 1)], 10);
  const { steps, events } = stepRecorder();
  let stepWhileWaiting = "";
  const { gate } = recordingGate(() => {
    stepWhileWaiting = steps.at(-1) ?? "";
    return Promise.resolve(true);
  });
  await drainLoop(store, source, { gate, events });
  assertEquals(stepWhileWaiting, "wait");
  await store.close();
});
