import { DatabaseSync } from "node:sqlite";
import { assertEquals, assertIncludes, assertOk } from "../helpers/assert.ts";
import { runCli, runMain, startMain } from "../helpers/cli.ts";
import denoConfig from "../../deno.json" with { type: "json" };
import { SQLITE_MIGRATIONS } from "../../src/store/sqlite.ts";

Deno.test("--help prints usage with examples and exits 0", async () => {
  const result = await runMain(["--help"]);
  assertEquals(result.code, 0);
  assertIncludes(result.stdout, "Usage:");
  assertIncludes(
    result.stdout,
    "  run        poll the Scan Event API and keep ParcelStates up to date\n",
  );
  assertIncludes(result.stdout, "Examples:");
  const widest = Math.max(...result.stdout.split("\n").map((line) => line.length));
  assertOk(widest <= 120, `the widest line has ${widest} columns`);
});

Deno.test("--version prints the version from deno.json", async () => {
  const result = await runMain(["--version"]);
  assertEquals(result.code, 0);
  assertOk(result.stdout.startsWith(`scan-worker ${denoConfig.version} (commit `), result.stdout);
});

Deno.test("usage errors exit 2 with one clear line and a hint", async () => {
  for (
    const [args, message] of [
      [[], "scan-worker: no command given"],
      [["launch"], 'scan-worker: unknown command "launch"'],
      [["run", "--fast"], "scan-worker: unknown option --fast for run\n"],
      [["run", "--dran"], "scan-worker: unknown option --dran for run (did you mean --drain?)\n"],
      [["--versoin"], "scan-worker: unknown option --versoin (did you mean --version?)\n"],
      [["reset", "--yes"], "scan-worker: reset needs --to EventId: scan-worker reset --to 83000\n"],
      [["status", "--drain"], "scan-worker: --drain is only for: run"],
      [["run", "--json"], "scan-worker: --json is only for: status"],
      [["migrate", "extra"], 'scan-worker: unexpected argument "extra"'],
    ] as const
  ) {
    const result = await runMain([...args]);
    assertEquals(result.code, 2, args.join(" "));
    assertOk(result.stderr.startsWith(message), `${args.join(" ")}: ${result.stderr}`);
    assertIncludes(result.stderr, 'Run "scan-worker --help" for usage.');
  }
});

Deno.test("an invalid setting stops at start with one line naming it, exit 2", async () => {
  const cases: [Record<string, string>, string[], string][] = [
    [
      { SCAN_API_LIMIT: "lots" },
      [],
      'scan-worker: invalid SCAN_API_LIMIT (--limit): "lots" is not a whole number from 1 to 100000\n',
    ],
    [
      {},
      ["--poll-interval-ms=-5"],
      'scan-worker: invalid POLL_INTERVAL_MS (--poll-interval-ms): "-5" is not a whole number from 0 to 86400000\n',
    ],
    [
      { DATABASE_URL: "oracle://x" },
      [],
      "scan-worker: invalid DATABASE_URL (--db): expected sqlite:PATH, postgres://…, mssql://… or an ADO.NET string Server=…;Database=…\n",
    ],
    [
      { LOG_LEVEL: "loud" },
      [],
      'scan-worker: invalid LOG_LEVEL (--log-level): "loud" is not one of debug, info, warning, error\n',
    ],
    [
      { SCAN_API_URL: "localhost:8080" },
      [],
      'scan-worker: invalid SCAN_API_URL (--api-url): "localhost:8080" is not an http(s) URL\n',
    ],
  ];
  for (const [env, args, expected] of cases) {
    const result = await runMain(["run", ...args], { env });
    assertEquals([result.code, result.stderr, result.stdout], [2, expected, ""]);
  }
});

