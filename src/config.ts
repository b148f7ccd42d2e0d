/**
 * Configuration (docs/rules.md §5): flags override environment variables, which override a `.env`
 * file in the working directory, which overrides defaults. The result is one frozen
 * {@link Config}, or a {@link ConfigError} naming the setting.
 *
 * @module
 */

import { parseEnv } from "node:util";
import { ConfigError } from "./errors.ts";

/** Log levels accepted by `LOG_LEVEL`. */
export const LOG_LEVELS = ["debug", "info", "warning", "error"] as const;
/** A log level. */
export type LogLevel = typeof LOG_LEVELS[number];
/** Log output formats accepted by `LOG_FORMAT`. */
export type LogFormat = "json" | "pretty";

/** Where the worker keeps its state, from `DATABASE_URL`. */
export type DatabaseTarget =
  | { readonly kind: "sqlite"; readonly path: string }
  | { readonly kind: "postgres"; readonly url: string }
  | { readonly kind: "mssql"; readonly url: string };

/** `DATABASE_URL` and how to reach the database. */
export interface DatabaseConfig {
  /** `DATABASE_URL`, parsed. */
  readonly database: DatabaseTarget;
  /** `DATABASE_URL` with any password replaced by `***`, for logs. */
  readonly databaseForLog: string;
  /** `DB_CONNECT_TIMEOUT_MS`: how long one connection to a database server may take. */
  readonly connectTimeoutMs: number;
}

/** The upstream Scan Event API. */
export interface ApiConfig {
  /** `SCAN_API_URL`: the feed endpoint, without query. */
  readonly apiUrl: string;
  /** `SCAN_API_LIMIT`: events asked for per page. */
  readonly limit: number;
  /** `SCAN_API_TOKEN`: bearer token, or null. Never logged. */
  readonly apiToken: string | null;
  /** `SCAN_API_TIMEOUT_MS`: per-request timeout. */
  readonly apiTimeoutMs: number;
  /** `SCAN_API_MAX_BODY_BYTES`: a larger response body is refused and retried. */
  readonly maxBodyBytes: number;
}

/** How the worker loop paces itself, retries, and shows its health. */
export interface WorkerConfig {
  /** `POLL_INTERVAL_MS`: wait after a short or empty page. */
  readonly pollIntervalMs: number;
  /** `RETRY_BASE_MS`: the first retry waits up to this long (doubling per attempt). */
  readonly retryBaseMs: number;
  /** `RETRY_MAX_MS`: the longest wait between retries (and the wait after a 4xx). */
  readonly retryMaxMs: number;
  /** `LOCK_RETRY_MS`: how often a standby instance retries the feed lock. */
  readonly lockRetryMs: number;
  /** `LOG_PROGRESS_MS`: while catching up, one progress line this often. */
  readonly progressIntervalMs: number;
  /** `METRICS_PORT`: the health and metrics listener's port, or null for none. */
  readonly metricsPort: number | null;
  /** `METRICS_HOST`: the listener's interface. */
  readonly metricsHost: string;
}

/** Logging. */
export interface LoggingConfig {
  /** `LOG_LEVEL`. */
  readonly logLevel: LogLevel;
  /** `LOG_FORMAT`. */
  readonly logFormat: LogFormat;
}

/** Where a NATS server is and how to log in, from `NATS_URL`. */
export interface NatsTarget {
  /** `host:port` of each server (the URL's credentials taken out: the client ignores them). */
  readonly servers: readonly string[];
  /** A user and password, from `nats://user:pass@host`. */
  readonly user: string | null;
  readonly pass: string | null;
  /** A token, from `nats://token@host`. */
  readonly token: string | null;
}

/** The downstream stream (docs/rules.md §7). */
export interface NatsConfig {
  /** `NATS_URL`, parsed; null when unset: nothing goes downstream. */
  readonly nats: NatsTarget | null;
  /** `NATS_URL` with any password or token replaced by `***`, for logs. */
  readonly natsForLog: string | null;
  /** `NATS_CREDS_FILE`: a creds file (JWT and seed) to log in with, or null. */
  readonly natsCredsFile: string | null;
  /** `NATS_STREAM`: the JetStream stream. */
  readonly natsStream: string;
  /** `NATS_STREAM_MAX_AGE`: how long the stream keeps a message, when it creates the stream. */
  readonly natsStreamMaxAgeMs: number;
  /** `OUTBOX_MAX_ROWS`: ingest pauses while this many events wait to be published. */
  readonly outboxMaxRows: number;
  /** `NATS_GROUP` (`--group`): the consumer group a downstream worker joins, or null. */
  readonly natsGroup: string | null;
}

