/**
 * The loop with late events on (docs/rules.md §3.10), against a real SQLite file and a scripted
 * feed whose late events show up when the test says: what is applied, when the worker reads
 * again, and what it costs in requests.
 */
import { getLogger } from "@logtape/logtape";
import { assertEquals, assertOk } from "../helpers/assert.ts";
import { type RawEvent, scanEvent } from "../helpers/events.ts";
import { tempDatabase } from "../helpers/tables.ts";
import { SqliteStore } from "../../src/store/sqlite.ts";
import { runLoop } from "../../src/worker/loop.ts";
import type { LateHooks, LateOptions } from "../../src/worker/late.ts";
import { PAGES_PER_REREAD } from "../../src/worker/reread.ts";
import type { FetchedPage, PageSource } from "../../src/source.ts";
import type { LoopEvents } from "../../src/worker/mod.ts";
import { stepRecorder } from "../helpers/loop_steps.ts";

const logger = getLogger(["test"]);

/** A feed of `events` where the EventIds in `hidden` are not visible until revealed. */
function lateFeed(events: RawEvent[], limit: number, hidden: Iterable<number>) {
  const invisible = new Set(hidden);
  const asked: number[] = [];
  const source: PageSource = {
    fetchPage(from: number): Promise<FetchedPage> {
      asked.push(from);
      const page = events
        .filter((e) => Number(e.EventId) >= from && !invisible.has(Number(e.EventId)))
        .slice(0, limit);
      return Promise.resolve({
        from,
        events: page,
        full: page.length >= limit,
        attempts: 1,
        ms: 0,
      });
    },
  };
  return {
    source,
    asked,
    reveal: (...ids: number[]) => ids.forEach((id) => invisible.delete(id)),
    /** Requests below the highest asked before them: the re-reads. */
    rereads: () => asked.filter((from, i) => from < Math.max(0, ...asked.slice(0, i))).length,
  };
}

/** Counting hooks. */
function counting(): LateHooks & { late: number; settledAt: number } {
  const hooks = {
    late: 0,
    settledAt: -1,
    lateEvents: (n: number) => {
      hooks.late += n;
    },
    settled: (id: number) => {
      hooks.settledAt = id;
    },
  };
  return hooks;
}

function lateOptions(hooks: LateHooks, now: () => number, windowMs = 1000): LateOptions {
  return { windowMs, reread: true, pollIntervalMs: 0, logger, hooks, now };
}

/** Drain once with late events on (or off when `late` is undefined), reporting to `events`. */
function drain(store: SqliteStore, source: PageSource, late?: LateOptions, events?: LoopEvents) {
  return runLoop({
    pollIntervalMs: 0,
    lockRetryMs: 10,
    backoff: { baseMs: 1, capMs: 2 },
    logger,
    store,
    source,
    drain: true,
    signal: new AbortController().signal,
    ...(late === undefined ? {} : { late }),
    ...(events === undefined ? {} : { events }),
  });
}

/** Run `test` on a migrated SQLite store in a temporary file, removed afterwards. */
async function withStore(test: (store: SqliteStore) => Promise<void>): Promise<void> {
  const db = tempDatabase("scan-worker-late-loop-");
  const store = new SqliteStore(db.path);
  try {
    await store.migrate();
    await test(store);
  } finally {
    await store.close();
    await Deno.remove(db.dir, { recursive: true });
  }
}

const events = (ids: number[]) => ids.map((id) => scanEvent(id, 100 + (id % 5), "STATUS"));

Deno.test("a late event that shows up after its successors is applied once, by the next run", () =>
  withStore(async (store) => {
    const feed = lateFeed(events([1, 2, 3, 4, 5, 6]), 10, [3]);
    const hooks = counting();
    let now = 10_000;
    const late = lateOptions(hooks, () => now);
    assertEquals((await drain(store, feed.source, late)).checkpoint, 6);
    assertEquals(await store.readLateHoles(), "[[3,3,10000]]");
    assertEquals((await store.status()).settledEventId, 2);
    assertEquals(await store.parcel(103), null, "3 is not there yet");
    feed.reveal(3);
    now = 10_500;
    await drain(store, feed.source, late);
    assertEquals((await store.parcel(103))?.lastEventId, 3);
    assertEquals(hooks.late, 1);
    assertEquals(await store.readLateHoles(), "[]");
    assertEquals((await store.status()).settledEventId, 6);
    assertEquals(hooks.settledAt, 6);
    // Read again and again: nothing more.
    feed.reveal();
    await drain(store, feed.source, late);
    assertEquals(hooks.late, 1);
  }));

Deno.test("LATE_EVENT_WINDOW_MS=0: a late event is missed, as before", () =>
  withStore(async (store) => {
    const feed = lateFeed(events([1, 2, 3, 4]), 10, [3]);
    await drain(store, feed.source);
    feed.reveal(3);
    await drain(store, feed.source);
    assertEquals(await store.parcel(103), null);
    assertEquals(feed.rereads(), 0, "never reads below the checkpoint");
    assertEquals(await store.readLateHoles(), null, "nothing stored");
  }));

