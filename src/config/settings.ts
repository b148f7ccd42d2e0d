/**
 * Every setting of the program, each with its default, range, parser and help in one place, and
 * the sections a command may need (a command reads, and its help lists, only its sections'
 * settings).
 *
 * @module
 */

import {
  type AnySetting,
  credsFile,
  duration,
  groupName,
  oneOf,
  optional,
  type Setting,
  setting,
  streamName,
  trimmed,
  wholeNumber,
} from "./setting.ts";
import {
  type DatabaseTarget,
  type NatsTarget,
  parseApiUrl,
  parseDatabaseUrl,
  parseNatsUrl,
} from "./url.ts";
import { redactDatabaseUrl, redactNatsUrl } from "./mask.ts";

/** Log levels accepted by `LOG_LEVEL`. */
export const LOG_LEVELS = ["debug", "info", "warning", "error"] as const;
/** A log level. */
export type LogLevel = typeof LOG_LEVELS[number];
/** Log output formats accepted by `LOG_FORMAT`. */
export const LOG_FORMATS = ["json", "pretty"] as const;
/** A log output format. */
export type LogFormat = typeof LOG_FORMATS[number];

/** The largest page the worker asks for. */
export const MAX_LIMIT = 100_000;

/** A parsed URL setting and its text masked for printing. */
export interface Masked<T> {
  readonly target: T;
  readonly forLog: string;
}

/** A millisecond setting up to one hour. */
const ms = (min = 1, max = 3_600_000) => wholeNumber(min, max);

export const DATABASE_URL: Setting<Masked<DatabaseTarget>> = setting({
  variable: "DATABASE_URL",
  flag: "db",
  fallback: "sqlite:./scan-worker.db",
  help:
    "sqlite:PATH, postgres://user:pass@host:5432/db, mssql://user:pass@host:1433/db or Server=host,1433;Database=…;User Id=…;Password=…",
  parse: (text, name) => ({
    target: parseDatabaseUrl(text, name),
    forLog: redactDatabaseUrl(text.trim()),
  }),
});
export const DB_CONNECT_TIMEOUT_MS = setting({
  variable: "DB_CONNECT_TIMEOUT_MS",
  fallback: "15000",
  help: "how long connecting to a database server may take",
  parse: ms(),
});

export const SCAN_API_URL = setting({
  variable: "SCAN_API_URL",
  flag: "api-url",
  fallback: "http://localhost/v1/scans/scanevents",
  help: "the feed URL",
  parse: parseApiUrl,
});
export const SCAN_API_LIMIT = setting({
  variable: "SCAN_API_LIMIT",
  flag: "limit",
  fallback: "100",
  help: "events per page",
  parse: wholeNumber(1, MAX_LIMIT),
});
export const SCAN_API_TIMEOUT_MS = setting({
  variable: "SCAN_API_TIMEOUT_MS",
  flag: "api-timeout-ms",
  fallback: "10000",
  help: "per request",
  parse: ms(),
});
export const SCAN_API_TOKEN = optional({
  variable: "SCAN_API_TOKEN",
  help: "bearer token sent to the API (never printed)",
  parse: trimmed,
});
export const SCAN_API_MAX_BODY_BYTES = setting({
  variable: "SCAN_API_MAX_BODY_BYTES",
  fallback: "52428800",
  help: "larger responses are refused",
  parse: wholeNumber(1024, 2 ** 31),
});

export const POLL_INTERVAL_MS = setting({
  variable: "POLL_INTERVAL_MS",
  flag: "poll-interval-ms",
  fallback: "5000",
  help: "wait after a short or empty page",
  parse: ms(0, 86_400_000),
});
export const METRICS_PORT = optional({
  variable: "METRICS_PORT",
  flag: "metrics-port",
  help: "serve /healthz, /readyz, /metrics (0: any free port)",
  parse: wholeNumber(0, 65_535),
});
export const METRICS_HOST = setting({
  variable: "METRICS_HOST",
  fallback: "127.0.0.1",
  help: "the listener's interface",
  parse: trimmed,
});
export const RETRY_BASE_MS = setting({
  variable: "RETRY_BASE_MS",
  fallback: "500",
  help: "first retry wait, doubling per attempt",
  parse: ms(),
});
export const RETRY_MAX_MS = setting({
  variable: "RETRY_MAX_MS",
  fallback: "30000",
  help: "longest retry wait",
  parse: ms(),
});
export const LOCK_RETRY_MS = setting({
  variable: "LOCK_RETRY_MS",
  fallback: "5000",
  help: "how often a standby retries the lock",
  parse: ms(),
});
export const LOG_PROGRESS_MS = setting({
  variable: "LOG_PROGRESS_MS",
  fallback: "10000",
  help: "progress line interval",
  parse: ms(1, 86_400_000),
});
export const LATE_EVENT_WINDOW_MS = setting({
  variable: "LATE_EVENT_WINDOW_MS",
  fallback: "60000",
  help: "re-read the feed's head for late events this long (0: off)",
  parse: ms(0, 86_400_000),
});

