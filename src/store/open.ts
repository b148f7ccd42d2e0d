/**
 * Pick and open the store that `DATABASE_URL` names (docs/rules.md §4). Server drivers are loaded only
 * when chosen, so the embedded store starts without them.
 *
 * @module
 */

import type { DatabaseConfig } from "../config.ts";
import { logger } from "../log.ts";
import type { Store, StoreOptions } from "./store.ts";
import { waitingAtStart } from "./_reach.ts";

/**
 * Open the store `DATABASE_URL` names; `readOnly` for commands that only look, `outbox` when
 * accepted events go downstream. Server stores bound each connection by `DB_CONNECT_TIMEOUT_MS`,
 * and wait that long in all for a database that is not up yet at start-up (see `_reach.ts`).
 * @throws ConfigError for a connection string that cannot work.
 */
export async function openStore(
  config: Pick<DatabaseConfig, "database" | "connectTimeoutMs" | "databaseForLog">,
  options: StoreOptions = {},
): Promise<Store> {
  const target = config.database;
  switch (target.kind) {
    case "sqlite": {
      const { SqliteStore } = await import("./sqlite.ts");
      return new SqliteStore(target.path, options);
    }
    case "mssql": {
      const { mssqlConfig } = await import("./mssql_config.ts");
      const { MssqlStore } = await import("./mssql.ts");
      const store = new MssqlStore(
        mssqlConfig(target.url, config.connectTimeoutMs),
        undefined,
        options,
      );
      return waitingAtStart(store, reachTarget("SQL Server", config), logger("store"));
    }
    case "postgres": {
      const { PostgresStore } = await import("./postgres.ts");
      const store = new PostgresStore(
        { connectionString: target.url, connectionTimeoutMillis: config.connectTimeoutMs },
        undefined,
        options,
      );
      return waitingAtStart(store, reachTarget("PostgreSQL", config), logger("store"));
    }
  }
}

/** What start-up waits for: the store, its masked URL, `DB_CONNECT_TIMEOUT_MS`. */
function reachTarget(
  store: string,
  config: Pick<DatabaseConfig, "connectTimeoutMs" | "databaseForLog">,
) {
  return { store, database: config.databaseForLog, timeoutMs: config.connectTimeoutMs };
}