/** The parts of the configuration, by name: a command resolves only those it needs. */
export interface ConfigSections {
  readonly database: DatabaseConfig;
  readonly api: ApiConfig;
  readonly worker: WorkerConfig;
  readonly nats: NatsConfig;
  readonly logging: LoggingConfig;
}

/** The name of a part of the configuration. */
export type Section = keyof ConfigSections;

/** Every setting of the program, validated. */
export type Config = DatabaseConfig & ApiConfig & WorkerConfig & NatsConfig & LoggingConfig;

/** One setting: its variable, its flag (if any), its default as text and what it means. */
export interface Setting {
  /** The environment variable. */
  readonly variable: string;
  /** The flag that overrides it, without `--`. */
  readonly flag?: string;
  /** The default, as shown in help. */
  readonly fallback: string;
  /** What it means, in a few words. */
  readonly help: string;
}

/** Flag values as parsed from the command line (absent flags are undefined). */
export type ConfigFlags = Readonly<Record<string, string | boolean | undefined>>;

/** Where one value came from, for messages. */
interface Source {
  readonly value: string | undefined;
  readonly name: string;
}

/** Inputs of {@link resolveConfig}: everything it reads, so it stays pure. */
export interface ConfigSources {
  /** Parsed flags. */
  readonly flags: ConfigFlags;
  /** The process environment. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The parsed `.env` file (empty when there is none). */
  readonly dotenv: Readonly<Record<string, string | undefined>>;
  /** Whether stdout is a terminal (picks the default log format). */
  readonly stdoutIsTerminal: boolean;
}

/** The default feed URL. */
export const DEFAULT_API_URL = "http://localhost/v1/scans/scanevents";
/** The default database. */
export const DEFAULT_DATABASE_URL = "sqlite:./scan-worker.db";
/** The largest page the worker asks for. */
export const MAX_LIMIT = 100_000;

/** Every setting, by the part of the configuration it belongs to (help text is made from it). */
export const SETTINGS: { readonly [S in Section]: readonly Setting[] } = {
  database: [
    {
      variable: "DATABASE_URL",
      flag: "db",
      fallback: DEFAULT_DATABASE_URL,
      help:
        "sqlite:PATH, postgres://user:pass@host:5432/db, mssql://user:pass@host:1433/db or Server=host,1433;Database=…;User Id=…;Password=…",
    },
    {
      variable: "DB_CONNECT_TIMEOUT_MS",
      fallback: "15000",
      help: "how long connecting to a database server may take",
    },
  ],
  api: [
    { variable: "SCAN_API_URL", flag: "api-url", fallback: DEFAULT_API_URL, help: "the feed URL" },
    { variable: "SCAN_API_LIMIT", flag: "limit", fallback: "100", help: "events per page" },
    {
      variable: "SCAN_API_TIMEOUT_MS",
      flag: "api-timeout-ms",
      fallback: "10000",
      help: "per request",
    },
    { variable: "SCAN_API_TOKEN", fallback: "unset", help: "bearer token sent to the API" },
    {
      variable: "SCAN_API_MAX_BODY_BYTES",
      fallback: "52428800",
      help: "larger responses are refused",
    },
  ],
  worker: [
    {
      variable: "POLL_INTERVAL_MS",
      flag: "poll-interval-ms",
      fallback: "5000",
      help: "wait after a short or empty page",
    },
    {
      variable: "METRICS_PORT",
      flag: "metrics-port",
      fallback: "unset",
      help: "serve /healthz, /readyz, /metrics (0: any free port)",
    },
    { variable: "METRICS_HOST", fallback: "127.0.0.1", help: "the listener's interface" },
    { variable: "RETRY_BASE_MS", fallback: "500", help: "first retry wait, doubling per attempt" },
    { variable: "RETRY_MAX_MS", fallback: "30000", help: "longest retry wait" },
    { variable: "LOCK_RETRY_MS", fallback: "5000", help: "how often a standby retries the lock" },
    { variable: "LOG_PROGRESS_MS", fallback: "10000", help: "progress line interval" },
  ],
  nats: [
    {
      variable: "NATS_URL",
      fallback: "unset",
      help:
        "publish accepted events to NATS JetStream: nats://[user:pass@]host:4222 or nats://token@host",
    },
    { variable: "NATS_CREDS_FILE", fallback: "unset", help: "a creds file to log in with" },
    { variable: "NATS_STREAM", fallback: "SCAN_EVENTS", help: "the JetStream stream" },
    {
      variable: "NATS_STREAM_MAX_AGE",
      fallback: "7d",
      help: "how long a stream it creates keeps messages (30m, 12h, 7d)",
    },
    {
      variable: "OUTBOX_MAX_ROWS",
      fallback: "1000000",
      help: "ingest pauses while this many events wait to be published",
    },
    {
      variable: "NATS_GROUP",
      flag: "group",
      fallback: "unset",
      help: "with run --source nats: join this consumer group (members share one database)",
    },
  ],
  logging: [
    {
      variable: "LOG_LEVEL",
      flag: "log-level",
      fallback: "info",
      help: "debug, info, warning, error",
    },
    {
      variable: "LOG_FORMAT",
      flag: "log-format",
      fallback: "json, or pretty on a terminal",
      help: "json or pretty",
    },
  ],
};

