import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { ConfigError } from "../../src/errors.ts";
import {
  type ConfigSources,
  parseDatabaseUrl,
  redactDatabaseUrl,
  resolveConfig,
} from "../../src/config.ts";

function sources(overrides: Partial<ConfigSources> = {}): ConfigSources {
  return { flags: {}, env: {}, dotenv: {}, stdoutIsTerminal: false, ...overrides };
}

Deno.test("defaults follow docs/rules.md §5", () => {
  const config = resolveConfig(sources());
  assertEquals(config.apiUrl, "http://localhost/v1/scans/scanevents");
  assertEquals(config.limit, 100);
  assertEquals(config.apiToken, null);
  assertEquals(config.apiTimeoutMs, 10000);
  assertEquals(config.pollIntervalMs, 5000);
  assertEquals(config.database, { kind: "sqlite", path: "./scan-worker.db" });
  assertEquals(config.logLevel, "info");
  assertEquals(config.logFormat, "json");
  assertEquals(resolveConfig(sources({ stdoutIsTerminal: true })).logFormat, "pretty");
});

Deno.test("a flag overrides the environment, which overrides .env", () => {
  const dotenv = { SCAN_API_LIMIT: "10", POLL_INTERVAL_MS: "1", LOG_LEVEL: "debug" };
  const env = { SCAN_API_LIMIT: "20", POLL_INTERVAL_MS: "2" };
  const config = resolveConfig(sources({ flags: { limit: "30" }, env, dotenv }));
  assertEquals(config.limit, 30);
  assertEquals(config.pollIntervalMs, 2);
  assertEquals(config.logLevel, "debug");
});

Deno.test("the config is frozen", () => {
  assertEquals(Object.isFrozen(resolveConfig(sources())), true);
});

Deno.test("an invalid number names the variable and the flag", () => {
  assertThrows(
    () => resolveConfig(sources({ env: { SCAN_API_LIMIT: "0" } })),
    ConfigError,
    /^invalid SCAN_API_LIMIT \(--limit\): "0" is not a whole number from 1 to 100000$/,
  );
  assertThrows(
    () => resolveConfig(sources({ flags: { "api-timeout-ms": "1.5" } })),
    ConfigError,
    /SCAN_API_TIMEOUT_MS \(--api-timeout-ms\)/,
  );
  assertThrows(
    () => resolveConfig(sources({ dotenv: { POLL_INTERVAL_MS: "-1" } })),
    ConfigError,
    /POLL_INTERVAL_MS/,
  );
});

Deno.test("an invalid log level or format is refused", () => {
  assertThrows(
    () => resolveConfig(sources({ env: { LOG_LEVEL: "verbose" } })),
    ConfigError,
    /LOG_LEVEL \(--log-level\): "verbose" is not one of debug, info, warning, error/,
  );
  assertThrows(
    () => resolveConfig(sources({ env: { LOG_FORMAT: "xml" } })),
    ConfigError,
    /LOG_FORMAT/,
  );
});

Deno.test("the API URL must be plain http(s) without query or credentials", () => {
  assertThrows(
    () => resolveConfig(sources({ env: { SCAN_API_URL: "ftp://x/y" } })),
    ConfigError,
    /SCAN_API_URL/,
  );
  assertThrows(
    () => resolveConfig(sources({ env: { SCAN_API_URL: "not a url" } })),
    ConfigError,
    /is not a URL/,
  );
  assertThrows(
    () => resolveConfig(sources({ env: { SCAN_API_URL: "http://h/x?FromEventId=1" } })),
    ConfigError,
    /query/,
  );
  assertThrows(
    () => resolveConfig(sources({ env: { SCAN_API_URL: "http://u:p@h/x" } })),
    ConfigError,
    /SCAN_API_TOKEN/,
  );
});

Deno.test("the token is read from the environment and kept out of the logged database URL", () => {
  const config = resolveConfig(sources({ env: { SCAN_API_TOKEN: "s3cret" } }));
  assertEquals(config.apiToken, "s3cret");
});

Deno.test("DATABASE_URL picks the store", () => {
  assertEquals(parseDatabaseUrl("sqlite:/var/lib/x.db"), { kind: "sqlite", path: "/var/lib/x.db" });
  assertEquals(parseDatabaseUrl("sqlite:///var/lib/x.db"), {
    kind: "sqlite",
    path: "/var/lib/x.db",
  });
  assertEquals(parseDatabaseUrl("postgres://u@h/db").kind, "postgres");
  assertEquals(parseDatabaseUrl("postgresql://u@h/db").kind, "postgres");
  assertEquals(parseDatabaseUrl("mssql://u:p@h:1433/db").kind, "mssql");
  assertEquals(parseDatabaseUrl("Server=h,1433;Database=d;User Id=u;Password=p").kind, "mssql");
  assertThrows(() => parseDatabaseUrl("mysql://h/db"), ConfigError, /^invalid DATABASE_URL/);
  assertThrows(() => parseDatabaseUrl("sqlite:"), ConfigError, /needs a file path/);
});

Deno.test("passwords are redacted from database URLs", () => {
  assertEquals(
    redactDatabaseUrl("postgres://app:s3cret@db:5432/scan"),
    "postgres://app:***@db:5432/scan",
  );
  assertEquals(
    redactDatabaseUrl("Server=h;Database=d;User Id=u;Password=s3;cret"),
    "Server=h;Database=d;User Id=u;Password=***;cret",
  );
  assertEquals(redactDatabaseUrl("Server=h;Pwd={a;b};Database=d"), "Server=h;Pwd=***;Database=d");
  assertEquals(redactDatabaseUrl("sqlite:./x.db"), "sqlite:./x.db");
});

Deno.test("retry timing defaults to 500 ms doubling up to 30 s and can be tuned", () => {
  const config = resolveConfig(sources());
  assertEquals([config.retryBaseMs, config.retryMaxMs], [500, 30000]);
  const tuned = resolveConfig(sources({ env: { RETRY_BASE_MS: "10", RETRY_MAX_MS: "50" } }));
  assertEquals([tuned.retryBaseMs, tuned.retryMaxMs], [10, 50]);
  assertThrows(
    () => resolveConfig(sources({ env: { RETRY_BASE_MS: "100", RETRY_MAX_MS: "50" } })),
    ConfigError,
    /^invalid RETRY_BASE_MS: 100 is above RETRY_MAX_MS \(50\)$/,
  );
});
