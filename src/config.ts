/**
 * Configuration (SPEC §5): flags override environment variables, which override a `.env`
 * file in the working directory, which overrides defaults. The result is one frozen
 * {@link Config}, or a {@link ConfigError} naming the setting.
 *
 * @module
 */

import { parseEnv } from "node:util";

/** Log levels accepted by `LOG_LEVEL`. */
export const LOG_LEVELS = ["debug", "info", "warning", "error"] as const;
/** A log level. */
export type LogLevel = typeof LOG_LEVELS[number];
/** Log output formats accepted by `LOG_FORMAT`. */
export type LogFormat = "json" | "pretty";

/** Where the worker keeps its state, from `DATABASE_URL` (SPEC §4). */
export type DatabaseTarget =
  | { readonly kind: "sqlite"; readonly path: string }
  | { readonly kind: "postgres"; readonly url: string }
  | { readonly kind: "mssql"; readonly url: string };

/** The validated settings of one run of the program. */
export interface Config {
  /** `SCAN_API_URL`: the feed endpoint, without query. */
  readonly apiUrl: string;
  /** `SCAN_API_LIMIT`: events asked for per page. */
  readonly limit: number;
  /** `SCAN_API_TOKEN`: bearer token, or null. Never logged. */
  readonly apiToken: string | null;
  /** `SCAN_API_TIMEOUT_MS`: per-request timeout. */
  readonly apiTimeoutMs: number;
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
  /** `SCAN_API_MAX_BODY_BYTES`: a larger response body is refused and retried. */
  readonly maxBodyBytes: number;
  /** `METRICS_PORT`: the health and metrics listener's port, or null for none. */
  readonly metricsPort: number | null;
  /** `METRICS_HOST`: the listener's interface. */
  readonly metricsHost: string;
  /** `DATABASE_URL`, parsed. */
  readonly database: DatabaseTarget;
  /** `DATABASE_URL` with any password replaced by `***`, for logs. */
  readonly databaseForLog: string;
  /** `LOG_LEVEL`. */
  readonly logLevel: LogLevel;
  /** `LOG_FORMAT`. */
  readonly logFormat: LogFormat;
}

/** Raised for an invalid setting; the CLI prints its message and exits 2. */
export class ConfigError extends Error {
  /** The environment variable (and flag) at fault. */
  readonly setting: string;

  /** @param setting e.g. `SCAN_API_LIMIT (--limit)`; @param problem what is wrong with it. */
  constructor(setting: string, problem: string) {
    super(`invalid ${setting}: ${problem}`);
    this.name = "ConfigError";
    this.setting = setting;
  }
}

/** Flag values as parsed from the command line (absent flags are undefined). */
export interface ConfigFlags {
  readonly "api-url"?: string | undefined;
  readonly limit?: string | undefined;
  readonly "api-timeout-ms"?: string | undefined;
  readonly "poll-interval-ms"?: string | undefined;
  readonly db?: string | undefined;
  readonly "log-level"?: string | undefined;
  readonly "log-format"?: string | undefined;
  readonly "metrics-port"?: string | undefined;
}

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

/** The default feed URL (SPEC §2). */
export const DEFAULT_API_URL = "http://localhost/v1/scans/scanevents";
/** The default database (SPEC §4). */
export const DEFAULT_DATABASE_URL = "sqlite:./scan-worker.db";
/** The largest page the worker asks for. */
export const MAX_LIMIT = 100_000;

function pick(sources: ConfigSources, variable: string, flag?: keyof ConfigFlags): Source {
  const label = flag === undefined ? variable : `${variable} (--${flag})`;
  const flagValue = flag === undefined ? undefined : sources.flags[flag];
  const value = flagValue ?? sources.env[variable] ?? sources.dotenv[variable];
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
 * Parse `DATABASE_URL` into a store target (SPEC §4).
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
 * A database URL or ADO.NET string with its password replaced by `***`, safe to log.
 * @example redactDatabaseUrl("postgres://app:s3cret@db/scan") // "postgres://app:***@db/scan"
 */
export function redactDatabaseUrl(text: string): string {
  return text
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, "$1:***@")
    .replace(/((?:^|;)\s*(?:password|pwd)\s*=\s*)("[^"]*"|'[^']*'|\{[^}]*\}|[^;]*)/gi, "$1***");
}

/**
 * Resolve flags > environment > `.env` > defaults into one frozen {@link Config}.
 * @throws ConfigError naming the first invalid setting.
 */
export function resolveConfig(sources: ConfigSources): Config {
  const databaseUrl = pick(sources, "DATABASE_URL", "db");
  const databaseText = databaseUrl.value?.trim() || DEFAULT_DATABASE_URL;
  const token = pick(sources, "SCAN_API_TOKEN").value?.trim();
  const metricsPort = pick(sources, "METRICS_PORT", "metrics-port");
  const config: Config = Object.freeze({
    apiUrl: apiUrl(pick(sources, "SCAN_API_URL", "api-url")),
    limit: integer(pick(sources, "SCAN_API_LIMIT", "limit"), 100, 1, MAX_LIMIT),
    apiToken: token ? token : null,
    apiTimeoutMs: integer(
      pick(sources, "SCAN_API_TIMEOUT_MS", "api-timeout-ms"),
      10_000,
      1,
      3_600_000,
    ),
    pollIntervalMs: integer(
      pick(sources, "POLL_INTERVAL_MS", "poll-interval-ms"),
      5000,
      0,
      86_400_000,
    ),
    retryBaseMs: integer(pick(sources, "RETRY_BASE_MS"), 500, 1, 3_600_000),
    retryMaxMs: integer(pick(sources, "RETRY_MAX_MS"), 30_000, 1, 3_600_000),
    lockRetryMs: integer(pick(sources, "LOCK_RETRY_MS"), 5000, 1, 3_600_000),
    progressIntervalMs: integer(pick(sources, "LOG_PROGRESS_MS"), 10_000, 1, 86_400_000),
    maxBodyBytes: integer(
      pick(sources, "SCAN_API_MAX_BODY_BYTES"),
      50 * 1024 * 1024,
      1024,
      2 ** 31,
    ),
    metricsPort: metricsPort.value === undefined || metricsPort.value.trim() === ""
      ? null
      : integer(metricsPort, 0, 0, 65_535),
    metricsHost: pick(sources, "METRICS_HOST").value?.trim() || "127.0.0.1",
    database: parseDatabaseUrl(databaseText, databaseUrl.name),
    databaseForLog: redactDatabaseUrl(databaseText),
    logLevel: oneOf(pick(sources, "LOG_LEVEL", "log-level"), LOG_LEVELS, "info"),
    logFormat: oneOf<LogFormat>(
      pick(sources, "LOG_FORMAT", "log-format"),
      ["json", "pretty"],
      sources.stdoutIsTerminal ? "pretty" : "json",
    ),
  });
  if (config.retryBaseMs > config.retryMaxMs) {
    throw new ConfigError(
      "RETRY_BASE_MS",
      `${config.retryBaseMs} is above RETRY_MAX_MS (${config.retryMaxMs})`,
    );
  }
  return config;
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
