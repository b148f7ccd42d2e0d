/**
 * The rights each use of a SQL Server login needs, as data: docs/stores.md shows the scripts
 * rendered from it, and a test checks every text of the store against it.
 *
 * @module
 */

/** What a login is used for: each use needs its own rights. */
export type MssqlUse = "ingest" | "relay" | "operator" | "reset" | "migrate";

/** One grant a use needs: rights on a table (or, for `migrate`, on the database and schema). */
export interface MssqlGrant {
  /** What the login does with it. */
  readonly use: MssqlUse;
  /** The rights, as GRANT names them. */
  readonly rights: readonly string[];
  /** `OBJECT::dbo.Table`, `SCHEMA::dbo`, or null for the database. */
  readonly on: string | null;
}

/**
 * The rights each use of the SQL Server store needs, and no more: the feed lock and the
 * migration lock (`sp_getapplock`, `APPLOCK_MODE`) and `sys.databases` are open to every user of
 * the database. `ingest` is `run` without NATS; `relay` is what `run` adds with NATS_URL set;
 * `operator` is `status`, `parcel`, `rejected`; `reset` moves the checkpoint; `migrate` creates
 * and alters the tables (also `run` without --no-migrate on a database not yet migrated).
 * docs/stores.md shows {@link mssqlGrantScript} of this list; a test keeps them equal.
 */
export const MSSQL_GRANTS: readonly MssqlGrant[] = [
  { use: "ingest", rights: ["SELECT", "UPDATE"], on: "OBJECT::dbo.WorkerStates" },
  { use: "ingest", rights: ["SELECT", "INSERT", "UPDATE"], on: "OBJECT::dbo.ParcelStates" },
  { use: "ingest", rights: ["SELECT", "INSERT"], on: "OBJECT::dbo.RejectedEvents" },
  { use: "ingest", rights: ["SELECT"], on: "OBJECT::dbo.SchemaMigrations" },
  { use: "relay", rights: ["SELECT", "INSERT", "DELETE"], on: "OBJECT::dbo.OutboxEvents" },
  { use: "operator", rights: ["SELECT"], on: "OBJECT::dbo.WorkerStates" },
  { use: "operator", rights: ["SELECT"], on: "OBJECT::dbo.ParcelStates" },
  { use: "operator", rights: ["SELECT"], on: "OBJECT::dbo.RejectedEvents" },
  { use: "operator", rights: ["SELECT"], on: "OBJECT::dbo.SchemaMigrations" },
  { use: "reset", rights: ["SELECT", "UPDATE"], on: "OBJECT::dbo.WorkerStates" },
  { use: "migrate", rights: ["CREATE TABLE"], on: null },
  { use: "migrate", rights: ["ALTER", "SELECT", "INSERT", "UPDATE"], on: "SCHEMA::dbo" },
];

/**
 * The GRANT statements for `uses`, one right per statement, to a database user `principal`.
 * @example The grants of `reset`
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { mssqlGrantScript } from "./mssql_grants.ts";
 *
 * deepStrictEqual(
 *   mssqlGrantScript(["reset"], "scan_worker"),
 *   "GRANT SELECT ON OBJECT::dbo.WorkerStates TO [scan_worker];\n" +
 *     "GRANT UPDATE ON OBJECT::dbo.WorkerStates TO [scan_worker];",
 * );
 * ```
 */
export function mssqlGrantScript(uses: readonly MssqlUse[], principal: string): string {
  const user = `[${principal.replaceAll("]", "]]")}]`;
  return MSSQL_GRANTS.filter((g) => uses.includes(g.use))
    .flatMap((g) =>
      g.rights.map((right) => `GRANT ${right}${g.on === null ? "" : ` ON ${g.on}`} TO ${user};`)
    )
    .join("\n");
}
