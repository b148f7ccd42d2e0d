import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { ConfigError } from "../../src/errors.ts";
import {
  type ConfigSources,
  parseDatabaseUrl,
  parseNatsUrl,
  redactDatabaseUrl,
  redactNatsUrl,
  resolveConfig,
  resolveSections,
  secretsOf,
  type Section,
  SECTION_SETTINGS,
  settingsOf,
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

Deno.test("NATS is off unless NATS_URL is set; the stream settings have their defaults", () => {
  const config = resolveConfig(sources());
  assertEquals(
    [config.nats, config.natsForLog, config.natsCredsFile, config.natsStream],
    [null, null, null, "SCAN_EVENTS"],
  );
  assertEquals([config.natsStreamMaxAgeMs, config.outboxMaxRows], [7 * 86_400_000, 1_000_000]);
});

Deno.test("NATS_URL gives the servers and the login: user and password, or a token", () => {
  assertEquals(parseNatsUrl("nats://broker"), {
    servers: ["broker:4222"],
    user: null,
    pass: null,
    token: null,
  });
  assertEquals(parseNatsUrl("nats://app:p%40ss@broker:4223"), {
    servers: ["broker:4223"],
    user: "app",
    pass: "p@ss",
    token: null,
  });
  assertEquals(parseNatsUrl("nats://s3cret@broker").token, "s3cret");
  assertEquals(
    parseNatsUrl("nats://a:4222, nats://b:4223,tls://c").servers,
    ["a:4222", "b:4223", "tls://c:4222"],
  );
  assertEquals(parseNatsUrl("NATS://[::1]:4222").servers, ["[::1]:4222"]);
});

Deno.test("a bad NATS_URL is refused, named, without its password", () => {
  const bad = [
    "broker:4222",
    "http://broker",
    "nats://",
    "nats://a:pw@broker/path",
    "nats://a,",
  ];
  for (const text of bad) {
    assertThrows(
      () => resolveConfig(sources({ env: { NATS_URL: text } })),
      ConfigError,
      /^invalid NATS_URL: (?!.*pw).* is not nats:\/\/\[user:pass@\]host\[:port\]$/,
    );
  }
});

Deno.test("NATS passwords and tokens are redacted for logs", () => {
  const config = resolveConfig(sources({ env: { NATS_URL: "nats://app:pw@broker:4222" } }));
  assertEquals(config.natsForLog, "nats://app:***@broker:4222");
  assertEquals(redactNatsUrl("nats://s3cret@broker"), "nats://***@broker");
  assertEquals(
    redactNatsUrl("nats://u:p@a:4222,nats://t@b:4222,nats://c:4222"),
    "nats://u:***@a:4222,nats://***@b:4222,nats://c:4222",
  );
  assertEquals(redactNatsUrl("nats://broker:4222"), "nats://broker:4222");
});

Deno.test("NATS_STREAM_MAX_AGE takes s, m, h, d or seconds; a bad one is refused", () => {
  const maxAge = (text: string) =>
    resolveConfig(sources({ env: { NATS_STREAM_MAX_AGE: text } })).natsStreamMaxAgeMs;
  assertEquals(maxAge("45s"), 45_000);
  assertEquals(maxAge("30m"), 1_800_000);
  assertEquals(maxAge("12H"), 43_200_000);
  assertEquals(maxAge("7d"), 604_800_000);
  assertEquals(maxAge("90"), 90_000);
  for (const bad of ["0", "0d", "-1d", "1w", "1.5h", "soon", "99999999999999999d"]) {
    assertThrows(() => maxAge(bad), ConfigError, /^invalid NATS_STREAM_MAX_AGE: .* like 30m/);
  }
});

Deno.test("NATS_STREAM must be a stream name; OUTBOX_MAX_ROWS a positive integer", () => {
  assertEquals(
    resolveConfig(sources({ env: { NATS_STREAM: "orders_v2-a" } })).natsStream,
    "orders_v2-a",
  );
  for (const bad of ["a.b", "a b", "a*", "a>", "a/b"]) {
    assertThrows(() => resolveConfig(sources({ env: { NATS_STREAM: bad } })), ConfigError);
  }
  assertEquals(resolveConfig(sources({ env: { OUTBOX_MAX_ROWS: "500" } })).outboxMaxRows, 500);
  for (const bad of ["0", "-5", "1.5", "many"]) {
    assertThrows(() => resolveConfig(sources({ env: { OUTBOX_MAX_ROWS: bad } })), ConfigError);
  }
});

Deno.test("each default lives once: help shows exactly the value the program uses", () => {
  const all = Object.keys(SECTION_SETTINGS) as Section[];
  const defaults = resolveSections(sources(), all);
  for (const setting of settingsOf(all)) {
    if (setting.shown === "unset" || setting.variable === "LOG_FORMAT") continue;
    const given = resolveSections(sources({ env: { [setting.variable]: setting.shown } }), all);
    assertEquals(given, defaults, setting.variable);
  }
  assertEquals(settingsOf(all).length, 23); // LATE_EVENT_WINDOW_MS and NATS_GROUP too
});

Deno.test("a blank setting is an unset one", () => {
  const config = resolveConfig(sources({ env: { SCAN_API_LIMIT: " ", NATS_URL: "" } }));
  assertEquals([config.limit, config.nats], [100, null]);
  // Unset at its level: the next level applies.
  const dotenv = { SCAN_API_LIMIT: "7" };
  assertEquals(resolveConfig(sources({ env: { SCAN_API_LIMIT: "" }, dotenv })).limit, 7);
  const flags = { limit: " " };
  assertEquals(resolveConfig(sources({ flags, env: { SCAN_API_LIMIT: "9" }, dotenv })).limit, 9);
});

Deno.test("a command resolves only its sections: other settings, even invalid, are not read", () => {
  const env = { OUTBOX_MAX_ROWS: "abc", RETRY_BASE_MS: "soon", SCAN_API_LIMIT: "lots" };
  const link = resolveSections(sources({ env: { ...env, NATS_URL: "nats://b" } }), ["natsLink"]);
  assertEquals(link.nats?.servers, ["b:4222"]);
  assertEquals("outboxMaxRows" in link || "retryBaseMs" in link, false);
  assertEquals(resolveSections(sources({ env }), ["apiLink"]).apiTimeoutMs, 10_000);
  assertThrows(() => resolveSections(sources({ env }), ["nats"]), ConfigError, /OUTBOX_MAX_ROWS/);
});

Deno.test("NATS_CREDS_FILE is read at start: missing, unreadable or not a creds file is exit 2", () => {
  const creds = "-----BEGIN NATS USER JWT-----\neyJ0\n------END NATS USER JWT------\n" +
    "-----BEGIN USER NKEY SEED-----\nSUAM\n------END USER NKEY SEED------\n";
  const files: Record<string, string> = { "/etc/app.creds": creds, "/etc/other": "hello" };
  const readTextFile = (path: string) => {
    const text = files[path];
    if (text === undefined) throw new Deno.errors.NotFound(`readfile '${path}'`);
    return text;
  };
  const withCreds = (file: string) =>
    resolveSections(sources({ env: { NATS_CREDS_FILE: file }, readTextFile }), ["natsLink"]);
  assertEquals(withCreds("/etc/app.creds").natsCredsFile, "/etc/app.creds");
  assertThrows(
    () => withCreds("/etc/none.creds"),
    ConfigError,
    /^invalid NATS_CREDS_FILE: "\/etc\/none.creds" does not exist$/,
  );
  assertThrows(() => withCreds("/etc/other"), ConfigError, /is not a NATS creds file/);
});

Deno.test("the secrets of the sources are found, even in values that do not parse", () => {
  const env = {
    DATABASE_URL: "postgres://app:pw-1@db:oops/x",
    NATS_URL: "nats://t0ken@broker",
    SCAN_API_TOKEN: " bearer-2 ",
  };
  assertEquals(secretsOf(sources({ env, flags: { "api-url": "http://u:pw-3@api/x" } })), [
    "pw-1",
    "t0ken",
    "pw-3",
    "bearer-2",
  ]);
});

Deno.test("LATE_EVENT_WINDOW_MS: 60000 by default, 0 turns late events off, a bad value names it", () => {
  assertEquals(resolveConfig(sources()).lateEventWindowMs, 60_000);
  assertEquals(
    resolveConfig(sources({ env: { LATE_EVENT_WINDOW_MS: "0" } })).lateEventWindowMs,
    0,
  );
  for (const bad of ["-1", "1.5", "soon", "86400001"]) {
    assertThrows(
      () => resolveConfig(sources({ env: { LATE_EVENT_WINDOW_MS: bad } })),
      ConfigError,
      /LATE_EVENT_WINDOW_MS/,
    );
  }
});
