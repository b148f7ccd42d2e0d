/**
 * Pick and open the store that `DATABASE_URL` names (docs/rules.md §4). Server drivers are loaded only
 * when chosen, so the embedded store starts without them.
 *
 * @module
 */

import type { DatabaseConfig } from "../config.ts";
import type { Store, StoreOptions } from "./store.ts";

/**
 * Open the store `DATABASE_URL` names; `readOnly` for commands that only look, `outbox` when
 * accepted events go downstream. Server stores bound each connection by `DB_CONNECT_TIMEOUT_MS`.
 * @throws ConfigError for a connection string that cannot work.
 */
export async function openStore(
  config: Pick<DatabaseConfig, "database" | "connectTimeoutMs">,
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
      return new MssqlStore(mssqlConfig(target.url, config.connectTimeoutMs), undefined, options);
    }
    case "postgres": {
      const { PostgresStore } = await import("./postgres.ts");
      return new PostgresStore(
        { connectionString: target.url, connectionTimeoutMillis: config.connectTimeoutMs },
        undefined,
        options,
      );
    }
  }
}
