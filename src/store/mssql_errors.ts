/**
 * How the SQL Server store sorts the errors of `mssql` and tedious (server error numbers and
 * severities, driver codes), and the database settings it refuses.
 *
 * @module
 */

import { CONNECT_TIMEOUT, type ErrorClass } from "./_call.ts";

/** The lowest compatibility level the store works at (OPENJSON needs 130: SQL Server 2016). */
export const MIN_COMPATIBILITY_LEVEL = 130;

/**
 * SQL Server error numbers worth retrying: deadlock victim, lock request timeout, the busy
 * migration lock (50001, raised by the store), the errors on Microsoft's transient-fault lists
 * (SqlClient's retry logic, Azure SQL): failover, throttling, a database not yet available; and
 * the on-premises failover and upgrade errors, which the severity rule would call permanent
 * (severity 14 or 16) though they pass within minutes: an availability-group or mirroring role
 * change (983, 976, 988, 956), a database in transition or not started yet (952, 941), a server
 * in script upgrade mode after a cumulative update or a container start (18401).
 * Login errors carry their number too (see `attachLoginError` in mssql_config.ts); tedious
 * itself retries a few of them (4060, 40613 …) before giving up. Client-side conditions
 * (timeouts, dropped sockets) come from tedious as codes, below, not as numbers.
 */
export const TRANSIENT_ERROR_NUMBERS: ReadonlySet<number> = new Set([
  941, // database cannot be opened because it is not started
  952, // database is in transition
  956, // mirrored database not yet synchronized with its partner
  976, // availability database not accessible for queries (data movement suspended)
  983, // availability replica not in the PRIMARY or SECONDARY role
  988, // database lacks a quorum of nodes for high availability
  1205, // deadlock victim
  1222, // lock request timeout
  4060, // cannot open database (during failover)
  4221, // login to read-secondary failed (replica not ready)
  10928, // resource limit reached
  10929, // resource limit: minimum guarantee
  18401, // login failed: server is in script upgrade mode
  40143, // the service has encountered an error processing your request
  40197, // service error processing the request (failover)
  40501, // service busy
  40540, // service encountered an error processing the request
  40613, // database unavailable
  49918, // not enough resources to process the request
  49919, // too many create or update operations
  49920, // too many operations in progress
  50001, // the migration lock is busy (scan-worker's own THROW)
]);

/**
 * Driver error codes (`mssql` and tedious) of a failed, dropped, closed or timed-out connection
 * or request; tedious reports a connection dropped mid-request as ECLOSE or EINVALIDSTATE.
 */
const TRANSIENT_CODES = new Set([
  "ESOCKET",
  "ECONNCLOSED",
  "ECONNRESET",
  "ETIMEOUT",
  "ECLOSE",
  "EINVALIDSTATE",
  "ENOCONN",
  "EINSTLOOKUP",
]);

/**
 * Sort an error from `mssql`. Known transient numbers and driver codes are transient. Any
 * other server error is sorted by its severity (the Database Engine's error severities):
 * 11–16 are errors the user must correct (syntax 102/156, invalid object 208, invalid column
 * 207, permission 229/230, truncation 2628/8152, constraint 547/2627, login failed 18456):
 * permanent; 17–21 are resource, software and fatal connection errors: transient; 22–24 mean a
 * damaged table, suspect integrity or a failed disk: permanent, for a person to look at.
 * Errors with neither a number nor a known code are unknown.
 * @example Sorting server errors
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { classifyMssqlError } from "./mssql_errors.ts";
 *
 * deepStrictEqual(classifyMssqlError({ number: 208, class: 16 }), {
 *   kind: "permanent",
 *   code: "error 208",
 * });
 * deepStrictEqual(classifyMssqlError({ number: 983, class: 14 }).kind, "transient");
 * ```
 */
export function classifyMssqlError(error: unknown): ErrorClass {
  const e = error as {
    number?: number;
    class?: number;
    code?: string;
    originalError?: { info?: { number?: number; class?: number } };
  };
  const number = e?.number ?? e?.originalError?.info?.number;
  const severity = e?.class ?? e?.originalError?.info?.class;
  if (typeof number === "number") {
    const code = `error ${number}`;
    if (TRANSIENT_ERROR_NUMBERS.has(number)) return { kind: "transient", code };
    const passing = typeof severity === "number" && severity >= 17 && severity <= 21;
    return { kind: passing ? "transient" : "permanent", code };
  }
  if (e?.code === "ETIMEOUT") {
    // A connection (login) or a request that ran out of its time: not retried at once.
    const connecting = (error as Error)?.name === "ConnectionError";
    return { kind: "transient", code: connecting ? CONNECT_TIMEOUT : e.code, slow: true };
  }
  if (typeof e?.code === "string" && TRANSIENT_CODES.has(e.code)) {
    return { kind: "transient", code: e.code };
  }
  if (e?.code === "EENCRYPT") return { kind: "permanent", code: e.code };
  return { kind: "unknown", code: null };
}

/** Whether an error from `mssql` is worth retrying. */
export function isTransientMssqlError(error: unknown): boolean {
  return classifyMssqlError(error).kind === "transient";
}

/**
 * Whether a connection failed because the server requires encryption and the client did not
 * offer it (tedious: EENCRYPT "Server requires encryption").
 */
export function requiresEncryption(error: unknown): boolean {
  const e = error as { code?: string; message?: string; originalError?: { code?: string } };
  const code = e?.code ?? e?.originalError?.code;
  return code === "EENCRYPT" && /requires encryption/i.test(e?.message ?? "");
}

export function isMissingObject(error: unknown): boolean {
  return (error as { number?: number })?.number === 208;
}

/**
 * The one line that says a database's compatibility level is too low, and how to raise it.
 * @example Level 120 is refused, 130 is fine
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { compatibilityProblem } from "./mssql_errors.ts";
 *
 * ok(compatibilityProblem("Scan", 120)?.includes("SET COMPATIBILITY_LEVEL = 130"));
 * ok(compatibilityProblem("Scan", 130) === null);
 * ```
 */
export function compatibilityProblem(database: string, level: number): string | null {
  if (level >= MIN_COMPATIBILITY_LEVEL) return null;
  return `SQL Server database "${database}" is at compatibility level ${level}; scan-worker needs ${MIN_COMPATIBILITY_LEVEL} or higher (for OPENJSON). Raise it with: ALTER DATABASE [${
    database.replaceAll("]", "]]")
  }] SET COMPATIBILITY_LEVEL = ${MIN_COMPATIBILITY_LEVEL};`;
}
