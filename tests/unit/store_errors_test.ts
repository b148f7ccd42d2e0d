/**
 * How the stores sort their drivers' errors into transient (retried) and permanent (the worker
 * stops): SQLite with errors raised by the real node:sqlite, PostgreSQL by SQLSTATE.
 */
import { DatabaseSync } from "node:sqlite";
import { assertEquals, assertRejects } from "../helpers/assert.ts";
import { classifySqliteError } from "../../src/store/sqlite_errors.ts";
import { classifyPostgresError } from "../../src/store/postgres_errors.ts";
import { isFatalStoreError } from "../../src/store/store.ts";
import { type ErrorClass, storeCall } from "../../src/store/_call.ts";
import { PermanentStoreError, SchemaMissingError } from "../../src/errors.ts";

/** The error node:sqlite raises for `work`. */
function sqliteError(work: () => void): unknown {
  try {
    work();
  } catch (error) {
    return error;
  }
  throw new Error("no error was raised");
}

Deno.test("SQLite: syntax errors, missing tables and constraints are permanent", () => {
  const db = new DatabaseSync(":memory:");
  try {
    db.exec("CREATE TABLE t (a INTEGER NOT NULL)");
    const permanent = { kind: "permanent" };
    for (
      const [sql, code] of [
        ["SELEC 1", "SQLITE_ERROR"],
        ["SELECT * FROM nowhere", "SQLITE_ERROR"],
        ["SELECT nothing FROM t", "SQLITE_ERROR"],
        ["INSERT INTO t VALUES (NULL)", "SQLITE_CONSTRAINT"],
      ]
    ) {
      assertEquals(classifySqliteError(sqliteError(() => db.exec(sql ?? ""))), {
        ...permanent,
        code,
      }, sql);
    }
  } finally {
    db.close();
  }
});

Deno.test("SQLite: a read-only database is permanent", () => {
  const dir = Deno.makeTempDirSync({ prefix: "scan-worker-errors-" });
  try {
    new DatabaseSync(`${dir}/x.db`).close();
    const db = new DatabaseSync(`${dir}/x.db`, { readOnly: true });
    assertEquals(classifySqliteError(sqliteError(() => db.exec("CREATE TABLE t (a)"))), {
      kind: "permanent",
      code: "SQLITE_READONLY",
    });
    db.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("SQLite: a database locked by another connection is transient", () => {
  const dir = Deno.makeTempDirSync({ prefix: "scan-worker-errors-" });
  const a = new DatabaseSync(`${dir}/x.db`);
  const b = new DatabaseSync(`${dir}/x.db`);
  try {
    a.exec("PRAGMA journal_mode = WAL; CREATE TABLE t (a)");
    a.exec("BEGIN IMMEDIATE");
    assertEquals(classifySqliteError(sqliteError(() => b.exec("BEGIN IMMEDIATE"))), {
      kind: "transient",
      code: "SQLITE_BUSY",
    });
    a.exec("ROLLBACK");
  } finally {
    a.close();
    b.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("SQLite: errors that are not SQLite's are unknown", () => {
  assertEquals(classifySqliteError(new TypeError("x")), { kind: "unknown", code: null });
  assertEquals(classifySqliteError(new SchemaMissingError("x")), { kind: "unknown", code: null });
});

Deno.test("PostgreSQL: connection, rollback, resource and shutdown classes are transient", () => {
  for (
    const code of ["08006", "08001", "40001", "40P01", "53300", "53100", "57P01", "57P03", "55P03"]
  ) {
    assertEquals(classifyPostgresError({ code }), {
      kind: "transient",
      code: `SQLSTATE ${code}`,
    });
  }
});

Deno.test("PostgreSQL: syntax, permission, data, integrity and auth classes are permanent", () => {
  for (
    const code of ["42601", "42P01", "42703", "42501", "22001", "22P02", "23505", "28P01", "3D000"]
  ) {
    assertEquals(classifyPostgresError({ code }), {
      kind: "permanent",
      code: `SQLSTATE ${code}`,
    });
  }
});

Deno.test("PostgreSQL: a refused, reset or ended connection is transient", () => {
  assertEquals(classifyPostgresError({ code: "ECONNREFUSED" }).kind, "transient");
  assertEquals(classifyPostgresError({ code: "ENOTFOUND" }).kind, "transient");
  assertEquals(
    classifyPostgresError(new Error("Connection terminated unexpectedly")).kind,
    "transient",
  );
  assertEquals(classifyPostgresError(new RangeError("x")), { kind: "unknown", code: null });
});

/** A classifier for the helper's tests: "T…" transient, "P…" permanent, else unknown. */
const LETTERS = {
  store: "Test",
  classify(error: unknown): ErrorClass {
    const message = (error as Error).message;
    if (message.startsWith("T")) return { kind: "transient", code: "T" };
    if (message.startsWith("P")) return { kind: "permanent", code: "P1" };
    return { kind: "unknown", code: null };
  },
};

Deno.test("a store call retries transient errors and names a permanent one", async () => {
  let calls = 0;
  const value = await storeCall(LETTERS, "reading", () => {
    calls++;
    return calls < 3 ? Promise.reject(new Error("T busy")) : Promise.resolve(42);
  });
  assertEquals([value, calls], [42, 3]);

  calls = 0;
  await assertRejects(
    storeCall(LETTERS, "writing page 4..6", () => {
      calls++;
      return Promise.reject(new Error("P no such table"));
    }),
    PermanentStoreError,
    /^Test P1 while writing page 4\.\.6: P no such table$/,
  );
  assertEquals(calls, 1);
  await assertRejects(
    storeCall(LETTERS, "x", () => Promise.reject(new Error("T busy")), 2),
    Error,
    /^T busy$/,
  );
  await assertRejects(
    storeCall(LETTERS, "x", () => Promise.reject(new SchemaMissingError("y"))),
    SchemaMissingError,
  );
});

Deno.test("permanent, schema and unsupported-database errors stop the worker; others do not", () => {
  assertEquals(isFatalStoreError(new PermanentStoreError("S", "c", "d", new Error("e"))), true);
  assertEquals(isFatalStoreError(new SchemaMissingError("x")), true);
  assertEquals(isFatalStoreError(new Error("database is locked")), false);
});
