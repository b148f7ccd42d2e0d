/**
 * How the SQLite store sorts `node:sqlite`'s errors, and says why a file could not be opened.
 *
 * @module
 */

import type { ErrorClass, ErrorPolicy } from "./_call.ts";

/**
 * SQLite's result codes by the text `sqlite3_errstr()` gives each (node:sqlite reports only the
 * message), and whether retrying can help: BUSY and LOCKED (another connection holds a lock),
 * I/O errors, a full disk and low memory pass; the rest do not. A message that matches none is
 * SQLITE_ERROR: a syntax error, a missing table or column.
 */
const SQLITE_RESULT_CODES: readonly [string, RegExp, "transient" | "permanent"][] = [
  ["SQLITE_BUSY", /^database is locked/, "transient"],
  ["SQLITE_LOCKED", /^database table is locked/, "transient"],
  ["SQLITE_IOERR", /^disk I\/O error/, "transient"],
  ["SQLITE_FULL", /^database or disk is full/, "transient"],
  ["SQLITE_NOMEM", /^out of memory/, "transient"],
  ["SQLITE_PROTOCOL", /^locking protocol/, "transient"],
  ["SQLITE_SCHEMA", /^database schema has changed/, "transient"],
  ["SQLITE_READONLY", /^attempt to write a readonly database/, "permanent"],
  ["SQLITE_CANTOPEN", /^unable to open database file/, "permanent"],
  ["SQLITE_CORRUPT", /^database disk image is malformed/, "permanent"],
  ["SQLITE_NOTADB", /^file is not a database/, "permanent"],
  ["SQLITE_PERM", /^access permission denied/, "permanent"],
  ["SQLITE_AUTH", /^authorization denied/, "permanent"],
  ["SQLITE_TOOBIG", /^string or blob too big/, "permanent"],
  ["SQLITE_CONSTRAINT", /constraint failed/, "permanent"],
  ["SQLITE_MISMATCH", /^datatype mismatch/, "permanent"],
];

/**
 * Sort an error from `node:sqlite` by its result code; errors that do not come from SQLite are
 * `unknown`.
 * @example By result code
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { classifySqliteError } from "./sqlite_errors.ts";
 *
 * const busy = Object.assign(new Error("database is locked"), { code: "ERR_SQLITE_ERROR" });
 * deepStrictEqual(classifySqliteError(busy), { kind: "transient", code: "SQLITE_BUSY" });
 * deepStrictEqual(classifySqliteError(new Error("x")).kind, "unknown");
 * ```
 */
export function classifySqliteError(error: unknown): ErrorClass {
  if ((error as { code?: unknown })?.code !== "ERR_SQLITE_ERROR") {
    return { kind: "unknown", code: null };
  }
  const message = (error as Error).message ?? "";
  for (const [code, pattern, kind] of SQLITE_RESULT_CODES) {
    if (pattern.test(message)) return { kind, code };
  }
  return { kind: "permanent", code: "SQLITE_ERROR" };
}

/** The SQLite store's error policy: its name in messages, and how it sorts errors. */
export const SQLITE_ERRORS: ErrorPolicy = { store: "SQLite", classify: classifySqliteError };

/**
 * Why a database file could not be opened, in words an operator can act on: a missing file or
 * directory, a directory or file that cannot be written, or SQLite's own reason.
 */
export function whyNotOpened(path: string, readOnly: boolean, error: unknown): string {
  const reason = (error as Error)?.message ?? String(error);
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) || "/" : ".";
  const exists = (p: string) => {
    try {
      Deno.statSync(p);
      return true;
    } catch {
      return false;
    }
  };
  if (!exists(dir)) return `its directory ${dir} does not exist (${reason})`;
  if (!Deno.statSync(dir).isDirectory) return `${dir} is not a directory (${reason})`;
  if (!exists(path)) {
    if (readOnly) {
      return `the file does not exist; "migrate" or "run" creates it (${reason})`;
    }
    try {
      const probe = `${dir}/.scan-worker-write-check-${crypto.randomUUID()}`;
      Deno.writeTextFileSync(probe, "");
      Deno.removeSync(probe);
    } catch (probeError) {
      return `its directory ${dir} is read-only or not writable by this user (${
        (probeError as Error).message
      })`;
    }
  } else if (!readOnly && /readonly|read-only|unable to open/i.test(reason)) {
    return `the file or its directory ${dir} is read-only (SQLite needs to write the database and its -wal and -shm files beside it) (${reason})`;
  }
  return reason;
}
