import { assertEquals } from "../helpers/assert.ts";
import { projectPage } from "../../src/domain/project.ts";
import { MSSQL_MIGRATIONS } from "../../src/store/mssql.ts";
import { migrationLockTimeoutMs } from "../../src/store/mssql_migrations.ts";
import {
  classifyMssqlError,
  compatibilityProblem,
  isTransientMssqlError,
  requiresEncryption,
} from "../../src/store/mssql_errors.ts";
import { pageDocument } from "../../src/store/page_document.ts";
import { renderInitDb } from "../../scripts/init_db.ts";
import { fromSqlTime, MSSQL_SQL, mssqlTime } from "../../src/store/mssql_sql.ts";
import { MAX_STORED_TYPE_LENGTH } from "../../src/domain/validate.ts";

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
  const document = pageDocument(result, mssqlTime);
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
    n: 0,
    e: 3,
    why: "Type is empty",
    raw: '{"EventId":3,"ParcelId":8,"Type":"","CreatedDateTimeUtc":"2021-05-11T21:11:34Z"}',
  }]);
});

Deno.test("datetime2 text read back with style 121 becomes docs/rules.md §3.5 text", () => {
  assertEquals(fromSqlTime("2021-05-11 21:11:34.1506147"), "2021-05-11T21:11:34.1506147Z");
  assertEquals(fromSqlTime(null), null);
});

Deno.test("deadlocks, lock timeouts, failovers and dropped connections are transient", () => {
  assertEquals(isTransientMssqlError({ number: 1205, class: 13 }), true);
  assertEquals(isTransientMssqlError({ number: 1222, class: 16 }), true);
  assertEquals(isTransientMssqlError({ originalError: { info: { number: 40613 } } }), true);
  assertEquals(isTransientMssqlError({ code: "ESOCKET" }), true);
  assertEquals(isTransientMssqlError({ number: 2627, class: 14 }), false); // duplicate key
  assertEquals(isTransientMssqlError({ number: 208, class: 16 }), false); // invalid object name
  assertEquals(isTransientMssqlError(new Error("x")), false);
});

Deno.test("a connection dropped mid-request (ECLOSE, EINVALIDSTATE) is transient", () => {
  for (const code of ["ECLOSE", "EINVALIDSTATE", "ECONNCLOSED", "ESOCKET"]) {
    assertEquals(classifyMssqlError({ code, name: "RequestError" }), { kind: "transient", code });
  }
});

Deno.test("a timed-out login or request is transient but not retried at once", () => {
  const connect = Object.assign(new Error("Failed to connect to db:1433 in 15000ms"), {
    name: "ConnectionError",
    code: "ETIMEOUT",
  });
  assertEquals(classifyMssqlError(connect), {
    kind: "transient",
    code: "connect timeout",
    slow: true,
  });
  const request = Object.assign(new Error("Timeout: Request failed to complete in 30000ms"), {
    name: "RequestError",
    code: "ETIMEOUT",
  });
  assertEquals(classifyMssqlError(request), { kind: "transient", code: "ETIMEOUT", slow: true });
});

Deno.test("the busy migration lock (50001) is transient; other lock failures are not", () => {
  assertEquals(classifyMssqlError({ number: 50001, class: 16 }), {
    kind: "transient",
    code: "error 50001",
  });
  assertEquals(classifyMssqlError({ number: 50003, class: 16 }).kind, "permanent");
});

Deno.test("errors the user must correct (severity 11-16) are permanent, by their number", () => {
  for (
    const [number, what] of [
      [102, "incorrect syntax"],
      [156, "incorrect syntax near a keyword (AS checkpoint)"],
      [207, "invalid column name"],
      [208, "invalid object name"],
      [229, "permission denied on an object"],
      [230, "permission denied on a column"],
      [2628, "string or binary data would be truncated"],
      [8152, "string or binary data would be truncated (before 2019)"],
      [547, "constraint conflict"],
      [2627, "duplicate key"],
    ] as const
  ) {
    const severity = number === 2627 ? 14 : 16;
    assertEquals(
      classifyMssqlError({ number, class: severity, code: "EREQUEST" }),
      { kind: "permanent", code: `error ${number}` },
      what,
    );
  }
  // The driver's wrapper keeps the server's number on originalError.info.
  assertEquals(
    classifyMssqlError({ code: "EREQUEST", originalError: { info: { number: 229, class: 14 } } }),
    { kind: "permanent", code: "error 229" },
  );
});

