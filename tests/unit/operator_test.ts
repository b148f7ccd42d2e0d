/**
 * The operator commands' pure parts (argument checks, formats, the words of a move) and
 * `resetCheckpoint` against a real SQLite store: confirmation, the feed lock, the feed check.
 */
import { assertEquals, assertOk, assertRejects, assertThrows } from "../helpers/assert.ts";
import { UsageError } from "../../src/errors.ts";
import {
  type Confirm,
  describeMove,
  formatParcel,
  formatRejections,
  resetCheckpoint,
  ResetRefusedError,
  wholeNumber,
} from "../../src/ops/operator.ts";
import { openStore } from "../../src/store/open.ts";
import type { Store } from "../../src/store/store.ts";

Deno.test("wholeNumber takes digits from min up to 2^53-1 and names the argument otherwise", () => {
  assertEquals(wholeNumber(" 42 ", "--limit", 1), 42);
  assertEquals(wholeNumber("0", "--to", 0), 0);
  for (const bad of ["0", "-1", "1.5", "1e3", "abc", "", "9007199254740993"]) {
    assertThrows(
      () => wholeNumber(bad, "--limit", 1),
      UsageError,
      /^invalid --limit: ".*" is not a whole number from 1 to 2\^53-1$/,
    );
  }
  assertThrows(() => wholeNumber(undefined, "ParcelId", 1), UsageError, /^ParcelId is missing$/);
});

Deno.test("a parcel prints one field a line, NULL for what is not set", () => {
  const text = formatParcel({
    parcelId: 5002,
    lastEventId: 17,
    type: "PICKUP",
    statusCode: "",
    runId: null,
    createdDateTimeUtc: "2024-01-31T21:00:00.0000000Z",
    pickupTimeUtc: "2024-01-31T21:00:00.0000000Z",
    deliveryTimeUtc: null,
    updatedAtUtc: "2024-02-01T08:00:00.0000000Z",
  });
  assertEquals(
    text,
    [
      "ParcelId            5002",
      "LastEventId         17",
      "Type                PICKUP",
      'StatusCode          ""',
      "RunId               NULL",
      "CreatedDateTimeUtc  2024-01-31T21:00:00.0000000Z",
      "PickupTimeUtc       2024-01-31T21:00:00.0000000Z",
      "DeliveryTimeUtc     NULL",
      "UpdatedAtUtc        2024-02-01T08:00:00.0000000Z",
      "",
    ].join("\n"),
  );
});

Deno.test("rejections print newest first with a '-' for no EventId and long payloads cut", () => {
  assertEquals(formatRejections([]), "no rejected events\n");
  const long = "x".repeat(301);
  assertEquals(
    formatRejections([
      { id: 2, eventId: null, reason: "not JSON", payload: "{", rejectedAtUtc: "T2" },
      { id: 1, eventId: 9, reason: "bad Type", payload: long, rejectedAtUtc: "T1" },
    ]),
    `#2 EventId - at T2: not JSON\n  {\n#1 EventId 9 at T1: bad Type\n  ${
      "x".repeat(300)
    }… (301 characters)\n`,
  );
});

Deno.test("a move is said in words: forward skips, back replays", () => {
  assertEquals(describeMove(15, 40), "forward by 25: events 16..40 are skipped and never applied");
  assertEquals(
    describeMove(40, 15),
    "back by 25: events 16..40 are applied again (safe: it changes nothing already stored)",
  );
  assertEquals(describeMove(7, 7), "nowhere: nothing changes");
});

/** A migrated SQLite store at checkpoint `at`, in a fresh folder; `use` it, then remove it. */
async function withStore(at: number, use: (store: Store, path: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "scan-worker-operator-" });
  const path = `${dir}/scan.db`;
  const store = await openStore({
    database: { kind: "sqlite", path },
    connectTimeoutMs: 1000,
    databaseForLog: `sqlite:${path}`,
  });
  try {
    await store.migrate();
    await store.resetCheckpoint(at);
    await use(store, path);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const NO_TERMINAL: Confirm = { interactive: false, ask: () => false };
const feedReaches = (end: number) => (eventId: number) => Promise.resolve(eventId <= end);

Deno.test("reset moves back with --yes, and forward only as far as the feed reaches", async () => {
  await withStore(100, async (store) => {
    const options = {
      yes: true,
      beyondFeed: false,
      reaches: feedReaches(150),
      confirm: NO_TERMINAL,
    };
    assertEquals(await resetCheckpoint(store, 40, options), { from: 100, to: 40 });
    assertEquals(await resetCheckpoint(store, 150, options), { from: 40, to: 150 });
    await assertRejects(
      resetCheckpoint(store, 151, options),
      ResetRefusedError,
      /the feed has no event at or after EventId 151/,
    );
    await assertRejects(
      resetCheckpoint(store, 200, {
        ...options,
        reaches: () => Promise.reject(new Error("down")),
      }),
      ResetRefusedError,
      /could not ask the feed whether it reaches EventId 200 \(down\)/,
    );
    assertEquals(await resetCheckpoint(store, 900, { ...options, beyondFeed: true }), {
      from: 150,
      to: 900,
    });
    assertEquals(await store.readCheckpoint(), 900);
  });
});

Deno.test("reset asks on a terminal, and refuses without --yes when no one can answer", async () => {
  await withStore(10, async (store) => {
    const base = { yes: false, beyondFeed: false, reaches: feedReaches(100) };
    await assertRejects(
      resetCheckpoint(store, 5, { ...base, confirm: NO_TERMINAL }),
      UsageError,
      /without --yes when stdin is not a terminal/,
    );
    const questions: string[] = [];
    const answer = (yes: boolean): Confirm => ({
      interactive: true,
      ask: (question) => (questions.push(question), yes),
    });
    await assertRejects(
      resetCheckpoint(store, 5, { ...base, confirm: answer(false) }),
      ResetRefusedError,
      /not confirmed; the checkpoint is unchanged/,
    );
    assertEquals(await store.readCheckpoint(), 10);
    assertEquals(await resetCheckpoint(store, 5, { ...base, confirm: answer(true) }), {
      from: 10,
      to: 5,
    });
    assertEquals(
      questions[0],
      "Move the checkpoint from 10 to 5, back by 5: events 6..10 are applied again (safe: it changes nothing already stored)? [y/N]",
    );
  });
});

Deno.test("reset refuses while another instance holds the feed lock", async () => {
  await withStore(10, async (store, path) => {
    const worker = await openStore({
      database: { kind: "sqlite", path },
      connectTimeoutMs: 1000,
      databaseForLog: `sqlite:${path}`,
    });
    const lock = await worker.tryLockFeed();
    try {
      assertOk(lock !== null);
      await assertRejects(
        resetCheckpoint(store, 0, {
          yes: true,
          beyondFeed: false,
          reaches: feedReaches(10),
          confirm: NO_TERMINAL,
        }),
        ResetRefusedError,
        /another instance holds the feed lock/,
      );
      assertEquals(await store.readCheckpoint(), 10);
    } finally {
      await lock?.release();
      await worker.close();
    }
  });
});
