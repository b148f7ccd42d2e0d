/**
 * Configuration (docs/rules.md §5): flags override environment variables, which override a `.env`
 * file in the working directory, which overrides defaults. A command resolves the sections it
 * needs into one frozen object, or gets a {@link ConfigError} naming the setting.
 *
 * The settings themselves (default, range, parser, help) are in `config/settings.ts`; the URL
 * settings in `config/url.ts`, and the masking of every secret in `config/mask.ts`.
 *
 * @module
 */

import { parseEnv } from "node:util";
import { ConfigError } from "./errors.ts";
import type { AnySetting, Setting, SettingContext } from "./config/setting.ts";
import * as S from "./config/settings.ts";
import type { LogFormat, LogLevel, Section } from "./config/settings.ts";
import type { DatabaseTarget, NatsTarget } from "./config/url.ts";
import { secretsIn } from "./config/mask.ts";

export { LOG_LEVELS, MAX_LIMIT, SECTION_SETTINGS, settingsOf } from "./config/settings.ts";
export type { LogFormat, LogLevel, Section } from "./config/settings.ts";
export type { AnySetting, Setting } from "./config/setting.ts";
export { parseDatabaseUrl, parseNatsUrl } from "./config/url.ts";
export { redactDatabaseUrl, redactNatsUrl } from "./config/mask.ts";
export type { DatabaseTarget, NatsTarget } from "./config/url.ts";

/** `DATABASE_URL` and how to reach the database. */
export interface DatabaseConfig {
  /** `DATABASE_URL`, parsed. */
  readonly database: DatabaseTarget;
  /** `DATABASE_URL` with any password replaced by `***`, for logs. */
  readonly databaseForLog: string;
  /** `DB_CONNECT_TIMEOUT_MS`: how long one connection to a database server may take. */
  readonly connectTimeoutMs: number;
}

/** How to reach the upstream Scan Event API. */
export interface ApiLinkConfig {
  /** `SCAN_API_URL`: the feed endpoint, without query. */
  readonly apiUrl: string;
  /** `SCAN_API_TOKEN`: bearer token, or null. Never logged. */
  readonly apiToken: string | null;
  /** `SCAN_API_TIMEOUT_MS`: per-request timeout. */
  readonly apiTimeoutMs: number;
  /** `SCAN_API_MAX_BODY_BYTES`: a larger response body is refused and retried. */
  readonly maxBodyBytes: number;
}

/** The upstream Scan Event API, as the worker reads it. */
export interface ApiConfig extends ApiLinkConfig {
  /** `SCAN_API_LIMIT`: events asked for per page. */
  readonly limit: number;
}

/** How retries are spaced. */
export interface RetryConfig {
  /** `RETRY_BASE_MS`: the first retry waits up to this long (doubling per attempt). */
  readonly retryBaseMs: number;
  /** `RETRY_MAX_MS`: the longest wait between retries (and the wait after a 4xx). */
  readonly retryMaxMs: number;
}