Deno.test("a .env file in the working directory is read, and the environment overrides it", async () => {
  const cwd = Deno.makeTempDirSync({ prefix: "scan-worker-dotenv-" });
  try {
    Deno.writeTextFileSync(`${cwd}/.env`, "# settings\nSCAN_API_LIMIT=0\nLOG_LEVEL=debug\n");
    const fromFile = await runMain(["run"], { cwd });
    assertEquals(fromFile.code, 2);
    assertIncludes(fromFile.stderr, 'invalid SCAN_API_LIMIT (--limit): "0"');
    const overridden = await runMain(["status"], {
      cwd,
      env: { SCAN_API_LIMIT: "10", LOG_LEVEL: "shout" },
    });
    assertEquals(overridden.code, 2);
    assertIncludes(overridden.stderr, 'invalid LOG_LEVEL (--log-level): "shout"');
  } finally {
    Deno.removeSync(cwd, { recursive: true });
  }
});

Deno.test("an unreachable PostgreSQL is a runtime failure with the password kept out, exit 1", async () => {
  const result = await runMain(["status"], {
    env: { DATABASE_URL: "postgres://u:pw-hidden@127.0.0.1:1/x?connect_timeout=2" },
  });
  assertEquals(result.code, 1);
  const line = JSON.parse(result.stderr.trim().split("\n").at(-1) ?? "{}");
  assertEquals([line.level, line.properties.command], ["ERROR", "status"]);
  assertIncludes(line.properties.error, "ECONNREFUSED");
  assertOk(!result.stderr.includes("pw-hidden") && !result.stdout.includes("pw-hidden"));
});

Deno.test("migrate applies once, then says the schema is up to date", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "scan-worker-migrate-" });
  try {
    const env = { DATABASE_URL: `sqlite:${dir}/scan.db` };
    const first = await runMain(["migrate"], { env });
    assertEquals(first.code, 0, first.stderr);
    const applied = SQLITE_MIGRATIONS.map((m) =>
      `applied ${String(m.version).padStart(3, "0")}_${m.name} \\(${m.checksum.slice(0, 12)}\\)\\n`
    );
    assertOk(applied.length >= 2, "the outbox is migration 2");
    assertOk(new RegExp(`^${applied.join("")}$`).test(first.stdout), first.stdout);
    const second = await runMain(["migrate"], { env });
    assertEquals(
      [second.code, second.stdout],
      [0, `schema is up to date (version ${SQLITE_MIGRATIONS.length})\n`],
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("run --no-migrate on an empty database fails with a clear error, exit 1", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "scan-worker-nomigrate-" });
  try {
    const result = await runMain(["run", "--no-migrate", "--drain"], {
      env: { DATABASE_URL: `sqlite:${dir}/scan.db` },
    });
    assertEquals(result.code, 1);
    assertIncludes(result.stdout, 'run \\"scan-worker migrate\\"');
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("an edited, already-applied migration stops run with a clear error, exit 1", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "scan-worker-edited-" });
  try {
    const env = { DATABASE_URL: `sqlite:${dir}/scan.db` };
    assertEquals((await runMain(["migrate"], { env })).code, 0);
    const db = new DatabaseSync(`${dir}/scan.db`);
    db.exec("UPDATE SchemaMigrations SET Checksum = 'abc' WHERE Version = 1");
    db.close();
    const result = await runMain(["run", "--drain"], { env });
    assertEquals(result.code, 1);
    assertIncludes(result.stdout, "migration 001_init.sql was edited after it was applied");
    const migrate = await runMain(["migrate"], { env });
    assertEquals(migrate.code, 1);
    assertIncludes(migrate.stderr, "001_init.sql was edited");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("status on a missing database file fails without creating it, exit 1", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "scan-worker-status-" });
  try {
    const result = await runMain(["status"], { env: { DATABASE_URL: `sqlite:${dir}/none.db` } });
    assertEquals(result.code, 1);
    assertIncludes(result.stderr, "cannot open SQLite database");
    assertEquals([...Deno.readDirSync(dir)].length, 0);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a SQL Server string with Windows authentication stops at start, exit 2", async () => {
  const result = await runMain(["status"], {
    env: {
      DATABASE_URL:
        "Server=localhost\\SQLEXPRESS;Database=ScanWorkerDb;Trusted_Connection=True;TrustServerCertificate=True;",
    },
  });
  assertEquals(result.code, 2);
  assertEquals(
    result.stderr,
    "scan-worker: invalid DATABASE_URL (--db): Trusted_Connection (Windows authentication) cannot work from this runtime; use a SQL Server login: User Id=…;Password=…\n",
  );
});

