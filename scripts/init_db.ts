/**
 * `deno task init-db`: write `init-db.sql`, the complete SQL Server schema for DBAs, from the
 * embedded migrations. A test keeps the file in step with them.
 *
 * @module
 */

import { MSSQL_MIGRATIONS } from "../src/store/mssql.ts";
import { MSSQL_SQL } from "../src/store/mssql_sql.ts";

/**
 * The complete SQL Server schema for a DBA to run by hand (`init-db.sql`): the migrations table,
 * every migration, and the rows that record them as applied, so the worker finds nothing to do.
 */
export function renderInitDb(): string {
  const parts = [
    "-- scan-worker: the complete SQL Server schema (SQL Server 2016+, compatibility level 130+),",
    "-- for a DBA to run by hand in the target database, e.g.",
    "-- sqlcmd -b -S host -d ScanWorkerDb -i init-db.sql.",
    "-- Generated from sql/mssql/*.sql by `deno task init-db`; do not edit by hand.",
    "-- The worker records these migrations as applied, so `scan-worker migrate` finds nothing to do.",
    "",
    "SET XACT_ABORT ON;",
    "GO",
    "",
    MSSQL_SQL.migrationsTable,
    "GO",
  ];
  for (const m of MSSQL_MIGRATIONS) {
    const file = `${String(m.version).padStart(3, "0")}_${m.name}.sql`;
    parts.push(
      "",
      `-- ${file}`,
      "BEGIN TRANSACTION;",
      "GO",
      m.sql.trimEnd(),
      "GO",
      "-- If the batch above failed, XACT_ABORT rolled it back: record nothing, stop here.",
      "IF @@TRANCOUNT = 0",
      `    THROW 50002, N'${file} failed and was rolled back; nothing was recorded', 1;`,
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
