import { getLogger } from "@logtape/logtape";
import { assertEquals, assertRejects } from "../helpers/assert.ts";
import type { FeedLock } from "../../src/store/store.ts";
import { SchemaMissingError } from "../../src/errors.ts";
import { LockKeeper, type LockOptions } from "../../src/worker/lock.ts";

/**
 * A feed lock the test hands out: `free` says whether `tryLockFeed` gets it; `lost` makes
 * `held()` say the session is gone. Records what the keeper asked.
 */
function fakeLocks() {
  const calls: string[] = [];
  const state = { free: true, lost: false, failWith: null as Error | null };
  const store: LockOptions["store"] = {
    tryLockFeed(): Promise<FeedLock | null> {
      calls.push("try");
      if (state.failWith !== null) {
        const error = state.failWith;
        state.failWith = null;
        return Promise.reject(error);
      }
      if (!state.free) return Promise.resolve(null);
      state.free = false;
      state.lost = false;
      return Promise.resolve({
        held: () => {
          calls.push("held?");
          return Promise.resolve(!state.lost);
        },
        release: () => {
          calls.push("release");
          state.free = true;
          return Promise.resolve();
        },
      });
    },
  };
  return { store, state, calls };
}

/** A keeper over `store`, reporting lock changes into `held`. */
function keeper(
  store: LockOptions["store"],
  more: Partial<LockOptions> = {},
): { keeper: LockKeeper; held: boolean[] } {
  const held: boolean[] = [];
  const lock = new LockKeeper({
    store,
    signal: new AbortController().signal,
    lockRetryMs: 60_000,
    logger: getLogger(["test"]),
    events: { lock: (h) => held.push(h), step: () => {} },
    ...more,
  });
  return { keeper: lock, held };
}

Deno.test("a free lock is taken at once, and gained() runs once before ensure resolves", async () => {
  const { store, calls } = fakeLocks();
  const { keeper: lock, held } = keeper(store);
  let gained = 0;
  assertEquals(await lock.ensure(() => Promise.resolve(void gained++)), true);
  assertEquals([gained, held, calls], [1, [true], ["try"]]);
  await lock.release();
});

Deno.test("while held, the lock is not checked again before lockRetryMs has passed", async () => {
  const { store, calls } = fakeLocks();
  const { keeper: lock } = keeper(store, { lockRetryMs: 60_000 });
  await lock.ensure(() => Promise.resolve());
  assertEquals(await lock.ensure(() => Promise.resolve()), true);
  assertEquals(calls, ["try"]);
  await lock.release();
});

Deno.test("a standby retries every lockRetryMs until the other instance lets go", async () => {
  const { store, state, calls } = fakeLocks();
  state.free = false;
  const { keeper: lock, held } = keeper(store, { lockRetryMs: 2 });
  const ensured = lock.ensure(() => Promise.resolve());
  while (calls.length < 3) await new Promise((resolve) => setTimeout(resolve, 1));
  state.free = true;
  assertEquals(await ensured, true);
  await lock.release();
  assertEquals(held, [true, false]);
  assertEquals(calls.slice(0, -1).every((call) => call === "try"), true);
});

Deno.test("a standby gives up waiting when the signal aborts", async () => {
  const { store, state, calls } = fakeLocks();
  state.free = false;
  const controller = new AbortController();
  const { keeper: lock, held } = keeper(store, { lockRetryMs: 60_000, signal: controller.signal });
  const ensured = lock.ensure(() => Promise.resolve());
  while (calls.length < 1) await new Promise((resolve) => setTimeout(resolve, 1));
  controller.abort();
  assertEquals([await ensured, held], [false, []]);
});

Deno.test("a lost lock is released, taken again, and gained() runs again", async () => {
  const { store, state, calls } = fakeLocks();
  const { keeper: lock, held } = keeper(store, { lockRetryMs: 0 });
  let gained = 0;
  await lock.ensure(() => Promise.resolve(void gained++));
  state.lost = true;
  state.free = true; // the database ended the session: the lock is free for anyone
  assertEquals(await lock.ensure(() => Promise.resolve(void gained++)), true);
  await lock.release();
  assertEquals([gained, held], [2, [true, false, true, false]]);
  assertEquals(calls.filter((call) => call !== "held?"), ["try", "release", "try", "release"]);
  assertEquals(calls[1], "held?");
});

Deno.test("a failed lock request is retried, waiting rather than standing by; a fatal store error is thrown", async () => {
  const { store, state } = fakeLocks();
  state.failWith = new Error("connection reset");
  const steps: string[] = [];
  const { keeper: lock } = keeper(store, {
    lockRetryMs: 1,
    events: { lock: () => {}, step: (step) => steps.push(step) },
  });
  assertEquals(await lock.ensure(() => Promise.resolve()), true);
  await lock.release();
  assertEquals(steps, ["wait"], "a database that did not answer is no other instance");
  const fatal = fakeLocks();
  fatal.state.failWith = new SchemaMissingError("taking the feed lock");
  await assertRejects(
    keeper(fatal.store).keeper.ensure(() => Promise.resolve()),
    SchemaMissingError,
  );
});

Deno.test("release gives the lock up once and says so; without a lock it does nothing", async () => {
  const { store, calls } = fakeLocks();
  const { keeper: lock, held } = keeper(store);
  await lock.release();
  assertEquals([calls, held], [[], []]);
  await lock.ensure(() => Promise.resolve());
  await lock.release();
  await lock.release();
  assertEquals([calls, held], [["try", "release"], [true, false]]);
});

Deno.test("while held, the lock is watched every lockRetryMs without ensure(); a lost one aborts active", async () => {
  const { store, state, calls } = fakeLocks();
  const { keeper: lock, held } = keeper(store, { lockRetryMs: 5 });
  await lock.ensure(() => Promise.resolve());
  const active = lock.active;
  const deadline = Date.now() + 10_000; // a keeper that does not watch fails, not hangs
  while (calls.filter((call) => call === "held?").length < 2 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  assertEquals(active.aborted, false, "held: still active");
  state.lost = true;
  while (!active.aborted && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  assertEquals(active.aborted, true, "found lost without ensure()");
  assertEquals(held, [true], "what follows a loss is ensure()'s to say and do");
  state.free = true;
  let lost = 0;
  assertEquals(
    await lock.ensure(() => Promise.resolve(), () => Promise.resolve(void lost++)),
    true,
  );
  assertEquals([lost, held, lock.active.aborted], [1, [true, false, true], false]);
  await lock.release();
  const checks = calls.length;
  await new Promise((resolve) => setTimeout(resolve, 20));
  assertEquals(calls.length, checks, "released: no more checks");
});