Deno.test("an unreachable SQL Server is a runtime failure with the password kept out, exit 1", async () => {
  const result = await runMain(["status"], {
    env: {
      DATABASE_URL: "mssql://app:hunter2-secret@127.0.0.1:1/ScanWorkerDb?connectTimeout=2000",
    },
  });
  assertEquals(result.code, 1);
  const line = JSON.parse(result.stderr.trim().split("\n").at(-1) ?? "{}");
  assertEquals([line.level, line.properties.command], ["ERROR", "status"]);
  assertIncludes(line.properties.error, "Failed to connect to 127.0.0.1:1");
  assertOk(!result.stderr.includes("hunter2-secret") && !result.stdout.includes("hunter2-secret"));
});

Deno.test("each command's --help is its own: usage, flags, settings, examples", async () => {
  const run = await runMain(["run", "--help"]);
  assertEquals(run.code, 0);
  assertOk(run.stdout.startsWith("scan-worker run — "), run.stdout);
  assertIncludes(
    run.stdout,
    "  scan-worker run [--drain] [--no-migrate] [--source api|nats] [options]\n",
  );
  assertIncludes(run.stdout, "--drain");
  assertIncludes(run.stdout, "SCAN_API_URL");
  assertIncludes(run.stdout, "Examples:");
  const rejected = await runMain(["rejected", "--help"]);
  assertIncludes(rejected.stdout, "--limit N");
  assertIncludes(rejected.stdout, "how many (20)");
  assertOk(!rejected.stdout.includes("SCAN_API_LIMIT"), "rejected reads no API setting");
  // --db lists every store's form.
  const status = await runMain(["status", "--help"]);
  for (const form of ["sqlite:PATH", "postgres://", "mssql://", "Server=host,1433;Database="]) {
    assertIncludes(status.stdout, form);
  }
  const simulate = await runMain(["simulate", "--help"]);
  assertIncludes(simulate.stdout, "--malformed-rate F");
  assertOk(!simulate.stdout.includes("DATABASE_URL"), "simulate uses no database");
});

Deno.test("a command resolves only the settings it needs", async () => {
  const simulator = startMain(["simulate", "--events", "10"], {
    env: { DATABASE_URL: "oracle://x", SCAN_API_LIMIT: "lots", LOG_LEVEL: "error" },
  });
  await simulator.waitForLine((l) => l.includes("listening on"));
  simulator.signal("SIGTERM");
  assertEquals((await simulator.done).code, 0);
  const dir = Deno.makeTempDirSync({ prefix: "scan-worker-needs-" });
  try {
    const env = { DATABASE_URL: `sqlite:${dir}/scan.db`, SCAN_API_LIMIT: "lots" };
    assertEquals((await runMain(["migrate"], { env })).code, 0);
    const rejected = await runMain(["rejected", "--limit", "5"], { env });
    assertEquals([rejected.code, rejected.stdout], [0, "no rejected events\n"]);
    assertEquals((await runMain(["run", "--drain"], { env })).code, 2);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("as a real process: --version exits 0, a bad setting 2, a usage error 2", async () => {
  const version = await runCli(["--version"]);
  assertEquals(version.code, 0);
  assertOk(version.stdout.startsWith(`scan-worker ${denoConfig.version} (commit `));
  const setting = await runCli(["status"], { env: { LOG_LEVEL: "loud" } });
  assertEquals([setting.code, setting.stdout], [2, ""]);
  assertIncludes(setting.stderr, 'invalid LOG_LEVEL (--log-level): "loud"');
  const usage = await runCli(["launch"]);
  assertEquals(usage.code, 2);
  assertIncludes(usage.stderr, 'scan-worker: unknown command "launch"');
});