Deno.test("resource and system errors (severity 17-21) are transient", () => {
  assertEquals(classifyMssqlError({ number: 701, class: 17 }).kind, "transient"); // out of memory
  assertEquals(classifyMssqlError({ number: 9002, class: 17 }).kind, "transient"); // log full
  assertEquals(classifyMssqlError({ number: 596, class: 21 }).kind, "transient"); // session killed
  assertEquals(classifyMssqlError({ number: 40143, class: 16 }).kind, "transient"); // Azure
});

Deno.test("a damaged table, suspect integrity or a failed disk (severity 22-24) is permanent", () => {
  assertEquals(classifyMssqlError({ number: 824, class: 24 }), {
    kind: "permanent",
    code: "error 824",
  });
  assertEquals(classifyMssqlError({ number: 8966, class: 22 }).kind, "permanent");
});

Deno.test("a server that requires encryption is told apart from other encryption errors", () => {
  assertEquals(
    requiresEncryption({
      code: "EENCRYPT",
      message: "Server requires encryption, set 'encrypt' config option to `true`.",
    }),
    true,
  );
  assertEquals(
    requiresEncryption({ code: "EENCRYPT", message: "Server did not negotiate encryption" }),
    false,
  );
  assertEquals(requiresEncryption({ code: "ESOCKET", message: "requires encryption" }), false);
});

Deno.test("errors that are not the database's are unknown, not permanent", () => {
  assertEquals(classifyMssqlError(new TypeError("x")), { kind: "unknown", code: null });
  assertEquals(classifyMssqlError({ code: "ELOGIN" }), { kind: "unknown", code: null });
});

Deno.test("a database below compatibility level 130 is refused with how to raise it", () => {
  assertEquals(compatibilityProblem("ScanWorkerDb", 130), null);
  assertEquals(compatibilityProblem("ScanWorkerDb", 160), null);
  assertEquals(
    compatibilityProblem("Scan]Db", 120),
    'SQL Server database "Scan]Db" is at compatibility level 120; scan-worker needs 130 or higher (for OPENJSON). Raise it with: ALTER DATABASE [Scan]]Db] SET COMPATIBILITY_LEVEL = 130;',
  );
});

Deno.test("the migration lock is waited for less long than a request may take", () => {
  assertEquals(migrationLockTimeoutMs(30_000), 25_000);
  assertEquals(migrationLockTimeoutMs(4_000), 2_000);
  assertEquals(migrationLockTimeoutMs(0), 60_000);
  for (const timeout of [1, 100, 1000, 15_000, 30_000, 120_000]) {
    const wait = migrationLockTimeoutMs(timeout);
    assertEquals(wait < timeout && wait >= 0, true, `request timeout ${timeout}`);
  }
  assertEquals(MSSQL_SQL.takeMigrationLock.includes("@LockTimeout = @lockTimeoutMs"), true);
});

Deno.test("Type is sized for the longest stored Type in the table, the batch and the migration", () => {
  assertEquals(MAX_STORED_TYPE_LENGTH, 150);
  const sized = (text: string) => [...text.matchAll(/\bType +nvarchar\((\d+)\)/g)].map((m) => m[1]);
  assertEquals(sized(MSSQL_SQL.applyPage), ["150", "150"]);
  const latest = MSSQL_MIGRATIONS.map((m) => sized(m.sql)).flat().at(-1);
  assertEquals(latest, "150");
  assertEquals(
    MSSQL_MIGRATIONS.find((m) => m.name === "type_length")?.sql.includes(
      "ALTER COLUMN Type nvarchar(150) NOT NULL",
    ),
    true,
  );
});

Deno.test("rejections are compared byte for byte, inserted in page order, reported back", () => {
  assertEquals(
    /x\.Payload = j\.Payload COLLATE Latin1_General_100_BIN2/.test(MSSQL_SQL.applyPage),
    true,
  );
  assertEquals(
    /DATALENGTH\(x\.Payload\) = DATALENGTH\(j\.Payload\)/.test(MSSQL_SQL.applyPage),
    true,
  );
  assertEquals(/FROM @r AS r\s+ORDER BY r\.n;/.test(MSSQL_SQL.applyPage), true);
  assertEquals(
    /\(SELECT r\.n FROM @r AS r ORDER BY r\.n FOR JSON PATH\) AS stored/.test(MSSQL_SQL.applyPage),
    true,
  );
});

/**
 * Table → "column type" lines of the tables a SQL text leaves: each CREATE TABLE, less those
 * dropped after, under the name an `sp_rename` gives them.
 */
