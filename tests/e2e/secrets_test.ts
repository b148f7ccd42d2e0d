/**
 * No secret in any output: the program is run as a subprocess with bad (and some good but
 * unreachable) settings carrying a known password or token, and everything it prints, stdout
 * and stderr, is searched for it.
 */
import { assertEquals, assertIncludes, assertOk } from "../helpers/assert.ts";
import { type CliResult, runCli } from "../helpers/cli.ts";

/** The secret every case carries; it must never be printed. */
const SECRET = "TopSecret-7f3a";

interface Case {
  readonly what: string;
  readonly args: string[];
  readonly env?: Record<string, string>;
  /** The exit code. */
  readonly code: number;
  /** What stderr must say (the setting, for exit 2). */
  readonly says?: string;
  /** The secret as it appears in the input, when it is not {@link SECRET} itself. */
  readonly secret?: string;
}

const BAD_SETTINGS: Case[] = [
  {
    what: "a PostgreSQL URL with a port that is not a number",
    args: ["run"],
    env: { DATABASE_URL: `postgres://postgres:${SECRET}@127.0.0.1:notaport/db` },
    code: 2,
    says: "invalid DATABASE_URL (--db)",
  },
  {
    what: "a PostgreSQL URL with port 99999",
    args: ["status"],
    env: { DATABASE_URL: `postgres://postgres:${SECRET}@127.0.0.1:99999/db` },
    code: 2,
    says: "invalid DATABASE_URL (--db)",
  },
  {
    what: "a password with an unencoded / and @",
    args: ["migrate"],
    env: { DATABASE_URL: `postgres://app:a/${SECRET}@x@db:5432/scan` },
    code: 2,
    says: "invalid DATABASE_URL (--db)",
    secret: `a/${SECRET}@x`,
  },
  {
    what: "the URL given by flag",
    args: ["status", "--db", `postgresql://app:${SECRET}@db:0/scan`],
    code: 2,
    says: "invalid DATABASE_URL (--db)",
  },
  {
    what: "an mssql:// URL with port 99999",
    args: ["status"],
    env: { DATABASE_URL: `mssql://sa:${SECRET}@db:99999/Scan` },
    code: 2,
    says: "invalid DATABASE_URL (--db)",
  },
  {
    what: "an ADO.NET string with a port that is not a number (read as 1433 by the driver)",
    args: ["run"],
    env: { DATABASE_URL: `Server=db,notaport;Database=Scan;User Id=sa;Password=${SECRET}` },
    code: 2,
    says: "invalid DATABASE_URL (--db)",
  },
  {
    what: "an ADO.NET string whose quoted password is not closed",
    args: ["status"],
    env: { DATABASE_URL: `Server=db;Database=Scan;User Id=sa;Password='${SECRET}''x` },
    code: 2,
    says: "invalid DATABASE_URL (--db)",
  },
  {
    what: "a NATS URL with a bad port and a password",
    args: ["run"],
    env: { NATS_URL: `nats://app:${SECRET}@broker:notaport` },
    code: 2,
    says: "invalid NATS_URL",
  },
  {
    what: "a NATS URL with a token and port 99999, for tail",
    args: ["tail"],
    env: { NATS_URL: `nats://${SECRET}@broker:99999` },
    code: 2,
    says: "invalid NATS_URL",
  },
  {
    what: "a NATS password with an unencoded comma",
    args: ["tail"],
    env: { NATS_URL: `nats://app:x,${SECRET}@broker:4222` },
    code: 2,
    says: "invalid NATS_URL",
    secret: `x,${SECRET}`,
  },
  {
    what: "a missing NATS creds file",
    args: ["run"],
    env: {
      NATS_URL: `nats://app:${SECRET}@127.0.0.1:4222`,
      NATS_CREDS_FILE: "/nonexistent/scan-worker.creds",
    },
    code: 2,
    says: 'invalid NATS_CREDS_FILE: "/nonexistent/scan-worker.creds" does not exist',
  },
  {
    what: "credentials in the API URL",
    args: ["run"],
    env: { SCAN_API_URL: `http://reader:${SECRET}@api:8080/v1/scans/scanevents` },
    code: 2,
    says: "invalid SCAN_API_URL (--api-url)",
  },
  {
    what: "a token in the API URL's query, with a bad port",
    args: ["reset", "--to", "1"],
    env: { SCAN_API_URL: `http://api:notaport/v1?token=${SECRET}` },
    code: 2,
    says: "invalid SCAN_API_URL (--api-url)",
  },
  {
    what: "a bad setting beside a good token",
    args: ["run"],
    env: { SCAN_API_TOKEN: SECRET, SCAN_API_LIMIT: "lots" },
    code: 2,
    says: "invalid SCAN_API_LIMIT (--limit)",
  },
  {
    what: "a URL given where an argument is expected",
    args: ["status", `postgres://app:${SECRET}@db/scan`],
    code: 2,
    says: "unexpected argument",
  },
];

const EVERY_SECRET = {
  DATABASE_URL: `postgres://app:${SECRET}@127.0.0.1:1/scan`,
  NATS_URL: `nats://app:${SECRET}@127.0.0.1:1`,
  SCAN_API_TOKEN: SECRET,
};

const RUNTIME: Case[] = [
  ...["run", "migrate", "status", "parcel", "rejected", "reset", "tail", "simulate"].map((c) => ({
    what: `${c} --help with every secret set`,
    args: [c, "--help"],
    env: EVERY_SECRET,
    code: 0,
  })),
  {
    what: "a PostgreSQL server that refuses the connection",
    args: ["status"],
    env: { ...EVERY_SECRET, DB_CONNECT_TIMEOUT_MS: "1000" },
    code: 1,
  },
  {
    what: "an unreachable SQL Server",
    args: ["status"],
    env: { DATABASE_URL: `mssql://sa:${SECRET}@127.0.0.1:1/Scan?connectTimeout=1000` },
    code: 1,
  },
];

/** Everything a run printed, with the case, for failure messages. */
function printed(result: CliResult): string {
  return `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
}

async function check(c: Case): Promise<void> {
  const result = await runCli(c.args, { env: { LOG_LEVEL: "debug", ...c.env } });
  const secret = c.secret ?? SECRET;
  const label = `${c.what}\n${printed(result)}`;
  assertEquals(result.code, c.code, label);
  assertOk(
    !`${result.stdout}${result.stderr}`.includes(secret),
    `the secret was printed: ${label}`,
  );
  assertOk(
    !`${result.stdout}${result.stderr}`.includes(SECRET),
    `the secret was printed: ${label}`,
  );
  if (c.says !== undefined) assertIncludes(result.stderr, `scan-worker: ${c.says}`);
}

/** Run the cases a few at a time (each is a process of its own). */
async function checkAll(cases: readonly Case[]): Promise<void> {
  for (let i = 0; i < cases.length; i += 4) {
    await Promise.all(cases.slice(i, i + 4).map(check));
  }
}

Deno.test("a malformed setting exits 2 naming it, and no output shows its secret", async () => {
  await checkAll(BAD_SETTINGS);
});

Deno.test("help and runtime failures never show a secret of the settings", async () => {
  await checkAll(RUNTIME);
});