/** The flag of each variable that has one. */
const FLAGS: ReadonlyMap<string, string> = new Map(
  Object.values(SETTINGS).flat().flatMap((s) => (s.flag ? [[s.variable, s.flag]] : [])),
);

function pick(sources: ConfigSources, variable: string): Source {
  const flag = FLAGS.get(variable);
  const label = flag === undefined ? variable : `${variable} (--${flag})`;
  const flagValue = flag === undefined ? undefined : sources.flags[flag];
  const value = (typeof flagValue === "string" ? flagValue : undefined) ?? sources.env[variable] ??
    sources.dotenv[variable];
  return { value, name: label };
}

function integer(source: Source, fallback: number, min: number, max: number): number {
  if (source.value === undefined) return fallback;
  const text = source.value.trim();
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new ConfigError(
      source.name,
      `${JSON.stringify(source.value)} is not a whole number from ${min} to ${max}`,
    );
  }
  return Number(text);
}

function oneOf<T extends string>(source: Source, allowed: readonly T[], fallback: T): T {
  if (source.value === undefined) return fallback;
  const value = source.value.trim().toLowerCase();
  const found = allowed.find((a) => a === value);
  if (found === undefined) {
    throw new ConfigError(
      source.name,
      `${JSON.stringify(source.value)} is not one of ${allowed.join(", ")}`,
    );
  }
  return found;
}

