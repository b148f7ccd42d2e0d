/** Start-up waits for a server database that is not up yet, within DB_CONNECT_TIMEOUT_MS. */
import { getLogger } from "@logtape/logtape";
import { assertEquals, assertIncludes, assertOk } from "../helpers/assert.ts";
import { DatabaseUnavailableError } from "../../src/errors.ts";
import { causeText, waitingAtStart } from "../../src/store/_reach.ts";
import { type Store } from "../../src/store/store.ts";
import { PermanentStoreError, SchemaMissingError } from "../../src/errors.ts";

const TARGET = {
  store: "PostgreSQL",
  database: "postgres://scan:***@db:5432/scan",
  timeoutMs: 600,
};

/**
 * A store whose `status`, `readCheckpoint` and `outbox.readRelayCursor` answer with `answers` in
 * turn (an Error throws).
 */
function scripted(answers: unknown[]): { store: Store; calls: () => number } {
  let calls = 0;
  const next = () => {
    const answer = answers[Math.min(calls++, answers.length - 1)];
    return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
  };
  const store = {
    readCheckpoint: next,
    status: next,
    close: () => Promise.resolve(),
    outbox: { readRelayCursor: next },
  };
  return { store: store as unknown as Store, calls: () => calls };
}

/** The error `promise` rejects with, checked to be a `type`. */
async function failure<E extends Error>(
  promise: Promise<unknown>,
  type: new (...args: never[]) => E,
): Promise<E> {
  try {
    await promise;
  } catch (error) {
    assertOk(error instanceof type, `expected ${type.name}, got ${String(error)}`);
    return error;
  }
  throw new Error(`expected ${type.name}, got no error`);
}

const refused = () =>
  Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), {
    code: "ECONNREFUSED",
  });

Deno.test("a database refusing at first is tried again until it answers", async () => {
  const { store, calls } = scripted([refused(), refused(), 42]);
  const waiting = waitingAtStart(store, { ...TARGET, timeoutMs: 10_000 }, getLogger("test"));
  assertEquals(await waiting.readCheckpoint(), 42);
  assertEquals(calls(), 3);
});

Deno.test("the outbox's calls wait for the database too", async () => {
  const { store, calls } = scripted([refused(), 5]);
  const waiting = waitingAtStart(store, { ...TARGET, timeoutMs: 10_000 }, getLogger("test"));
  assertEquals(await waiting.outbox.readRelayCursor(), 5);
  assertEquals(calls(), 2);
});

Deno.test("a database still refusing after DB_CONNECT_TIMEOUT_MS: one line naming store, URL and cause", async () => {
  const { store, calls } = scripted([refused()]);
  const waiting = waitingAtStart(store, TARGET, getLogger("test"));
  const error = await failure(waiting.readCheckpoint(), DatabaseUnavailableError);
  assertEquals(
    error.message,
    "PostgreSQL at postgres://scan:***@db:5432/scan: not reachable within 600 ms (DB_CONNECT_TIMEOUT_MS): connect ECONNREFUSED 127.0.0.1:5432",
  );
  assertOk(calls() >= 2, `tried ${calls()} times`);
});

Deno.test("a refused login fails at once, named; schema errors stay as they are", async () => {
  const sasl = new Error("SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string");
  const login = new PermanentStoreError(
    "PostgreSQL",
    "no password in DATABASE_URL",
    "reading the status",
    sasl,
  );
  const { store, calls } = scripted([login]);
  const waiting = waitingAtStart(store, TARGET, getLogger("test"));
  const error = await failure(waiting.status(), DatabaseUnavailableError);
  assertEquals(
    error.message,
    "PostgreSQL at postgres://scan:***@db:5432/scan: no password in DATABASE_URL while reading the status: SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string",
  );
  assertEquals(calls(), 1);
  const missing = scripted([new SchemaMissingError("no worker_states table")]);
  const schema = waitingAtStart(missing.store, TARGET, getLogger("test"));
  await failure(schema.status(), SchemaMissingError);
  assertEquals(missing.calls(), 1);
});

Deno.test("once the database has answered, a failure is the caller's: not waited for", async () => {
  const { store, calls } = scripted([7, refused()]);
  const waiting = waitingAtStart(store, { ...TARGET, timeoutMs: 10_000 }, getLogger("test"));
  assertEquals(await waiting.readCheckpoint(), 7);
  const error = await failure(waiting.readCheckpoint(), Error);
  assertIncludes(error.message, "ECONNREFUSED");
  assertEquals(calls(), 2);
});

Deno.test("both addresses refused (an AggregateError without a message) still says why", () => {
  const both = new AggregateError([refused(), new Error("connect ECONNREFUSED ::1:5432")], "");
  assertEquals(
    causeText(both),
    "connect ECONNREFUSED 127.0.0.1:5432; connect ECONNREFUSED ::1:5432",
  );
});
