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
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * strictEqual(exitCode(new ConfigError("LOG_LEVEL", '"loud" is not one of debug, info, warning, error')), 2);
 * strictEqual(exitCode(new CommandError("parcel 5002 is not in ParcelStates")), 1);
 * strictEqual(exitCode(new Error("connect ECONNREFUSED")), 1);
 * ```
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

/** Raised when the database's schema does not match this program's migrations. */
export class MigrationError extends Error {
  /** @param message what is wrong, naming the migration. */
  constructor(message: string) {
    super(message);
    this.name = "MigrationError";
  }
}

/** Raised when the tables are missing (the database was never migrated). */
export class SchemaMissingError extends Error {
  /** @param detail where it was noticed. */
  constructor(detail: string) {
    super(
      `the database has no scan-worker tables (${detail}); run "scan-worker migrate" or start "run" without --no-migrate`,
    );
    this.name = "SchemaMissingError";
  }
}

/**
 * No connection to the database server within `DB_CONNECT_TIMEOUT_MS`: the server does not
 * answer (or not in time). Transient: the loop retries it; at start-up the command stops.
 */
export class ConnectTimeoutError extends Error {
  /** @param store the store's name; @param doing the operation; @param ms the bound; @param cause the driver's error. */
  constructor(store: string, doing: string, ms: number, cause: unknown) {
    super(
      `${store}: no connection within ${ms} ms (DB_CONNECT_TIMEOUT_MS) while ${doing}; the server does not answer`,
      { cause },
    );
    this.name = "ConnectTimeoutError";
  }
}

/**
 * A database error that retrying cannot fix: a syntax error, a missing table or column, a
 * permission denied, a value too long. The worker stops with exit 1 on it and one line that
 * names the store, the error code and what it was doing.
 */
export class PermanentStoreError extends Error {
  /** The store: `SQLite`, `PostgreSQL`, `SQL Server`. */
  readonly store: string;
  /** The database's code for the error, e.g. `SQLSTATE 42501`. */
  readonly code: string;
  /** What the store was doing, e.g. `writing page 101..200`. */
  readonly doing: string;

  /**
   * @param store the store's name; @param code the error's code; @param doing the operation;
   * @param cause the driver's error.
   */
  constructor(store: string, code: string, doing: string, cause: unknown) {
    super(`${store} ${code} while ${doing}: ${(cause as Error)?.message ?? String(cause)}`, {
      cause,
    });
    this.name = "PermanentStoreError";
    this.store = store;
    this.code = code;
    this.doing = doing;
  }
}

/** Raised when the database cannot run this program (e.g. SQL Server below level 130). */
export class UnsupportedDatabaseError extends Error {
  /** @param message what is unsupported and how to fix it. */
  constructor(message: string) {
    super(message);
    this.name = "UnsupportedDatabaseError";
  }
}