/** How the worker loop paces itself, retries, and shows its health. */
export interface WorkerConfig extends RetryConfig {
  /** `POLL_INTERVAL_MS`: wait after a short or empty page. */
  readonly pollIntervalMs: number;
  /** `LOCK_RETRY_MS`: how often a standby instance retries the feed lock. */
  readonly lockRetryMs: number;
  /** `LOG_PROGRESS_MS`: while catching up, one progress line this often. */
  readonly progressIntervalMs: number;
  /** `LATE_EVENT_WINDOW_MS`: how long a stepped-over EventId is looked for again (0: off). */
  readonly lateEventWindowMs: number;
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

/** How to reach the downstream stream (docs/rules.md §7). */
export interface NatsLinkConfig {
  /** `NATS_URL`, parsed; null when unset: nothing goes downstream. */
  readonly nats: NatsTarget | null;
  /** `NATS_URL` with any password or token replaced by `***`, for logs. */
  readonly natsForLog: string | null;
  /** `NATS_CREDS_FILE`: a readable creds file (JWT and seed) to log in with, or null. */
  readonly natsCredsFile: string | null;
  /** `NATS_STREAM`: the JetStream stream. */
  readonly natsStream: string;
  /** `NATS_STREAM_MAX_AGE`: how long the stream keeps a message, when it creates the stream. */
  readonly natsStreamMaxAgeMs: number;
}

/** The downstream stream, as the worker's relay uses it. */
export interface NatsConfig extends NatsLinkConfig {
  /** `OUTBOX_MAX_ROWS`: ingest pauses while this many events wait to be published. */
  readonly outboxMaxRows: number;
}

/** A consumer group (`run --source nats --group`, `status --group`). */
export interface GroupConfig {
  /** `NATS_GROUP` (`--group`): the group this instance joins or reports, or null. */
  readonly natsGroup: string | null;
}

/** The parts of the configuration, by name: a command resolves only those it needs. */
export interface ConfigSections {
  readonly database: DatabaseConfig;
  readonly apiLink: ApiLinkConfig;
  readonly api: ApiConfig;
  readonly worker: WorkerConfig;
  readonly natsLink: NatsLinkConfig;
  readonly nats: NatsConfig;
  readonly group: GroupConfig;
  readonly logging: LoggingConfig;
}

/** Every setting of the program, validated. */
export type Config =
  & DatabaseConfig
  & ApiConfig
  & WorkerConfig
  & NatsConfig
  & GroupConfig
  & LoggingConfig;

/** Flag values as parsed from the command line (absent flags are undefined). */
export type ConfigFlags = Readonly<Record<string, string | boolean | undefined>>;

/** Inputs of {@link resolveSections}: everything it reads. */
export interface ConfigSources {
  /** Parsed flags. */
  readonly flags: ConfigFlags;
  /** The process environment. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The parsed `.env` file (empty when there is none). */
  readonly dotenv: Readonly<Record<string, string | undefined>>;
  /** Whether stdout is a terminal (picks the default log format). */
  readonly stdoutIsTerminal: boolean;
  /** Read a file a setting names (`NATS_CREDS_FILE`); the file system's by default. */
  readonly readTextFile?: (path: string) => string;
}

/**
 * A setting's text as given (flag, then environment, then `.env`), and its name for messages. A
 * blank text counts as not given at its level, so the next one applies (`SCAN_API_LIMIT=` in the
 * environment leaves `.env`'s value in force).
 */
function given(sources: ConfigSources, s: AnySetting): { text: string | undefined; name: string } {
  const flagValue = s.flag === undefined ? undefined : sources.flags[s.flag];
  const set = (text: unknown) => typeof text === "string" && text.trim() !== "" ? text : undefined;
  const text = set(flagValue) ?? set(sources.env[s.variable]) ?? set(sources.dotenv[s.variable]);
  return { text, name: s.flag === undefined ? s.variable : `${s.variable} (--${s.flag})` };
}

/** Read one setting: its parsed value, or its default when unset or blank. */
function read<T>(sources: ConfigSources, s: Setting<T>): T {
  const context: SettingContext = {
    stdoutIsTerminal: sources.stdoutIsTerminal,
    readTextFile: sources.readTextFile ?? ((path) => Deno.readTextFileSync(path)),
  };
  const { text, name } = given(sources, s);
  return text === undefined ? s.fallback(context) : s.parse(text, name, context);
}

function apiLink(sources: ConfigSources): ApiLinkConfig {
  return {
    apiUrl: read(sources, S.SCAN_API_URL),
    apiToken: read(sources, S.SCAN_API_TOKEN),
    apiTimeoutMs: read(sources, S.SCAN_API_TIMEOUT_MS),
    maxBodyBytes: read(sources, S.SCAN_API_MAX_BODY_BYTES),
  };
}

function natsLink(sources: ConfigSources): NatsLinkConfig {
  const url = read(sources, S.NATS_URL);
  return {
    nats: url?.target ?? null,
    natsForLog: url?.forLog ?? null,
    natsCredsFile: read(sources, S.NATS_CREDS_FILE),
    natsStream: read(sources, S.NATS_STREAM),
    natsStreamMaxAgeMs: read(sources, S.NATS_STREAM_MAX_AGE),
  };
}

function worker(sources: ConfigSources): WorkerConfig {
  const config: WorkerConfig = {
    pollIntervalMs: read(sources, S.POLL_INTERVAL_MS),
    retryBaseMs: read(sources, S.RETRY_BASE_MS),
    retryMaxMs: read(sources, S.RETRY_MAX_MS),
    lockRetryMs: read(sources, S.LOCK_RETRY_MS),
    progressIntervalMs: read(sources, S.LOG_PROGRESS_MS),
    lateEventWindowMs: read(sources, S.LATE_EVENT_WINDOW_MS),
    metricsPort: read(sources, S.METRICS_PORT),
    metricsHost: read(sources, S.METRICS_HOST),
  };
  if (config.retryBaseMs > config.retryMaxMs) {
    throw new ConfigError(
      "RETRY_BASE_MS",
      `${config.retryBaseMs} is above RETRY_MAX_MS (${config.retryMaxMs})`,
    );
  }
  return config;
}

/** How each section of the configuration is resolved from its sources. */
const RESOLVERS: { readonly [K in Section]: (sources: ConfigSources) => ConfigSections[K] } = {
  database(sources) {
    const url = read(sources, S.DATABASE_URL);
    return {
      database: url.target,
      databaseForLog: url.forLog,
      connectTimeoutMs: read(sources, S.DB_CONNECT_TIMEOUT_MS),
    };
  },
  apiLink,
  api: (sources) => ({ ...apiLink(sources), limit: read(sources, S.SCAN_API_LIMIT) }),
  worker,
  natsLink,
  nats: (sources) => ({ ...natsLink(sources), outboxMaxRows: read(sources, S.OUTBOX_MAX_ROWS) }),
  group: (sources) => ({ natsGroup: read(sources, S.NATS_GROUP) }),
  logging: (sources) => ({
    logLevel: read(sources, S.LOG_LEVEL),
    logFormat: read(sources, S.LOG_FORMAT),
  }),
};

/**
 * Resolve the sections of the configuration a command needs, flags > environment > `.env` >
 * defaults, into one frozen object; other settings are not read, so they cannot stop it.
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * const sources = { flags: { limit: "50" }, env: { SCAN_API_LIMIT: "20", OUTBOX_MAX_ROWS: "abc" }, dotenv: {}, stdoutIsTerminal: false };
 * strictEqual(resolveSections(sources, ["api"]).limit, 50);
 * ```
 * @throws ConfigError naming the first invalid setting.
 */
export function resolveSections<K extends Section>(
  sources: ConfigSources,
  needs: readonly K[],
): SectionsConfig<K> {
  const config = {};
  for (const section of new Set(needs)) Object.assign(config, RESOLVERS[section](sources));
  return Object.freeze(config) as SectionsConfig<K>;
}

/** `A | B` as `A & B`. */
type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends
  (x: infer I) => void ? I : never;

/** The settings of the sections `K` of the configuration, as one object. */
export type SectionsConfig<K extends Section> = Readonly<UnionToIntersection<ConfigSections[K]>>;

/**
 * Resolve every setting into one frozen {@link Config}.
 * @throws ConfigError naming the first invalid setting.
 */
export function resolveConfig(sources: ConfigSources): Config {
  return resolveSections(sources, ["api", "worker", "database", "nats", "group", "logging"]);
}

/**
 * The secrets the sources hold (passwords and tokens in `DATABASE_URL`, `NATS_URL`,
 * `SCAN_API_URL`, `SCAN_API_TOKEN`), found even in values that do not parse: what no output
 * may show.
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * const env = { DATABASE_URL: "postgres://app:pw12@db:oops/x", SCAN_API_TOKEN: "t0ken" };
 * deepStrictEqual(secretsOf({ flags: {}, env, dotenv: {}, stdoutIsTerminal: false }), ["pw12", "t0ken"]);
 * ```
 */
export function secretsOf(sources: ConfigSources): string[] {
  return [S.DATABASE_URL, S.NATS_URL, S.SCAN_API_URL, S.SCAN_API_TOKEN].flatMap((s) => {
    const { text } = given(sources, s);
    return text === undefined ? [] : secretsIn(text, s === S.SCAN_API_TOKEN);
  });
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