function apiUrl(source: Source): string {
  const text = source.value?.trim() || DEFAULT_API_URL;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(source.name, `${JSON.stringify(text)} is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(source.name, `${JSON.stringify(text)} is not an http(s) URL`);
  }
  if (url.username !== "" || url.password !== "") {
    throw new ConfigError(
      source.name,
      "credentials in the URL are not allowed; use SCAN_API_TOKEN",
    );
  }
  if (url.search !== "" || url.hash !== "") {
    throw new ConfigError(
      source.name,
      "must not carry a query or fragment; FromEventId and Limit are added by the worker",
    );
  }
  return url.href;
}

/**
 * Parse `DATABASE_URL` into a store target (docs/rules.md §4).
 * @example parseDatabaseUrl("sqlite:./data/scan.db") // { kind: "sqlite", path: "./data/scan.db" }
 */
export function parseDatabaseUrl(text: string, setting = "DATABASE_URL (--db)"): DatabaseTarget {
  const value = text.trim();
  if (/^sqlite:/i.test(value)) {
    const path = value.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
    if (path === "") {
      throw new ConfigError(setting, `"sqlite:" needs a file path, e.g. sqlite:./scan-worker.db`);
    }
    return { kind: "sqlite", path };
  }
  if (/^postgres(ql)?:\/\//i.test(value)) return { kind: "postgres", url: value };
  if (/^mssql:\/\//i.test(value) || /(^|;)\s*(server|data source)\s*=/i.test(value)) {
    return { kind: "mssql", url: value };
  }
  throw new ConfigError(
    setting,
    "expected sqlite:PATH, postgres://…, mssql://… or an ADO.NET string Server=…;Database=…",
  );
}

/**
 * Parse `NATS_URL`: one or more `nats://` (or `tls://`) URLs, separated by commas; credentials in
 * the first one log in (`user:pass@` a user, `token@` a token).
 * @example parseNatsUrl("nats://app:pw@broker:4222") // { servers: ["broker:4222"], user: "app", pass: "pw", token: null }
 */
export function parseNatsUrl(text: string, setting = "NATS_URL"): NatsTarget {
  const servers: string[] = [];
  let login: Pick<NatsTarget, "user" | "pass" | "token"> = { user: null, pass: null, token: null };
  for (const [i, part] of text.split(",").map((p) => p.trim()).entries()) {
    const scheme = /^(nats|tls):\/\//i.exec(part)?.[1];
    let url: URL;
    try {
      url = new URL(part.replace(/^(nats|tls):/i, "http:"));
    } catch {
      url = new URL("http://invalid");
    }
    if (
      scheme === undefined || url.hostname === "" || url.hostname === "invalid" ||
      url.pathname.length > 1
    ) {
      throw new ConfigError(
        setting,
        `${JSON.stringify(redactNatsUrl(part))} is not nats://[user:pass@]host[:port]`,
      );
    }
    servers.push(
      `${scheme.toLowerCase() === "tls" ? "tls://" : ""}${url.hostname}:${url.port || "4222"}`,
    );
    if (i === 0 && url.username !== "") {
      const name = decodeURIComponent(url.username);
      login = url.password === ""
        ? { user: null, pass: null, token: name }
        : { user: name, pass: decodeURIComponent(url.password), token: null };
    }
  }
  return { servers, ...login };
}

/**
 * `NATS_URL` with its password or token replaced by `***`, safe to log.
 * @example redactNatsUrl("nats://app:pw@broker:4222") // "nats://app:***@broker:4222"
 */
export function redactNatsUrl(text: string): string {
  return text
    .replace(/(^|,)\s*([a-z]+:\/\/[^:/@,]*):[^@/,]*@/gi, "$1$2:***@")
    .replace(/(^|,)\s*([a-z]+:\/\/)[^:/@,]+@/gi, "$1$2***@");
}

/** A stream name: letters, digits, `_` and `-` (NATS forbids spaces, `.`, `*`, `>`, slashes). */
function streamName(source: Source): string {
  const name = source.value?.trim() || "SCAN_EVENTS";
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) {
    throw new ConfigError(
      source.name,
      `${JSON.stringify(name)} is not a stream name (A-Z a-z 0-9 _ -)`,
    );
  }
  return name;
}

/** A consumer group's name (a JetStream consumer name: letters, digits, `_`, `-`), or null. */
function groupName(source: Source): string | null {
  const name = source.value?.trim() ?? "";
  if (name === "") return null;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) {
    throw new ConfigError(
      source.name,
      `${JSON.stringify(name)} is not a group name (1 to 64 of A-Z a-z 0-9 _ -)`,
    );
  }
  return name;
}

/** A duration: `30m`, `12h`, `7d`, `45s`, or a number of seconds; in milliseconds. */
function duration(source: Source, fallback: number): number {
  if (source.value === undefined || source.value.trim() === "") return fallback;
  const match = /^(\d+)\s*(s|m|h|d)?$/i.exec(source.value.trim());
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  const ms = match
    ? Number(match[1]) * unit[(match[2]?.toLowerCase() ?? "s") as keyof typeof unit]
    : 0;
  if (!(ms > 0) || !Number.isSafeInteger(ms)) {
    throw new ConfigError(
      source.name,
      `${JSON.stringify(source.value)} is not a duration like 30m, 12h or 7d`,
    );
  }
  return ms;
}

/**
 * A database URL or ADO.NET string with its password replaced by `***`, safe to log.
 * @example redactDatabaseUrl("postgres://app:s3cret@db/scan") // "postgres://app:***@db/scan"
 */
export function redactDatabaseUrl(text: string): string {
  return text
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, "$1:***@")
    .replace(/((?:^|;)\s*(?:password|pwd)\s*=\s*)("[^"]*"|'[^']*'|\{[^}]*\}|[^;]*)/gi, "$1***");
}

