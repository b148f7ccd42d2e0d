/**
 * The SQL Server schema: the migrations recorded as applied, the compatibility level check, and
 * applying pending migrations in one transaction under an application lock.
 *
 * @module
 */

// @ts-types="npm:@types/mssql@^12.3.0"
import sql from "mssql";
import { UnsupportedDatabaseError } from "../errors.ts";
import { pendingMigrations } from "./migrate.ts";
import { compatibilityProblem } from "./mssql_errors.ts";
import { migrationLockTimeoutMs, MSSQL_MIGRATIONS } from "./mssql_migrations.ts";
import { fromSqlTime, MSSQL_SQL, sendText } from "./mssql_sql.ts";
import type { AppliedMigration } from "./store.ts";

/** The migrations recorded as applied. */
export async function appliedMigrations(request: sql.Request): Promise<AppliedMigration[]> {
  const result = await sendText(request)<
    { version: number; name: string; checksum: string; appliedAtUtc: string }
  >("appliedMigrations");
  return result.recordset.map((row) => ({
    ...row,
    appliedAtUtc: fromSqlTime(row.appliedAtUtc) ?? "",
  }));
}

/**
 * Fail with {@link UnsupportedDatabaseError} when the database's compatibility level is below
 * 130 (OPENJSON would fail every page with error 208). Returns true when it is supported (a store checks once).
 */
export async function checkCompatibility(pool: sql.ConnectionPool): Promise<true> {
  const result = await sendText(pool.request())<
    { compatibilityLevel: number; databaseName: string }
  >("compatibilityLevel");
  const row = result.recordset[0];
  if (row === undefined) {
    throw new UnsupportedDatabaseError(
      "could not read this database's compatibility level from sys.databases; scan-worker needs 130 or higher (for OPENJSON)",
    );
  }
  const problem = compatibilityProblem(row.databaseName, Number(row.compatibilityLevel));
  if (problem !== null) throw new UnsupportedDatabaseError(problem);
  return true;
}

/**
 * Apply the pending migrations in one transaction holding the migration lock, which is waited for
 * a little less than a request may take (`requestTimeoutMs`); returns what was applied.
 */
export async function applyMigrations(
  pool: sql.ConnectionPool,
  requestTimeoutMs: number,
): Promise<AppliedMigration[]> {
  const transaction = new sql.Transaction(pool);
  await transaction.begin();
  try {
    await sendText(
      new sql.Request(transaction).input(
        "lockTimeoutMs",
        sql.Int,
        migrationLockTimeoutMs(requestTimeoutMs),
      ),
    )("takeMigrationLock");
    await new sql.Request(transaction).batch(MSSQL_SQL.migrationsTable);
    const pending = pendingMigrations(
      MSSQL_MIGRATIONS,
      await appliedMigrations(new sql.Request(transaction)),
    );
    const applied: AppliedMigration[] = [];
    for (const m of pending) {
      await new sql.Request(transaction).batch(m.sql);
      const row = await sendText(
        new sql.Request(transaction)
          .input("version", sql.Int, m.version)
          .input("name", sql.NVarChar(200), m.name)
          .input("checksum", sql.Char(64), m.checksum),
      )<{ appliedAtUtc: string }>("recordMigration");
      applied.push({
        version: m.version,
        name: m.name,
        checksum: m.checksum,
        appliedAtUtc: fromSqlTime(row.recordset[0]?.appliedAtUtc ?? null) ?? "",
      });
    }
    await transaction.commit();
    return applied;
  } catch (error) {
    await transaction.rollback().catch(() => {});
    throw error;
  }
}
