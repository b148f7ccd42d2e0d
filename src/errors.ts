/**
 * The errors the command line turns into exit codes, and the one map from an error to its code:
 * 0 ok, 1 runtime failure, 2 usage or configuration error.
 *
 * @module
 */

/** The program's exit codes. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** A wrong command line: an unknown command or flag, a bad argument. Exit 2. */
export class UsageError extends Error {
  /** @param message what is wrong, in one line. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** An invalid setting (environment variable, flag or `.env` line), named. Exit 2. */
export class ConfigError extends UsageError {
  /** The environment variable (and flag) at fault. */
  readonly setting: string;

  /** @param setting e.g. `SCAN_API_LIMIT (--limit)`; @param problem what is wrong with it. */
  constructor(setting: string, problem: string) {
    super(`invalid ${setting}: ${problem}`);
    this.name = "ConfigError";
    this.setting = setting;
  }
}

/**
 * A command that cannot do what it was asked, for a reason the operator can act on (a parcel
 * that is not there, a reset refused while a worker runs). Said in one line, exit 1.
 */
export class CommandError extends Error {
  /** @param message what stopped the command, in one line. */
  constructor(message: string) {
    super(message);
    this.name = "CommandError";
  }
}

/**
 * The exit code for an error that ended a command: 2 for a usage or configuration error, 1 for
 * anything else.
 * @example exitCode(new ConfigError("LOG_LEVEL", "…")) // 2
 */
export function exitCode(error: unknown): number {
  return error instanceof UsageError ? EXIT.usage : EXIT.failure;
}

/**
 * The database could not be reached at start-up within `DB_CONNECT_TIMEOUT_MS`, or it refused the
 * worker's login: one line naming the store, `DATABASE_URL` (masked) and the cause. Exit 1.
 */
export class DatabaseUnavailableError extends Error {
  /**
   * @param store the store's name; @param database `DATABASE_URL` masked;
   * @param problem what went wrong (with the cause's message); @param cause the store's error.
   */
  constructor(store: string, database: string, problem: string, cause: unknown) {
    super(`${store} at ${database}: ${problem}`, { cause });
    this.name = "DatabaseUnavailableError";
  }
}