Deno.test("a hole still empty a whole window after it opened is settled by the next re-read", () =>
  withStore(async (store) => {
    const feed = lateFeed(events([1, 2, 4, 5]), 10, []); // 3 never comes
    const hooks = counting();
    let now = 0;
    const late = lateOptions(hooks, () => now);
    await drain(store, feed.source, late);
    assertEquals(hooks.settledAt, 2);
    now = 999;
    await drain(store, feed.source, late);
    assertEquals(hooks.settledAt, 2, "within the window: still watched");
    now = 1000;
    await drain(store, feed.source, late);
    assertEquals(hooks.settledAt, 5);
    assertEquals(await store.readLateHoles(), "[]");
    assertEquals((await store.status()).settledEventId, 5);
    const before = feed.asked.length;
    await drain(store, feed.source, late);
    assertEquals(feed.asked.length - before, 1, "settled: no more re-reads");
  }));

Deno.test("while catching up, one re-read per 50 full pages at most, and one as --drain ends", () =>
  withStore(async (store) => {
    // 5000 events, 10 a page, a hole every 50 EventIds that never fills.
    const ids = Array.from({ length: 5000 }, (_, i) => i + 1).filter((id) => id % 50 !== 0);
    const feed = lateFeed(events(ids), 10, []);
    const late = lateOptions(counting(), () => 0, 60_000);
    await drain(store, feed.source, late);
    const rereads = feed.rereads();
    const pages = feed.asked.length - rereads;
    assertOk(pages >= 490, `pages ${pages}`);
    assertEquals(PAGES_PER_REREAD, 50);
    assertEquals(rereads, Math.floor(pages / PAGES_PER_REREAD) + 1);
  }));

Deno.test("at the head, at most one re-read per poll interval", () =>
  withStore(async (store) => {
    const controller = new AbortController();
    const feed = lateFeed(events([1, 2, 4, 5]), 10, []);
    const late: LateOptions = { ...lateOptions(counting(), Date.now, 60_000), pollIntervalMs: 20 };
    const running = runLoop({
      pollIntervalMs: 20,
      lockRetryMs: 10,
      backoff: { baseMs: 1, capMs: 2 },
      logger,
      store,
      source: feed.source,
      drain: false,
      signal: controller.signal,
      late,
    });
    while (feed.asked.length < 30) await new Promise((r) => setTimeout(r, 10));
    controller.abort();
    await running;
    const rereads = feed.rereads();
    const polls = feed.asked.length - rereads;
    assertOk(rereads >= 1, "it does read again while a hole is open");
    assertOk(rereads <= polls, `${rereads} re-reads for ${polls} polls`);
  }));

Deno.test("a late event brought by a normal page (a stream source) is applied once", () =>
  withStore(async (store) => {
    // The stream: 1, 2, 4, 5 then 3 (published after the page that found it), then 6.
    const order = [1, 2, 4, 5, 3, 6];
    let served = 0;
    const source: PageSource = {
      fetchPage(from: number): Promise<FetchedPage> {
        const page = events(order.slice(served, served + 4));
        served += page.length;
        return Promise.resolve({ from, events: page, full: page.length >= 4, attempts: 1, ms: 0 });
      },
    };
    const hooks = counting();
    const late: LateOptions = { ...lateOptions(hooks, () => 0), reread: false };
    await drain(store, source, late);
    assertEquals((await store.parcel(103))?.lastEventId, 3);
    assertEquals(hooks.late, 1);
    assertEquals(await store.readCheckpoint(), 6);
    assertEquals(await store.readLateHoles(), "[]");
  }));

Deno.test("a re-read of the head is a fetch step (a failing API retried there is alive), its write a write", () =>
  withStore(async (store) => {
    const feed = lateFeed(events([1, 2, 3, 4, 5, 6]), 10, [3]);
    const { steps, events: loopEvents } = stepRecorder();
    const stepAt: Record<number, string> = {};
    const source: PageSource = {
      fetchPage(from: number, signal: AbortSignal) {
        stepAt[from] = steps.at(-1) ?? "";
        return feed.source.fetchPage(from, signal);
      },
    };
    let now = 10_000;
    const late = lateOptions(counting(), () => now);
    await drain(store, source, late, loopEvents);
    feed.reveal(3);
    now = 10_500;
    steps.length = 0;
    await drain(store, source, late, loopEvents);
    assertEquals((await store.parcel(103))?.lastEventId, 3, "the re-read found 3");
    assertEquals(stepAt[3], "fetch", "the re-read from the hole");
    const reread = steps.lastIndexOf("fetch");
    assertOk(steps.slice(reread).includes("write"), `the late page written: ${steps.join(" ")}`);
  }));
