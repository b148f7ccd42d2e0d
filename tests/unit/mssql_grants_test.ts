/**
 * The SQL Server grants: docs/stores.md shows the script rendered from `MSSQL_GRANTS`, and every
 * text the store sends for a use touches only tables that use is granted.
 */
import { assertEquals } from "../helpers/assert.ts";
import { MSSQL_SQL, type MssqlText } from "../../src/store/mssql_sql.ts";
import { MSSQL_GRANTS, mssqlGrantScript, type MssqlUse } from "../../src/store/mssql_grants.ts";

/** The uses each text is sent for (the store's methods that send it). */
const TEXT_USES: Record<MssqlText, readonly MssqlUse[]> = {
  migrationsTable: ["migrate"],
  takeMigrationLock: ["migrate"],
  appliedMigrations: ["ingest", "operator", "migrate"],
  recordMigration: ["migrate"],
  compatibilityLevel: ["ingest", "operator", "migrate"],
  ping: ["ingest"],
  schemaVersion: ["ingest", "operator", "migrate"],
  readCheckpoint: ["ingest", "operator"],
  applyPage: ["ingest"],
  applyBatch: ["ingest"],
  applyPageWithOutbox: ["relay"],
  outboxAfter: ["relay"],
  readRelayCursor: ["relay"],
  commitRelay: ["relay"],
  outboxSeqOf: ["relay"],
  readLate: ["ingest", "operator"],
  outboxBacklog: ["relay"],
  status: ["operator"],
  takeFeedLock: ["ingest", "reset"],
  feedLockMode: ["ingest"],
  releaseFeedLock: ["ingest", "reset"],
  parcel: ["operator"],
  rejections: ["operator"],
  resetCheckpoint: ["reset"],
};

/** What a login of a use holds: `relay` runs beside `ingest`, `reset` beside `operator`. */
const HOLDS: Record<MssqlUse, readonly MssqlUse[]> = {
  ingest: ["ingest"],
  relay: ["ingest", "relay"],
  operator: ["operator"],
  reset: ["operator", "reset"],
  migrate: ["migrate"],
};

/** The (right, table) pairs a text needs, read from its statements. */
function needs(text: string): Set<string> {
  const found = new Set<string>();
  for (const m of text.matchAll(/INSERT INTO dbo\.(\w+)/g)) found.add(`INSERT ${m[1]}`);
  for (const m of text.matchAll(/DELETE FROM dbo\.(\w+)/g)) found.add(`DELETE ${m[1]}`);
  for (const m of text.matchAll(/UPDATE dbo\.(\w+)/g)) found.add(`UPDATE ${m[1]}`);
  for (const m of text.matchAll(/UPDATE (\w+) SET[\s\S]*?FROM dbo\.(\w+) AS \1\b/g)) {
    found.add(`UPDATE ${m[2]}`);
  }
  for (const m of text.matchAll(/(?<!DELETE )(?:FROM|JOIN) dbo\.(\w+)/g)) {
    found.add(`SELECT ${m[1]}`);
  }
  if (/CREATE TABLE dbo\./.test(text)) found.add("CREATE TABLE");
  return found;
}

/** The (right, table) pairs a use's login is granted. */
function granted(use: MssqlUse): Set<string> {
  const pairs = new Set<string>();
  for (const grant of MSSQL_GRANTS.filter((g) => HOLDS[use].includes(g.use))) {
    for (const right of grant.rights) {
      if (grant.on === null) pairs.add(right);
      const table = /^OBJECT::dbo\.(\w+)$/.exec(grant.on ?? "")?.[1];
      if (table !== undefined) pairs.add(`${right} ${table}`);
      if (grant.on === "SCHEMA::dbo") {
        for (const t of ["WorkerStates", "ParcelStates", "RejectedEvents", "OutboxEvents"]) {
          pairs.add(`${right} ${t}`);
        }
        pairs.add(`${right} SchemaMigrations`);
      }
    }
  }
  return pairs;
}

Deno.test("every text the store sends is covered by the grants of each use it is sent for", () => {
  for (const [name, text] of Object.entries(MSSQL_SQL) as [MssqlText, string][]) {
    for (const use of TEXT_USES[name]) {
      const missing = [...needs(text)].filter((pair) => !granted(use).has(pair));
      assertEquals(missing, [], `${name} for ${use}`);
    }
  }
});

Deno.test("ingesting without NATS needs no right on OutboxEvents; the relay needs DELETE on it", () => {
  assertEquals([...granted("ingest")].some((pair) => pair.endsWith("OutboxEvents")), false);
  assertEquals(granted("relay").has("DELETE OutboxEvents"), true);
});

Deno.test("the reading needs finds what a text does (the check above can fail)", () => {
  assertEquals(
    [...needs(MSSQL_SQL.commitRelay)].sort(),
    ["DELETE OutboxEvents", "SELECT WorkerStates", "UPDATE WorkerStates"],
  );
  assertEquals(needs(MSSQL_SQL.applyPage).has("UPDATE ParcelStates"), true);
});

Deno.test("docs/stores.md shows the grant script of each use, rendered from MSSQL_GRANTS", async () => {
  const text = await Deno.readTextFile(new URL("../../docs/stores.md", import.meta.url));
  const docs = text.replace(/^[ \t]+/gm, ""); // the scripts sit indented in a list
  for (const use of ["ingest", "relay", "operator", "reset", "migrate"] as const) {
    const script = mssqlGrantScript([use], "scan_worker");
    assertEquals(docs.includes(script), true, `docs/stores.md lacks the ${use} grants:\n${script}`);
  }
});
