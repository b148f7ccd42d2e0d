/**
 * The PostgreSQL store's connections: a `pg` pool with the worker's defaults, `sslmode` read as
 * libpq reads it, and the call that names the store's errors.
 *
 * @module
 */

// @ts-types="npm:@types/pg@^8.15.6"
import pg from "pg";
import type { Logger } from "@logtape/logtape";
import { type ErrorPolicy, storeCall } from "./_call.ts";
import { classifyPostgresError } from "./postgres_errors.ts";
import { POSTGRES_SQL } from "./postgres_sql.ts";
import type { AppliedMigration } from "./store.ts";

/**
 * A connection string whose `sslmode` means what it means to libpq: `require` encrypts without
 * checking the certificate (unless `sslrootcert` is given), `verify-ca` checks the CA,
 * `verify-full` the CA and the host name, `disable` turns TLS off. The `pg` package reads
 * `require` and `verify-ca` as `verify-full` (with a warning) unless told `uselibpqcompat=true`.
 * @example libpq's meaning
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { libpqSslmode } from "./postgres_pool.ts";
 *
 * deepStrictEqual(
 *   libpqSslmode("postgres://h/db?sslmode=require"),
 *   "postgres://h/db?sslmode=require&uselibpqcompat=true",
 * );
 * deepStrictEqual(libpqSslmode("postgres://h/db"), "postgres://h/db");
 * ```
 */
export function libpqSslmode(connectionString: string): string {
  if (!/[?&]sslmode=/i.test(connectionString) || /[?&]uselibpqcompat=/i.test(connectionString)) {
    return connectionString;
  }
  return `${connectionString}&uselibpqcompat=true`;
}

/** The PostgreSQL store's connections: the pool, its settings, the named call. */
export class PostgresPool {
  /** The pool every statement of the store goes through (at most 4 connections). */
  readonly pool: pg.Pool;
  /** The pool's settings, `sslmode` as libpq reads it (also for the feed lock's session). */
  readonly config: pg.PoolConfig;
  /** Where lost idle connections are reported. */
  readonly logger: Logger;
  readonly #errors: ErrorPolicy;

  /**
   * @param config `pg` pool settings (from the URL: connection string, `sslmode` included).
   * @param logger where lost idle connections are reported.
   */
  constructor(config: pg.PoolConfig, logger: Logger) {
    this.logger = logger;
    this.#errors = {
      store: "PostgreSQL",
      classify: classifyPostgresError,
      connectTimeoutMs: config.connectionTimeoutMillis ?? 10_000,
    };
    this.config = {
      ...config,
      ...(config.connectionString
        ? { connectionString: libpqSslmode(config.connectionString) }
        : {}),
    };
    this.pool = new pg.Pool({
      max: 4,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: 10_000,
      application_name: "scan-worker",
      ...this.config,
    });
    this.pool.on("error", (error) => {
      logger.warn(
        "A PostgreSQL connection failed while idle: {error}; the pool drops it and the next query reconnects",
        { error: error.message },
      );
    });
  }

  /** Run `work` for `doing`: transient errors retried a few times, permanent ones named. */
  call<T>(doing: string, work: () => Promise<T>, attempts?: number): Promise<T> {
    return storeCall(this.#errors, doing, work, attempts);
  }

  /** The migrations recorded as applied. */
  async applied(client: pg.PoolClient | pg.Pool): Promise<AppliedMigration[]> {
    const result = await client.query<AppliedMigration>(
      POSTGRES_SQL.appliedMigrations,
    );
    return result.rows;
  }

  /** Close the pool. */
  close(): Promise<void> {
    return this.pool.end();
  }
}