function declaredColumns(text: string): Record<string, string[]> {
  const tables: Record<string, string[]> = {};
  const statements =
    /CREATE TABLE (dbo\.\w+) \(([\s\S]*?)\n\);|DROP TABLE (dbo\.\w+);|EXEC sp_rename N'(dbo\.\w+)', N'(\w+)';/g;
  for (const match of text.matchAll(statements)) {
    const [, table, body = "", dropped, from, to] = match;
    if (table !== undefined) {
      tables[table] = body.split("\n")
        .map((line) => line.trim())
        .filter((line) => /^[A-Z]\w* +(bigint|int|nvarchar|char|datetime2)/.test(line))
        .map((line) => line.replace(/ +/g, " ").replace(/,$/, ""));
    } else if (dropped !== undefined) {
      delete tables[dropped];
    } else if (from !== undefined && to !== undefined) {
      tables[`dbo.${to}`] = tables[from] ?? [];
      delete tables[from];
    }
  }
  return tables;
}

Deno.test("init-db.sql is the migrations, rendered: same file, same tables and columns", async () => {
  const file = await Deno.readTextFile(new URL("../../init-db.sql", import.meta.url));
  assertEquals(file, renderInitDb(), "init-db.sql is stale: run `deno task init-db`");

  const fromMigrations = declaredColumns(
    [MSSQL_SQL.migrationsTable, ...MSSQL_MIGRATIONS.map((m) => m.sql)].join("\n"),
  );
  const fromFile = declaredColumns(file);
  assertEquals(fromFile, fromMigrations);
  assertEquals(Object.keys(fromFile).sort(), [
    "dbo.OutboxEvents",
    "dbo.ParcelStates",
    "dbo.RejectedEvents",
    "dbo.SchemaMigrations",
    "dbo.WorkerStates",
  ]);
  assertEquals(fromFile["dbo.OutboxEvents"]?.map((c) => c.split(" ")[0]), [
    "Seq",
    "EventId",
    "Subject",
    "Body",
    "CreatedAtUtc",
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

Deno.test("no migration holds a GO line: the store sends each file as one batch", () => {
  for (const m of MSSQL_MIGRATIONS) {
    assertEquals(/^\s*GO\s*$/im.test(m.sql), false, `migration ${m.version} ${m.name}`);
  }
});

Deno.test("every OPENJSON path is strict: a key that stops matching fails the page, never writes NULL", () => {
  for (const [name, text] of Object.entries(MSSQL_SQL)) {
    const paths = [...text.matchAll(/'((?:strict |lax )?\$[^']*)'/g)].map((m) => m[1] ?? "");
    for (const path of paths) assertEquals(path.startsWith("strict $."), true, `${name}: ${path}`);
  }
  for (const path of ["'strict $.e'", "'strict $.s'", "'strict $.b'"]) {
    assertEquals(MSSQL_SQL.applyPageWithOutbox.includes(path), true, path);
  }
  assertEquals(MSSQL_SQL.applyPage.includes("'strict $.raw'"), true);
});

Deno.test("the page document carries every key, null included, so strict paths find each one", () => {
  const result = projectPage(0, [
    { EventId: 1, ParcelId: 7, Type: "STATUS", CreatedDateTimeUtc: "2021-05-11T21:11:34Z" },
    { EventId: 2, ParcelId: 8, Type: "", CreatedDateTimeUtc: "2021-05-11T21:11:34Z" },
  ]);
  const document = pageDocument(result, mssqlTime);
  const changes = JSON.parse(document.changes) as Record<string, unknown>[];
  for (const key of ["p", "e", "t", "s", "r", "c", "pe", "pt", "de", "dt"]) {
    assertEquals(key in (changes[0] ?? {}), true, key);
  }
  const rejections = JSON.parse(document.rejections) as Record<string, unknown>[];
  for (const key of ["n", "e", "why", "raw"]) {
    assertEquals(key in (rejections[0] ?? {}), true, key);
  }
});

Deno.test("with the outbox off the page batch touches neither OutboxEvents nor the relay's cursor", () => {
  assertEquals(/OutboxEvents|@relayId|@outbox\b/.test(MSSQL_SQL.applyPage), false);
  assertEquals(MSSQL_SQL.applyPageWithOutbox.includes("INSERT INTO dbo.OutboxEvents"), true);
  assertEquals(MSSQL_SQL.applyPageWithOutbox.includes("@relayId"), true);
});

Deno.test("the supported servers are said once: SQL Server 2016+ (level 130) everywhere", async () => {
  const files = ["src/store/mssql.ts", "sql/mssql/001_init.sql", "init-db.sql", "docs/stores.md"];
  for (const file of files) {
    const text = await Deno.readTextFile(new URL(`../../${file}`, import.meta.url));
    assertEquals(/SQL Server 2017\+|2017 or later/.test(text), false, file);
    assertEquals(/SQL Server 2016(\+| or later)/.test(text), true, file);
  }
});