/** How each part of the configuration is resolved from its sources. */
const RESOLVERS: { readonly [S in Section]: (sources: ConfigSources) => ConfigSections[S] } = {
  database(sources) {
    const databaseUrl = pick(sources, "DATABASE_URL");
    const text = databaseUrl.value?.trim() || DEFAULT_DATABASE_URL;
    return {
      database: parseDatabaseUrl(text, databaseUrl.name),
      databaseForLog: redactDatabaseUrl(text),
      connectTimeoutMs: integer(pick(sources, "DB_CONNECT_TIMEOUT_MS"), 15_000, 1, 3_600_000),
    };
  },
  api(sources) {
    const token = pick(sources, "SCAN_API_TOKEN").value?.trim();
    return {
      apiUrl: apiUrl(pick(sources, "SCAN_API_URL")),
      limit: integer(pick(sources, "SCAN_API_LIMIT"), 100, 1, MAX_LIMIT),
      apiToken: token ? token : null,
      apiTimeoutMs: integer(pick(sources, "SCAN_API_TIMEOUT_MS"), 10_000, 1, 3_600_000),
      maxBodyBytes: integer(
        pick(sources, "SCAN_API_MAX_BODY_BYTES"),
        50 * 1024 * 1024,
        1024,
        2 ** 31,
      ),
    };
  },
  worker(sources) {
    const metricsPort = pick(sources, "METRICS_PORT");
    const worker: WorkerConfig = {
      pollIntervalMs: integer(pick(sources, "POLL_INTERVAL_MS"), 5000, 0, 86_400_000),
      retryBaseMs: integer(pick(sources, "RETRY_BASE_MS"), 500, 1, 3_600_000),
      retryMaxMs: integer(pick(sources, "RETRY_MAX_MS"), 30_000, 1, 3_600_000),
      lockRetryMs: integer(pick(sources, "LOCK_RETRY_MS"), 5000, 1, 3_600_000),
      progressIntervalMs: integer(pick(sources, "LOG_PROGRESS_MS"), 10_000, 1, 86_400_000),
      metricsPort: metricsPort.value === undefined || metricsPort.value.trim() === ""
        ? null
        : integer(metricsPort, 0, 0, 65_535),
      metricsHost: pick(sources, "METRICS_HOST").value?.trim() || "127.0.0.1",
    };
    if (worker.retryBaseMs > worker.retryMaxMs) {
      throw new ConfigError(
        "RETRY_BASE_MS",
        `${worker.retryBaseMs} is above RETRY_MAX_MS (${worker.retryMaxMs})`,
      );
    }
    return worker;
  },
  nats(sources) {
    const url = pick(sources, "NATS_URL");
    const text = url.value?.trim() ?? "";
    const creds = pick(sources, "NATS_CREDS_FILE").value?.trim() ?? "";
    return {
      nats: text === "" ? null : parseNatsUrl(text, url.name),
      natsForLog: text === "" ? null : redactNatsUrl(text),
      natsCredsFile: creds === "" ? null : creds,
      natsStream: streamName(pick(sources, "NATS_STREAM")),
      natsStreamMaxAgeMs: duration(pick(sources, "NATS_STREAM_MAX_AGE"), 7 * 86_400_000),
      outboxMaxRows: integer(pick(sources, "OUTBOX_MAX_ROWS"), 1_000_000, 1, 1_000_000_000),
      natsGroup: groupName(pick(sources, "NATS_GROUP")),
    };
  },
  logging(sources) {
    return {
      logLevel: oneOf(pick(sources, "LOG_LEVEL"), LOG_LEVELS, "info"),
      logFormat: oneOf<LogFormat>(
        pick(sources, "LOG_FORMAT"),
        ["json", "pretty"],
        sources.stdoutIsTerminal ? "pretty" : "json",
      ),
    };
  },
};

/**
 * Resolve the parts of the configuration a command needs, flags > environment > `.env` >
 * defaults, into one frozen object; the other parts are not read, so their settings cannot
 * stop the command.
 * @throws ConfigError naming the first invalid setting.
 */
export function resolveSections<S extends Section>(
  sources: ConfigSources,
  needs: readonly S[],
): SectionsConfig<S> {
  const config = {};
  for (const section of new Set(needs)) Object.assign(config, RESOLVERS[section](sources));
  return Object.freeze(config) as SectionsConfig<S>;
}

/** `A | B` as `A & B`. */
type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends
  (x: infer I) => void ? I : never;

/** The settings of the parts `S` of the configuration, as one object. */
export type SectionsConfig<S extends Section> = Readonly<UnionToIntersection<ConfigSections[S]>>;

/**
 * Resolve every setting into one frozen {@link Config}.
 * @throws ConfigError naming the first invalid setting.
 */
export function resolveConfig(sources: ConfigSources): Config {
  return resolveSections(sources, ["api", "worker", "database", "nats", "logging"]);
}

/**
 * Read `.env` from the working directory; an absent file is an empty map.
 * @throws ConfigError when the file exists but cannot be read.
 */
export function readDotEnv(path = ".env"): Record<string, string | undefined> {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return {};
    throw new ConfigError(path, `cannot be read: ${(error as Error).message}`);
  }
  return { ...parseEnv(text) };
}
