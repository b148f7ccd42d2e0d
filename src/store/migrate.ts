/**
 * Migrations as data: the SQL files embedded in the program, their checksums, and the pure
 * check of what a database has applied against what the program knows.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { type AppliedMigration } from "./store.ts";
import { MigrationError, SchemaMissingError } from "../errors.ts";

/** One migration file, embedded in the program. */
export interface Migration {
  /** From the file name: `003_add_index.sql` → 3. */
  readonly version: number;
  /** From the file name: `003_add_index.sql` → `add_index`. */
  readonly name: string;
  /** The SQL text. */
  readonly sql: string;
  /** SHA-256 of the SQL text, hex. */
  readonly checksum: string;
  /**
   * Checksums of earlier texts of this file that differ from it in comments only (recorded by
   * databases migrated before the comment was corrected): accepted as this migration.
   */
  readonly earlier?: readonly string[];
}

const FILE_NAME = /^(\d{3})_([a-z0-9_]+)\.sql$/;

/** SHA-256 of a text, hex. */
export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/**
 * Turn `{ "001_init.sql": "CREATE …" }` into an ordered list of migrations; `earlier` names, per
 * file, the checksums of its earlier comment-only variants (see {@link Migration.earlier}).
 * @throws MigrationError on a bad file name or a repeated version.
 */
export function defineMigrations(
  files: Readonly<Record<string, string>>,
  earlier: Readonly<Record<string, readonly string[]>> = {},
): Migration[] {
  const migrations = Object.entries(files).map(([file, sql]) => {
    const match = FILE_NAME.exec(file);
    if (match === null) {
      throw new MigrationError(`migration file name ${file} is not NNN_name.sql`);
    }
    const checksum = sha256Hex(sql);
    return {
      version: Number(match[1]),
      name: match[2] ?? "",
      sql,
      checksum,
      earlier: earlier[file],
    };
  }).sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new MigrationError(
        `migration versions must run 1, 2, 3…; found ${m.version} at ${i + 1}`,
      );
    }
  });
  return migrations;
}

/**
 * The migrations still to apply, after checking that every applied one is known and unchanged.
 * @throws MigrationError when an applied migration was edited or is unknown to this program.
 */
export function pendingMigrations(
  known: readonly Migration[],
  applied: readonly Pick<AppliedMigration, "version" | "name" | "checksum">[],
): Migration[] {
  const byVersion = new Map(known.map((m) => [m.version, m]));
  for (const row of applied) {
    const migration = byVersion.get(row.version);
    if (migration === undefined) {
      throw new MigrationError(
        `the database has migration ${row.version} (${row.name}) that this program does not know; it was migrated by a newer scan-worker`,
      );
    }
    if (migration.checksum !== row.checksum && !migration.earlier?.includes(row.checksum)) {
      throw new MigrationError(
        `migration ${
          String(row.version).padStart(3, "0")
        }_${migration.name}.sql was edited after it was applied (checksum ${
          row.checksum.slice(0, 12)
        }… in the database, ${
          migration.checksum.slice(0, 12)
        }… in this program); restore it and add a new migration instead`,
      );
    }
  }
  const done = new Set(applied.map((row) => row.version));
  return known.filter((m) => !done.has(m.version));
}

/**
 * Check that the database has every migration this program knows, unchanged.
 * @throws SchemaMissingError naming the first migration not applied.
 * @throws MigrationError when an applied migration was edited or is unknown to this program.
 */
export function requireMigrated(
  known: readonly Migration[],
  applied: readonly Pick<AppliedMigration, "version" | "name" | "checksum">[],
): void {
  const pending = pendingMigrations(known, applied);
  if (pending.length > 0) {
    throw new SchemaMissingError(`migration ${pending[0]?.version} is not applied`);
  }
}
