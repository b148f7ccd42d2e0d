/**
 * Pick and open the store that `DATABASE_URL` names (SPEC §4).
 *
 * @module
 */

import { ConfigError, type DatabaseTarget } from "../config.ts";
import { SqliteStore } from "./sqlite.ts";
import type { Store } from "./store.ts";

/**
 * Open the store for a database target; `readOnly` for commands that only look.
 * @throws ConfigError for a store this build does not include yet.
 */
export function openStore(target: DatabaseTarget, options: { readOnly?: boolean } = {}): Store {
  switch (target.kind) {
    case "sqlite":
      return new SqliteStore(target.path, options);
    case "postgres":
      throw new ConfigError(
        "DATABASE_URL (--db)",
        "the PostgreSQL store is not available in this version yet; use sqlite:PATH",
      );
    case "mssql":
      throw new ConfigError(
        "DATABASE_URL (--db)",
        "the SQL Server store is not available in this version yet; use sqlite:PATH",
      );
  }
}
