/**
 * PostgreSQL migrations: pending ones applied in one transaction under a transaction-level
 * advisory lock, so two instances starting at once apply each migration once.
 *
 * @module
 */

import type { AppliedMigration } from "./store.ts";
import { pendingMigrations } from "./migrate.ts";
import {
  MIGRATION_LOCK,
  MIGRATIONS_TABLE,
  POSTGRES_MIGRATIONS,
  POSTGRES_SQL,
} from "./postgres_sql.ts";
import type { PostgresPool } from "./postgres_pool.ts";

/** Whether an error is PostgreSQL's "undefined table" (SQLSTATE 42P01). */
export function isMissingTable(error: unknown): boolean {
  return (error as { code?: string })?.code === "42P01";
}

/** Apply the pending migrations through `db`; returns what was applied (none when up to date). */
export async function migratePostgres(db: PostgresPool): Promise<AppliedMigration[]> {
  // An up-to-date schema needs no DDL, nor the privilege to create tables: a login with
  // only SELECT, INSERT and UPDATE can start `run` without --no-migrate.
  const current = await db.applied(db.pool).catch((error) => {
    if (isMissingTable(error)) return null;
    throw error;
  });
  if (current !== null && pendingMigrations(POSTGRES_MIGRATIONS, current).length === 0) {
    return [];
  }
  const client = await db.pool.connect();
  try {
    await client.query("BEGIN");
    await client.query(MIGRATION_LOCK);
    await client.query(MIGRATIONS_TABLE);
    const pending = pendingMigrations(POSTGRES_MIGRATIONS, await db.applied(client));
    const applied: AppliedMigration[] = [];
    for (const m of pending) {
      await client.query(m.sql);
      const row = await client.query<{ appliedAtUtc: string }>(
        POSTGRES_SQL.recordMigration,
        [m.version, m.name, m.checksum],
      );
      applied.push({
        version: m.version,
        name: m.name,
        checksum: m.checksum,
        appliedAtUtc: row.rows[0]?.appliedAtUtc ?? "",
      });
    }
    await client.query("COMMIT");
    return applied;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}
