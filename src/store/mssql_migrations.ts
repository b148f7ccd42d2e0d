/**
 * The SQL Server migrations, embedded in the program (text imports of `sql/mssql/`), and how long
 * `migrate` may wait for the migration lock.
 *
 * @module
 */

import init from "../../sql/mssql/001_init.sql" with { type: "text" };
import typeLength from "../../sql/mssql/002_type_length.sql" with { type: "text" };
import outbox from "../../sql/mssql/003_outbox.sql" with { type: "text" };
import readIndexes from "../../sql/mssql/004_read_indexes.sql" with { type: "text" };
import late from "../../sql/mssql/005_late_events.sql" with { type: "text" };
import outboxTraceparent from "../../sql/mssql/006_outbox_traceparent.sql" with { type: "text" };
import { defineMigrations, type Migration } from "./migrate.ts";

/** The SQL Server migrations, embedded in the program. */
export const MSSQL_MIGRATIONS: readonly Migration[] = defineMigrations({
  "001_init.sql": init,
  "002_type_length.sql": typeLength,
  "003_outbox.sql": outbox,
  "004_read_indexes.sql": readIndexes,
  "005_late_events.sql": late,
  "006_outbox_traceparent.sql": outboxTraceparent,
}, {
  // The checksum of 001 before its header comment was corrected (supported versions, no spec link).
  "001_init.sql": ["1edd597944a98c7835588fde272eb8951550e355a9f3058bed282cceca04237b"],
});

/**
 * How long the migration lock may be waited for with a given request timeout: below it, so the
 * server's answer ("busy", retried) comes before the client gives up on the request. A request
 * timeout of 0 (none) waits 60 s.
 * @example Below the request timeout
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { migrationLockTimeoutMs } from "./mssql_migrations.ts";
 *
 * deepStrictEqual(migrationLockTimeoutMs(30_000), 25_000);
 * deepStrictEqual(migrationLockTimeoutMs(0), 60_000);
 * ```
 */
export function migrationLockTimeoutMs(requestTimeoutMs: number): number {
  if (requestTimeoutMs <= 0) return 60_000;
  return requestTimeoutMs - Math.min(5000, Math.ceil(requestTimeoutMs / 2));
}
