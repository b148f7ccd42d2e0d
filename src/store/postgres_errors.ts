/**
 * How the PostgreSQL store sorts `pg`'s errors: by SQLSTATE class, and by the driver's own codes
 * and messages for errors without one.
 *
 * @module
 */

import { CONNECT_TIMEOUT, type ErrorClass } from "./_call.ts";

/**
 * SQLSTATE classes that name a passing condition (PostgreSQL's Appendix A): 08 connection
 * exception, 40 transaction rollback (serialization failure, deadlock), 53 insufficient
 * resources (too many connections, disk full, out of memory), 57 operator intervention (admin
 * or crash shutdown, cannot connect now), 58 system error (I/O).
 */
const TRANSIENT_CLASSES = new Set(["08", "40", "53", "57", "58"]);
/** Transient SQLSTATEs of other classes: lock_not_available, object_in_use. */
const TRANSIENT_SQLSTATES = new Set(["55P03", "55006"]);

/**
 * Sort an error from `pg`. A SQLSTATE in a transient class is transient; any other SQLSTATE
 * (42 syntax or permission, 22 data, 23 integrity, 28 authorization, 3D no such database, …)
 * is permanent. Errors without one are the connection's: refused, reset, timed out, DNS,
 * "Connection terminated" — transient.
 * @example By SQLSTATE class
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { classifyPostgresError } from "./postgres_errors.ts";
 *
 * deepStrictEqual(classifyPostgresError({ code: "42P01" }), {
 *   kind: "permanent",
 *   code: "SQLSTATE 42P01",
 * });
 * deepStrictEqual(classifyPostgresError({ code: "57P01" }).kind, "transient");
 * ```
 */
export function classifyPostgresError(error: unknown): ErrorClass {
  const code = (error as { code?: unknown })?.code;
  if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) {
    const transient = TRANSIENT_CLASSES.has(code.slice(0, 2)) || TRANSIENT_SQLSTATES.has(code);
    return { kind: transient ? "transient" : "permanent", code: `SQLSTATE ${code}` };
  }
  if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return { kind: "transient", code };
  const message = (error as Error)?.message ?? "";
  if (/due to connection timeout|timeout exceeded when trying to connect/i.test(message)) {
    return { kind: "transient", code: CONNECT_TIMEOUT, slow: true };
  }
  if (/client password must be a string/i.test(message)) {
    // pg's SCRAM exchange without a password: the server asks for one the URL does not give.
    return { kind: "permanent", code: "no password in DATABASE_URL" };
  }
  if (/Connection terminated|Client has encountered a connection error/i.test(message)) {
    return { kind: "transient", code: null };
  }
  return { kind: "unknown", code: null };
}
