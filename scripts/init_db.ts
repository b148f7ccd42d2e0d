/**
 * `deno task init-db`: write `init-db.sql`, the complete SQL Server schema for DBAs, from the
 * embedded migrations. A test keeps the file in step with them.
 *
 * @module
 */

import { MSSQL_MIGRATIONS } from "../src/store/mssql.ts";
import { MIN_COMPATIBILITY_LEVEL } from "../src/store/mssql_errors.ts";
import { MSSQL_SQL } from "../src/store/mssql_sql.ts";

/**
 * The complete SQL Server schema for a DBA to run by hand (`init-db.sql`): the migrations table,
 * every migration, and the rows that record them as applied, so the worker finds nothing to do.
 */
export function renderInitDb(): string {
  const parts = [
    "-- scan-worker: the complete SQL Server schema (SQL Server 2016+, compatibility level 130+),",
    "-- for a DBA to run by hand in the target database, stopping at the first error:",
    "--   sqlcmd -b -S host -d ScanWorkerDb -i init-db.sql",
    "-- Generated from sql/mssql/*.sql by `deno task init-db`; do not edit by hand.",
    "-- The worker records these migrations as applied, so `scan-worker migrate` finds nothing to do.",
    "-- Each migration is one batch with its record: a batch that fails to compile runs nothing,",
    "-- and one that fails while running is rolled back whole (XACT_ABORT).",
    "",
    "SET XACT_ABORT ON;",
    `IF (SELECT compatibility_level FROM sys.databases WHERE name = DB_NAME()) < ${MIN_COMPATIBILITY_LEVEL}`,
    `    THROW 50004, N'scan-worker needs compatibility level ${MIN_COMPATIBILITY_LEVEL} or higher (for OPENJSON): ALTER DATABASE … SET COMPATIBILITY_LEVEL = ${MIN_COMPATIBILITY_LEVEL}', 1;`,
    "GO",
    "",
    MSSQL_SQL.migrationsTable,
    "GO",
  ];
  for (const m of MSSQL_MIGRATIONS) {
    parts.push(
      "",
      `-- ${String(m.version).padStart(3, "0")}_${m.name}.sql`,
      "BEGIN TRANSACTION;",
      m.sql.trimEnd(),
      "INSERT INTO dbo.SchemaMigrations (Version, Name, Checksum, AppliedAtUtc)",
      `VALUES (${m.version}, N'${m.name}', '${m.checksum}', SYSUTCDATETIME());`,
      "COMMIT TRANSACTION;",
      "GO",
    );
  }
  return parts.join("\n") + "\n";
}

if (import.meta.main) {
  const target = new URL("../init-db.sql", import.meta.url);
  await Deno.writeTextFile(target, renderInitDb());
  await Deno.stdout.write(new TextEncoder().encode(`wrote ${target.pathname}\n`));
}
