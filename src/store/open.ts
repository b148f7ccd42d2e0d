/**
 * Pick and open the store that `DATABASE_URL` names (SPEC §4). Server drivers are loaded only
 * when chosen, so the embedded store starts without them.
 *
 * @module
 */

import type { DatabaseTarget } from "../config.ts";
import type { Store } from "./store.ts";

/**
 * Open the store for a database target; `readOnly` for commands that only look.
 * @throws ConfigError for a connection string that cannot work.
 */
export async function openStore(
  target: DatabaseTarget,
  options: { readOnly?: boolean } = {},
): Promise<Store> {
  switch (target.kind) {
    case "sqlite": {
      const { SqliteStore } = await import("./sqlite.ts");
      return new SqliteStore(target.path, options);
    }
    case "mssql": {
      const { mssqlConfig } = await import("./mssql_config.ts");
      const config = mssqlConfig(target.url);
      const { MssqlStore } = await import("./mssql.ts");
      return new MssqlStore(config);
    }
    case "postgres": {
      const { PostgresStore } = await import("./postgres.ts");
      return new PostgresStore({ connectionString: target.url });
    }
  }
}
