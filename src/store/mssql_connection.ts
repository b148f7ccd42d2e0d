/**
 * The SQL Server store's connections: one pool connected on first use (encrypted after all when
 * `Encrypt=Optional` meets a server that requires it), and the call that names its errors.
 *
 * @module
 */

// @ts-types="npm:@types/mssql@^12.3.0"
import sql from "mssql";
import type { Logger } from "@logtape/logtape";
import { type ErrorPolicy, storeCall } from "./_call.ts";
import { classifyMssqlError, requiresEncryption } from "./mssql_errors.ts";

/** The SQL Server store's connections: its pool, connected on first use, and the named call. */
export class MssqlConnection {
  #config: sql.config;
  readonly #logger: Logger;
  #connecting: Promise<sql.ConnectionPool> | null = null;

  /**
   * @param config from `mssqlConfig`; nothing connects until the first call.
   * @param logger where lost idle connections are reported.
   */
  constructor(config: sql.config, logger: Logger) {
    this.#config = config;
    this.#logger = logger;
  }

  /** Report a pooled connection's failure (the pool drops it; the next query reconnects). */
  #poolError = (error: unknown) => {
    this.#logger.warn(
      "A SQL Server connection failed while idle: {error}; the pool drops it and the next query reconnects",
      { error: String((error as Error)?.message ?? error) },
    );
  };

  #pool(): Promise<sql.ConnectionPool> {
    if (this.#connecting === null) {
      this.#connecting = this.open({}).catch((error) => {
        this.#connecting = null;
        throw error;
      });
    }
    return this.#connecting;
  }

  /**
   * Connect a pool with `overrides` on the store's config. `Encrypt=Optional` means "encrypt if
   * the server requires it"; tedious cannot negotiate that, so when a server refuses an
   * unencrypted connection the store connects again encrypted, and keeps to that.
   */
  async open(overrides: Partial<sql.config>): Promise<sql.ConnectionPool> {
    const connect = async () => {
      const pool = new sql.ConnectionPool({ ...this.#config, ...overrides });
      pool.on("error", this.#poolError);
      return await pool.connect();
    };
    try {
      return await connect();
    } catch (error) {
      if (this.#config.options?.encrypt !== false || !requiresEncryption(error)) throw error;
      this.#logger.info(
        "The SQL Server requires encryption: connecting encrypted (Encrypt=Optional allows it)",
      );
      this.#config = { ...this.#config, options: { ...this.#config.options, encrypt: true } };
      return await connect();
    }
  }

  /** Run `work` for `doing`: transient errors retried a few times, permanent ones named. */
  call<T>(
    doing: string,
    work: (pool: sql.ConnectionPool) => Promise<T>,
    attempts?: number,
  ): Promise<T> {
    return storeCall(this.policy(), doing, async () => work(await this.#pool()), attempts);
  }

  /** How the store names itself and sorts errors. */
  policy(): ErrorPolicy {
    return {
      store: "SQL Server",
      classify: classifyMssqlError,
      connectTimeoutMs: this.#config.connectionTimeout ?? 15_000,
    };
  }

  /** How long a request may take (the migration lock is waited for a little less). */
  get requestTimeoutMs(): number {
    return this.#config.requestTimeout ?? 15_000;
  }

  /** Close the pool. */
  async close(): Promise<void> {
    const connecting = this.#connecting;
    this.#connecting = null;
    if (connecting !== null) await (await connecting.catch(() => null))?.close();
  }
}
