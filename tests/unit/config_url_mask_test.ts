import { assertEquals, assertOk, assertThrows } from "../helpers/assert.ts";
import { ConfigError } from "../../src/errors.ts";
import { parseApiUrl, parseDatabaseUrl, parseNatsUrl } from "../../src/config/url.ts";
import {
  redactApiUrl,
  redactDatabaseUrl,
  redactionPatterns,
  redactNatsUrl,
  redactOutput,
  secretsIn,
} from "../../src/config/mask.ts";

/** The error `work` throws, as a ConfigError. */
function configError(work: () => unknown): ConfigError {
  try {
    work();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("no ConfigError was thrown");
}

Deno.test("a URL password is masked even when the URL does not parse", () => {
  assertEquals(
    redactDatabaseUrl("postgres://postgres:TopSecret@127.0.0.1:notaport/db"),
    "postgres://postgres:***@127.0.0.1:notaport/db",
  );
  assertEquals(redactDatabaseUrl("postgres://app:a/b@c@db/x"), "postgres://app:***@db/x");
  assertEquals(redactDatabaseUrl("postgres://app@db/x"), "postgres://app@db/x");
  assertEquals(
    redactDatabaseUrl("postgres://db/x?sslpassword=k3y&sslmode=require"),
    "postgres://db/x?sslpassword=***&sslmode=require",
  );
});

Deno.test("an ADO.NET password is masked in each of its quotings", () => {
  for (
    const [text, masked] of [
      ["Server=h;Password=s3;cret", "Server=h;Password=***;cret"],
      ["Server=h;Pwd={a;b}};c};Database=d", "Server=h;Pwd=***;Database=d"],
      ["Server=h;Password='it''s';Database=d", "Server=h;Password=***;Database=d"],
      ['Server=h; password = "a""b" ;Database=d', "Server=h; password = *** ;Database=d"],
      ["Server=h;Password='unclosed", "Server=h;Password=***"],
    ] as const
  ) {
    assertEquals(redactDatabaseUrl(text), masked, text);
  }
});

Deno.test("NATS tokens and passwords are masked in every server of the list", () => {
  assertEquals(
    redactNatsUrl("nats://u:p@a:4222,nats://t0k@b:4222,nats://c:4222"),
    "nats://u:***@a:4222,nats://***@b:4222,nats://c:4222",
  );
  assertEquals(redactNatsUrl("nats://u:x,y@a:4222"), "nats://u:***@a:4222");
  assertEquals(redactApiUrl("https://t0k@api/v1?key=k#f"), "https://***@api/v1?…");
});

Deno.test("a database URL with a bad port exits 2 naming DATABASE_URL, masked", () => {
  for (
    const text of [
      "postgres://postgres:TopSecret@127.0.0.1:notaport/db",
      "postgres://postgres:TopSecret@127.0.0.1:99999/db",
      "postgresql://postgres:TopSecret@127.0.0.1:0/db",
      "mssql://sa:TopSecret@db:65536/Scan",
    ]
  ) {
    const error = configError(() => parseDatabaseUrl(text));
    assertOk(error.message.startsWith("invalid DATABASE_URL (--db): "), error.message);
    assertOk(error.message.endsWith("the port must be a number from 1 to 65535"), error.message);
    assertOk(!error.message.includes("TopSecret"), error.message);
  }
  assertEquals(parseDatabaseUrl("postgres://app:pw@db:5432/scan").kind, "postgres");
  assertEquals(parseDatabaseUrl("postgres:///scan?host=/run/postgresql").kind, "postgres");
});

Deno.test("an ADO.NET Server whose port is not a number is refused (the driver reads 1433)", () => {
  const error = configError(() =>
    parseDatabaseUrl("Server=db,notaport;Database=d;User Id=u;Password=TopSecret")
  );
  assertEquals(
    error.message,
    "invalid DATABASE_URL (--db): Server=db,…: the port after the comma must be a number from 1 to 65535",
  );
  assertEquals(parseDatabaseUrl("Server=tcp:db\\SQL,1444;Database=d").kind, "mssql");
  assertEquals(parseDatabaseUrl("Data Source=db;Database=d").kind, "mssql");
  assertThrows(
    () => parseDatabaseUrl("Server=db;Password='TopSecret"),
    ConfigError,
    /^invalid DATABASE_URL \(--db\): "Server=db;Password=\*\*\*" is not an ADO.NET connection string/,
  );
});

Deno.test("NATS_URL and SCAN_API_URL name the port problem without the secret", () => {
  assertEquals(
    configError(() => parseNatsUrl("nats://TopSecret@broker:99999")).message,
    'invalid NATS_URL: "nats://***@broker:99999" is not nats://[user:pass@]host[:port]: the port must be a number from 1 to 65535',
  );
  assertEquals(
    configError(() => parseApiUrl("http://api:notaport/x?token=TopSecret")).message,
    'invalid SCAN_API_URL (--api-url): "http://api:notaport/x?…": the port must be a number from 1 to 65535',
  );
  assertEquals(
    configError(() => parseApiUrl("http://u:TopSecret@api/x")).message,
    'invalid SCAN_API_URL (--api-url): "http://u:***@api/x": credentials in the URL are not allowed; use SCAN_API_TOKEN',
  );
});

Deno.test("the secrets of a setting are found as written and as decoded", () => {
  assertEquals(secretsIn("postgres://app:p%40ss@db:oops/x"), ["p%40ss", "p@ss"]);
  assertEquals(secretsIn("nats://t0ken@a,nats://u:pw@b"), ["t0ken", "pw"]);
  assertEquals(secretsIn("Server=db;Pwd={a}}b};Database=d"), ["{a}}b}", "a}b"]);
  assertEquals(secretsIn("postgres://db/x?password=hunter2"), ["hunter2"]);
  assertEquals(secretsIn(" t0ken ", true), ["t0ken"]);
  assertEquals(secretsIn("sqlite:./a@b:c.db"), []);
});

Deno.test("the output net masks known secrets, URL passwords and Password= values", () => {
  const patterns = redactionPatterns(['pa"ss1', "abc"]);
  assertEquals(
    redactOutput('{"error":"login with pa\\"ss1 refused","short":"abc"}', patterns),
    '{"error":"login with *** refused","short":"abc"}',
  );
  assertEquals(
    redactOutput("connect to postgres://app:hunter2@db failed", patterns),
    "connect to postgres://app:***@db failed",
  );
  assertEquals(redactOutput("Server=db;Password=hunter2;", patterns), "Server=db;Password=***;");
  assertEquals(
    redactOutput("expected nats://[user:pass@]host; Password=…", patterns),
    "expected nats://[user:pass@]host; Password=…",
  );
});

Deno.test("a PostgreSQL URL that pg reads is accepted: a socket without host, a stray %", () => {
  for (
    const url of [
      "postgres://u:p@/db?host=/var/run/postgresql",
      "postgres:///db?host=/tmp",
      "postgres://u:p%zz@h/db",
      "postgres://u:p q@h/db",
      "postgresql://u:p@[::1]:5432/db",
      "postgres://%2Fvar%2Frun%2Fpostgresql/db",
    ]
  ) {
    assertEquals(parseDatabaseUrl(url), { kind: "postgres", url }, url);
  }
});

Deno.test("an @ in the API URL's path is no credential", () => {
  assertEquals(parseApiUrl("http://api/v1/feeds/@team/events"), "http://api/v1/feeds/@team/events");
  assertThrows(
    () => parseApiUrl("ftp://api/v1/@x"),
    ConfigError,
    /^invalid SCAN_API_URL \(--api-url\): "ftp:\/\/api\/v1\/@x" is not an http\(s\) URL$/,
  );
});