export const NATS_URL: Setting<Masked<NatsTarget> | null> = optional({
  variable: "NATS_URL",
  help:
    "NATS JetStream: publish accepted events there (run --source nats: read them): nats://[user:pass@]host:4222 or nats://token@host",
  parse: (text, name) => ({ target: parseNatsUrl(text, name), forLog: redactNatsUrl(text.trim()) }),
});
export const NATS_CREDS_FILE = optional({
  variable: "NATS_CREDS_FILE",
  help: "a creds file to log in with (checked at start)",
  parse: credsFile,
});
export const NATS_STREAM = setting({
  variable: "NATS_STREAM",
  fallback: "SCAN_EVENTS",
  help: "the JetStream stream",
  parse: streamName,
});
export const NATS_STREAM_MAX_AGE = setting({
  variable: "NATS_STREAM_MAX_AGE",
  fallback: "7d",
  help: "how long a stream it creates keeps messages (30m, 12h, 7d)",
  parse: duration,
});
export const OUTBOX_MAX_ROWS = setting({
  variable: "OUTBOX_MAX_ROWS",
  fallback: "1000000",
  help: "ingest pauses while this many events wait to be published",
  parse: wholeNumber(1, 1_000_000_000),
});
export const NATS_GROUP = optional({
  variable: "NATS_GROUP",
  flag: "group",
  help:
    "run --source nats: join this consumer group, members sharing one database; status: show its counts",
  parse: groupName,
});

export const LOG_LEVEL = setting({
  variable: "LOG_LEVEL",
  flag: "log-level",
  fallback: "info",
  help: LOG_LEVELS.join(", "),
  parse: oneOf(LOG_LEVELS),
});
export const LOG_FORMAT: Setting<LogFormat> = {
  variable: "LOG_FORMAT",
  flag: "log-format",
  help: LOG_FORMATS.join(" or "),
  shown: "json, or pretty on a terminal",
  fallback: (context) => context.stdoutIsTerminal ? "pretty" : "json",
  parse: oneOf(LOG_FORMATS),
};

/**
 * The sections of the configuration and their settings. `apiLink` and `natsLink` are what it
 * takes to reach the API and the stream; `api` and `nats` add what the worker does with them.
 */
export const SECTION_SETTINGS = {
  database: [DATABASE_URL, DB_CONNECT_TIMEOUT_MS],
  apiLink: [SCAN_API_URL, SCAN_API_TIMEOUT_MS, SCAN_API_TOKEN, SCAN_API_MAX_BODY_BYTES],
  api: [SCAN_API_URL, SCAN_API_LIMIT, SCAN_API_TIMEOUT_MS, SCAN_API_TOKEN, SCAN_API_MAX_BODY_BYTES],
  worker: [
    POLL_INTERVAL_MS,
    METRICS_PORT,
    METRICS_HOST,
    RETRY_BASE_MS,
    RETRY_MAX_MS,
    LOCK_RETRY_MS,
    LOG_PROGRESS_MS,
    LATE_EVENT_WINDOW_MS,
  ],
  natsLink: [NATS_URL, NATS_CREDS_FILE, NATS_STREAM, NATS_STREAM_MAX_AGE],
  nats: [NATS_URL, NATS_CREDS_FILE, NATS_STREAM, NATS_STREAM_MAX_AGE, OUTBOX_MAX_ROWS],
  group: [NATS_GROUP],
  logging: [LOG_LEVEL, LOG_FORMAT],
} as const satisfies Record<string, readonly AnySetting[]>;

/** The name of a section of the configuration. */
export type Section = keyof typeof SECTION_SETTINGS;

/** The settings of some sections, each once, in the order the sections list them. */
export function settingsOf(sections: readonly Section[]): AnySetting[] {
  return [...new Set(sections.flatMap((s): readonly AnySetting[] => SECTION_SETTINGS[s]))];
}
