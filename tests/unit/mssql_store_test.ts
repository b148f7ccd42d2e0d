import { assertEquals } from "../helpers/assert.ts";
import { projectPage } from "../../src/domain/project.ts";
import {
  fromSqlTime,
  isTransientMssqlError,
  MSSQL_MIGRATIONS,
  MSSQL_MIGRATIONS_TABLE,
  pageDocument,
  renderInitDb,
} from "../../src/store/mssql.ts";

Deno.test("the page document carries each parcel change once, times without the Z", () => {
  const result = projectPage(0, [
    { EventId: 1, ParcelId: 7, Type: "pickup", CreatedDateTimeUtc: "2021-05-11T21:11:34.1506147Z" },
    {
      EventId: 2,
      ParcelId: 7,
      Type: "STATUS",
      CreatedDateTimeUtc: "2021-05-12T09:00:00+12:00",
      StatusCode: 5,
      User: { RunId: "R'1" },
    },
    { EventId: 3, ParcelId: 8, Type: "", CreatedDateTimeUtc: "2021-05-11T21:11:34Z" },
  ]);
  const document = pageDocument(result);
  assertEquals(JSON.parse(document.changes), [{
    p: 7,
    e: 2,
    t: "STATUS",
    s: "5",
    r: "R'1",
    c: "2021-05-11T21:00:00.0000000",
    pe: 1,
    pt: "2021-05-11T21:11:34.1506147",
    de: null,
    dt: null,
  }]);
  assertEquals(JSON.parse(document.rejections), [{
    e: 3,
    why: "Type is empty",
    raw: '{"EventId":3,"ParcelId":8,"Type":"","CreatedDateTimeUtc":"2021-05-11T21:11:34Z"}',
  }]);
});

Deno.test("datetime2 text read back with style 121 becomes SPEC §3.5 text", () => {
  assertEquals(fromSqlTime("2021-05-11 21:11:34.1506147"), "2021-05-11T21:11:34.1506147Z");
  assertEquals(fromSqlTime(null), null);
});

Deno.test("deadlocks, lock timeouts, failovers and dropped connections are transient", () => {
  assertEquals(isTransientMssqlError({ number: 1205 }), true);
  assertEquals(isTransientMssqlError({ originalError: { info: { number: 40613 } } }), true);
  assertEquals(isTransientMssqlError({ code: "ESOCKET" }), true);
  assertEquals(isTransientMssqlError({ number: 2627 }), false); // duplicate key
  assertEquals(isTransientMssqlError({ number: 208 }), false); // invalid object name
  assertEquals(isTransientMssqlError(new Error("x")), false);
});

/** Table → "column type" lines of every CREATE TABLE in a SQL text. */
function declaredColumns(text: string): Record<string, string[]> {
  const tables: Record<string, string[]> = {};
  for (const match of text.matchAll(/CREATE TABLE (dbo\.\w+) \(([\s\S]*?)\n\);/g)) {
    const [, table = "", body = ""] = match;
    tables[table] = body.split("\n")
      .map((line) => line.trim())
      .filter((line) => /^[A-Z]\w* +(bigint|int|nvarchar|char|datetime2)/.test(line))
      .map((line) => line.replace(/ +/g, " ").replace(/,$/, ""));
  }
  return tables;
}

Deno.test("init-db.sql is the migrations, rendered: same file, same tables and columns", async () => {
  const file = await Deno.readTextFile(new URL("../../init-db.sql", import.meta.url));
  assertEquals(file, renderInitDb(), "init-db.sql is stale: run `deno task init-db`");

  const fromMigrations = declaredColumns(
    [MSSQL_MIGRATIONS_TABLE, ...MSSQL_MIGRATIONS.map((m) => m.sql)].join("\n"),
  );
  const fromFile = declaredColumns(file);
  assertEquals(fromFile, fromMigrations);
  assertEquals(Object.keys(fromFile).sort(), [
    "dbo.ParcelStates",
    "dbo.RejectedEvents",
    "dbo.SchemaMigrations",
    "dbo.WorkerStates",
  ]);
  assertEquals(fromFile["dbo.ParcelStates"]?.map((c) => c.split(" ")[0]), [
    "ParcelId",
    "LastEventId",
    "Type",
    "StatusCode",
    "RunId",
    "CreatedDateTimeUtc",
    "PickupEventId",
    "PickupTimeUtc",
    "DeliveryEventId",
    "DeliveryTimeUtc",
    "UpdatedAtUtc",
  ]);
  for (const m of MSSQL_MIGRATIONS) {
    assertEquals(file.includes(`'${m.checksum}'`), true, `checksum of migration ${m.version}`);
  }
});
