/**
 * Every T-SQL text the SQL Server store can send, parsed with the grammars-v4 T-SQL grammar by
 * the offline tool `tsql-syntax` (no SQL Server runs where the tests run): the texts of
 * `MSSQL_SQL`, the migration files, and init-db.sql. The texts are taken from the same table and
 * files the store uses; a source check makes sure the store sends nothing else.
 *
 * The tool lives outside the repository: `TSQL_SYNTAX_DIR`, or `../shared/tools/tsql-syntax`
 * beside the checkout (`.ci/run` finds it for CI). Where it is absent the test says so and is
 * skipped; with CI=true it fails instead.
 */
import { assertEquals, assertIncludes, assertOk } from "../helpers/assert.ts";
import { MSSQL_MIGRATIONS } from "../../src/store/mssql.ts";
import { renderInitDb } from "../../scripts/init_db.ts";
import { MSSQL_SQL } from "../../src/store/mssql_sql.ts";
import { mssqlGrantScript } from "../../src/store/mssql_grants.ts";

const ROOT = new URL("../../", import.meta.url);

function findTool(): string | null {
  const candidates = [
    Deno.env.get("TSQL_SYNTAX_DIR"),
    new URL("../shared/tools/tsql-syntax", ROOT).pathname,
  ];
  for (const dir of candidates) {
    if (dir === undefined || dir === "") continue;
    try {
      Deno.statSync(`${dir}/check.ts`);
      return `${dir}/check.ts`;
    } catch {
      // not here
    }
  }
  return null;
}

const TOOL = findTool();
const SKIP = TOOL === null && Deno.env.get("CI") !== "true"
  ? "the tsql-syntax tool was not found (set TSQL_SYNTAX_DIR, or put ../shared/tools/tsql-syntax beside the checkout)"
  : null;
if (SKIP !== null) {
  // deno-lint-ignore no-console -- the skip must say why, on the test output
  console.log(`T-SQL syntax check skipped: ${SKIP}`);
}

/** A text for the tool. */
interface Text {
  readonly name: string;
  readonly sql: string;
}

/** What the tool said of each text. */
interface Verdicts {
  readonly code: number;
  readonly lines: string[];
  readonly output: string;
}

/** Run the tool: driver batches as JSON on stdin, or `.sql` files split on GO. */
async function check(input: { texts: Text[] } | { files: string[] }): Promise<Verdicts> {
  if (TOOL === null) throw new Error("the tsql-syntax tool was not found (TSQL_SYNTAX_DIR)");
  const json = "texts" in input;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-config",
      "--no-lock",
      "--allow-read",
      TOOL,
      ...(json ? ["--json", "-"] : input.files),
    ],
    cwd: ROOT.pathname,
    stdin: json ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  if (json) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(JSON.stringify(input.texts)));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  return { code, output, lines: output.split("\n").filter((l) => /^(ok|error) /.test(l)) };
}

/** The store's driver texts, by their names in MSSQL_SQL. */
const STORE_TEXTS: Text[] = [
  ...Object.entries(MSSQL_SQL).map(([name, sql]) => ({ name, sql })),
  {
    name: "grants (docs/stores.md)",
    sql: mssqlGrantScript(["ingest", "relay", "operator", "reset", "migrate"], "scan_worker"),
  },
];

Deno.test({
  name: "every T-SQL text of the SQL Server store parses",
  ignore: SKIP !== null,
  async fn() {
    const result = await check({ texts: STORE_TEXTS });
    assertEquals(result.code, 0, result.output);
    assertEquals(result.lines, STORE_TEXTS.map((t) => `ok ${t.name}`), result.output);
    // deno-lint-ignore no-console -- CI shows that the check ran, and on how much
    console.log(`T-SQL syntax check: ${STORE_TEXTS.length} store texts parsed`);
  },
});

Deno.test({
  name: "the migrations and init-db.sql parse, batch by batch",
  ignore: SKIP !== null,
  async fn() {
    assertEquals(await Deno.readTextFile(new URL("init-db.sql", ROOT)), renderInitDb());
    const files = [
      ...MSSQL_MIGRATIONS.map((m) =>
        `sql/mssql/${String(m.version).padStart(3, "0")}_${m.name}.sql`
      ),
      "init-db.sql",
    ];
    const result = await check({ files });
    assertEquals(result.code, 0, result.output);
    assertOk(result.lines.length > files.length, result.output);
    assertOk(result.lines.every((l) => l.startsWith("ok ")), result.output);
    for (const file of files) assertIncludes(result.output, `ok ${file}`);
    // deno-lint-ignore no-console -- CI shows that the check ran, and on how much
    console.log(
      `T-SQL syntax check: ${result.lines.length} batches of ${files.length} files parsed`,
    );
  },
});

Deno.test({
  name: "the T-SQL check finds a reserved keyword used as an alias (the defect it guards against)",
  ignore: SKIP !== null,
  async fn() {
    const result = await check({
      texts: [{
        name: "aliased-checkpoint",
        sql: "SELECT LastProcessedEventId AS checkpoint FROM dbo.WorkerStates WHERE Id = @id;",
      }],
    });
    assertEquals(result.code, 1, result.output);
    assertOk(result.lines[0]?.startsWith("error aliased-checkpoint:1:"), result.output);
  },
});

Deno.test("the SQL Server store sends no T-SQL text that is not in MSSQL_SQL or a migration", async () => {
  // The store's modules that talk to the driver: mssql.ts and its schema and lock parts.
  const files = [
    "mssql.ts",
    "mssql_connection.ts",
    "mssql_schema.ts",
    "mssql_lock.ts",
    "mssql_sql.ts",
  ];
  const texts = await Promise.all(
    files.map((file) => Deno.readTextFile(new URL(`src/store/${file}`, ROOT))),
  );
  const source = texts.join("\n");
  // Every text reaches the driver through .query(, .batch( or .execute(: each names its text.
  assertEquals(source.match(/\.(query|batch|execute)\s*`/g), null, "no tagged-template queries");
  const calls = [...source.matchAll(/\.(query|batch|execute)\s*\(\s*([^)\s,]*)/g)].map((m) => m[2]);
  assertOk(calls.length >= 3, `found ${calls.length} driver calls`);
  for (const argument of calls) {
    assertOk(
      argument === "MSSQL_SQL[name]" || argument?.startsWith("MSSQL_SQL.") ||
        argument === "m.sql",
      `the SQL Server store sends a text that is not in MSSQL_SQL: .query/.batch(${argument}`,
    );
  }
});
