import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { defineMigrations, pendingMigrations, sha256Hex } from "../../src/store/migrate.ts";
import { MigrationError } from "../../src/errors.ts";
import { MSSQL_MIGRATIONS } from "../../src/store/mssql.ts";

const files = { "002_more.sql": "CREATE TABLE b (x);", "001_init.sql": "CREATE TABLE a (x);" };

Deno.test("migrations are ordered by version with their checksums", () => {
  const migrations = defineMigrations(files);
  assertEquals(migrations.map((m) => [m.version, m.name]), [[1, "init"], [2, "more"]]);
  assertEquals(migrations[0]?.checksum, sha256Hex("CREATE TABLE a (x);"));
  assertEquals(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
});

Deno.test("bad file names and gaps are refused", () => {
  assertThrows(() => defineMigrations({ "init.sql": "" }), MigrationError, /NNN_name\.sql/);
  assertThrows(() => defineMigrations({ "002_x.sql": "" }), MigrationError, /1, 2, 3/);
});

Deno.test("only unapplied migrations are pending", () => {
  const migrations = defineMigrations(files);
  const applied = [{ version: 1, name: "init", checksum: sha256Hex("CREATE TABLE a (x);") }];
  assertEquals(pendingMigrations(migrations, applied).map((m) => m.version), [2]);
  assertEquals(pendingMigrations(migrations, []).map((m) => m.version), [1, 2]);
});

Deno.test("an edited applied migration stops with an error naming its file", () => {
  const migrations = defineMigrations(files);
  assertThrows(
    () => pendingMigrations(migrations, [{ version: 1, name: "init", checksum: "0".repeat(64) }]),
    MigrationError,
    /^migration 001_init\.sql was edited after it was applied/,
  );
});

Deno.test("a database migrated by a newer program is refused", () => {
  const migrations = defineMigrations(files);
  assertThrows(
    () => pendingMigrations(migrations, [{ version: 3, name: "future", checksum: "x" }]),
    MigrationError,
    /migration 3 \(future\) that this program does not know/,
  );
});

Deno.test("a migration whose comment was corrected accepts the checksum recorded before", () => {
  const before = "-- for SQL Server 2017+\nCREATE TABLE a (x);";
  const migrations = defineMigrations(
    { "001_init.sql": "-- for SQL Server 2016+\nCREATE TABLE a (x);" },
    { "001_init.sql": [sha256Hex(before)] },
  );
  const recorded = [{ version: 1, name: "init", checksum: sha256Hex(before) }];
  assertEquals(pendingMigrations(migrations, recorded), []);
  assertThrows(
    () => pendingMigrations(migrations, [{ version: 1, name: "init", checksum: sha256Hex("x") }]),
    MigrationError,
    /001_init\.sql was edited/,
  );
});

Deno.test("SQL Server's 001 accepts the checksum databases recorded before its header was corrected", () => {
  const first = MSSQL_MIGRATIONS[0];
  assertEquals(first?.earlier, [
    "1edd597944a98c7835588fde272eb8951550e355a9f3058bed282cceca04237b",
  ]);
  assertEquals(first?.sql.startsWith("-- scan-worker schema for SQL Server 2016+"), true);
});
