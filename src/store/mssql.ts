/**
 * The SQL Server store (SQL Server 2017+) through `mssql`: one round trip per page, set-based
 * writes from a JSON document (`OPENJSON … WITH`), one transaction with `XACT_ABORT ON`.
 *
 * It mirrors the SQLite store statement for statement; the same contract suite runs against it
 * whenever `MSSQL_TEST_URL` is set.
 *
 * @module
 */

// @ts-types="npm:@types/mssql@^12.3.0"
import sql from "mssql";
import type { Logger } from "@logtape/logtape";
import { logger as programLogger } from "../log.ts";
import type { OutboxRow } from "../domain/message.ts";
import type { PageResult } from "../domain/project.ts";
import init from "../../sql/mssql/001_init.sql" with { type: "text" };
import typeLength from "../../sql/mssql/002_type_length.sql" with { type: "text" };
import outbox from "../../sql/mssql/003_outbox.sql" with { type: "text" };
import { migrationLockTimeoutMs, MSSQL_SQL, type MssqlText } from "./mssql_sql.ts";
import { defineMigrations, type Migration, pendingMigrations, requireMigrated } from "./migrate.ts";
import { outboxDocument, pageDocument, storedRejections } from "./page_document.ts";
import {
  type AppliedMigration,
  CheckpointMovedError,
  CONNECT_TIMEOUT,
  type ErrorClass,
  FEED_ID,
  FEED_LOCK_NAME,
  type FeedLock,
  type PageWrite,
  type ParcelState,
  type RejectedEvent,
  RELAY_ID,
  SchemaMissingError,
  type Store,
  storeCall,
  type StoreErrors,
  type StoreOptions,
  type StoreStatus,
  UnsupportedDatabaseError,
  writingBatch,
  writingPage,
} from "./store.ts";

/** The SQL Server migrations, embedded in the program. */
export const MSSQL_MIGRATIONS: readonly Migration[] = defineMigrations({
  "001_init.sql": init,
  "002_type_length.sql": typeLength,
  "003_outbox.sql": outbox,
});

/** The lowest compatibility level the store works at (OPENJSON needs 130: SQL Server 2016). */
export const MIN_COMPATIBILITY_LEVEL = 130;

/**
 * A time as SQL Server reads it for datetime2 (`CONVERT(…, 126)`): the UTC text without its `Z`.
 * @example mssqlTime("2021-05-11T21:11:34.1506147Z") // "2021-05-11T21:11:34.1506147"
 */
export function mssqlTime(text: string): string {
  return text.replace(/Z$/, "");
}

/**
 * SQL Server error numbers worth retrying: deadlock victim, lock request timeout, the busy
 * migration lock (50001, raised by the store), and the errors on Microsoft's transient-fault
 * lists (SqlClient's retry logic, Azure SQL): failover, throttling, a database not yet available.
 * Login errors carry their number too (see `attachLoginError` in mssql_config.ts); tedious
 * itself retries a few of them (4060, 40613 …) before giving up. Client-side conditions
 * (timeouts, dropped sockets) come from tedious as codes, below, not as numbers.
 */
export const TRANSIENT_ERROR_NUMBERS: ReadonlySet<number> = new Set([
  1205, // deadlock victim
  1222, // lock request timeout
  4060, // cannot open database (during failover)
  4221, // login to read-secondary failed (replica not ready)
  10928, // resource limit reached
  10929, // resource limit: minimum guarantee
  40143, // the service has encountered an error processing your request
  40197, // service error processing the request (failover)
  40501, // service busy
  40540, // service encountered an error processing the request
  40613, // database unavailable
  49918, // not enough resources to process the request
  49919, // too many create or update operations
  49920, // too many operations in progress
  50001, // the migration lock is busy (scan-worker's own THROW)
]);

/**
 * Driver error codes (`mssql` and tedious) of a failed, dropped, closed or timed-out connection
 * or request; tedious reports a connection dropped mid-request as ECLOSE or EINVALIDSTATE.
 */
const TRANSIENT_CODES = new Set([
  "ESOCKET",
  "ECONNCLOSED",
  "ECONNRESET",
  "ETIMEOUT",
  "ECLOSE",
  "EINVALIDSTATE",
  "ENOCONN",
  "EINSTLOOKUP",
]);

/**
 * Sort an error from `mssql`. Known transient numbers and driver codes are transient. Any
 * other server error is sorted by its severity (the Database Engine's error severities):
 * 11–16 are errors the user must correct (syntax 102/156, invalid object 208, invalid column
 * 207, permission 229/230, truncation 2628/8152, constraint 547/2627, login failed 18456):
 * permanent; 17–21 are resource, software and fatal connection errors: transient; 22–24 mean a
 * damaged table, suspect integrity or a failed disk: permanent, for a person to look at.
 * Errors with neither a number nor a known code are unknown.
 * @example classifyMssqlError({ number: 208, class: 16 }) // { kind: "permanent", code: "error 208" }
 */
export function classifyMssqlError(error: unknown): ErrorClass {
  const e = error as {
    number?: number;
    class?: number;
    code?: string;
    originalError?: { info?: { number?: number; class?: number } };
  };
  const number = e?.number ?? e?.originalError?.info?.number;
  const severity = e?.class ?? e?.originalError?.info?.class;
  if (typeof number === "number") {
    const code = `error ${number}`;
    if (TRANSIENT_ERROR_NUMBERS.has(number)) return { kind: "transient", code };
    const passing = typeof severity === "number" && severity >= 17 && severity <= 21;
    return { kind: passing ? "transient" : "permanent", code };
  }
  if (e?.code === "ETIMEOUT") {
    // A connection (login) or a request that ran out of its time: not retried at once.
    const connecting = (error as Error)?.name === "ConnectionError";
    return { kind: "transient", code: connecting ? CONNECT_TIMEOUT : e.code, slow: true };
  }
  if (typeof e?.code === "string" && TRANSIENT_CODES.has(e.code)) {
    return { kind: "transient", code: e.code };
  }
  if (e?.code === "EENCRYPT") return { kind: "permanent", code: e.code };
  return { kind: "unknown", code: null };
}

/** Whether an error from `mssql` is worth retrying. */
export function isTransientMssqlError(error: unknown): boolean {
  return classifyMssqlError(error).kind === "transient";
}

/**
 * Whether a connection failed because the server requires encryption and the client did not
 * offer it (tedious: EENCRYPT "Server requires encryption").
 */
export function requiresEncryption(error: unknown): boolean {
  const e = error as { code?: string; message?: string; originalError?: { code?: string } };
  const code = e?.code ?? e?.originalError?.code;
  return code === "EENCRYPT" && /requires encryption/i.test(e?.message ?? "");
}

function isMissingObject(error: unknown): boolean {
  return (error as { number?: number })?.number === 208;
}

/**
 * The one line that says a database's compatibility level is too low, and how to raise it.
 * @example compatibilityProblem("Scan", 120) // "SQL Server database \"Scan\" is at compatibility level 120; …"
 */
export function compatibilityProblem(database: string, level: number): string | null {
  if (level >= MIN_COMPATIBILITY_LEVEL) return null;
  return `SQL Server database "${database}" is at compatibility level ${level}; scan-worker needs ${MIN_COMPATIBILITY_LEVEL} or higher (for OPENJSON). Raise it with: ALTER DATABASE [${
    database.replaceAll("]", "]]")
  }] SET COMPATIBILITY_LEVEL = ${MIN_COMPATIBILITY_LEVEL};`;
}

/** A datetime2 read back with CONVERT(char(27), x, 121) as docs/rules.md §3.5 text. */
export function fromSqlTime(text: string | null): string | null {
  return text === null ? null : `${text.trim().replace(" ", "T")}Z`;
}

/** A request with its parameters, ready to send one of the store's texts. */
type Send = <T>(name: MssqlText) => Promise<sql.IResult<T>>;

/** The SQL Server store. */
export class MssqlStore implements Store {
  #config: sql.config;
  readonly #logger: Logger;
  readonly #outbox: boolean;
  #connecting: Promise<sql.ConnectionPool> | null = null;
  #compatible = false;

  /**
   * @param config from {@link mssqlConfig}; nothing connects until the first call.
   * @param logger where lost idle connections are reported.
   * @param options.outbox write each page's accepted events into the outbox.
   */
  constructor(
    config: sql.config,
    logger: Logger = programLogger("store"),
    options: StoreOptions = {},
  ) {
    this.#config = config;
    this.#logger = logger;
    this.#outbox = options.outbox ?? false;
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
      this.#connecting = this.#open({}).catch((error) => {
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
  async #open(overrides: Partial<sql.config>): Promise<sql.ConnectionPool> {
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
  #call<T>(doing: string, work: (pool: sql.ConnectionPool) => Promise<T>): Promise<T> {
    return storeCall(this.#errors(), doing, async () => work(await this.#pool()));
  }

  /** How this store names itself and sorts errors. */
  #errors(): StoreErrors {
    return {
      store: "SQL Server",
      classify: classifyMssqlError,
      connectTimeoutMs: this.#config.connectionTimeout ?? 15_000,
    };
  }

  /** Send one of the store's texts with `request`'s parameters. */
  static #send(request: sql.Request): Send {
    return (name) => request.query(MSSQL_SQL[name]);
  }

  async #applied(request: sql.Request): Promise<AppliedMigration[]> {
    const result = await MssqlStore.#send(request)<
      { version: number; name: string; checksum: string; appliedAtUtc: string }
    >("appliedMigrations");
    return result.recordset.map((row) => ({
      ...row,
      appliedAtUtc: fromSqlTime(row.appliedAtUtc) ?? "",
    }));
  }

  /**
   * Fail with {@link UnsupportedDatabaseError} when the database's compatibility level is below
   * 130 (OPENJSON would fail every page with error 208). Checked once per store.
   */
  async #checkCompatibility(pool: sql.ConnectionPool): Promise<void> {
    if (this.#compatible) return;
    const result = await MssqlStore.#send(pool.request())<
      { compatibilityLevel: number; databaseName: string }
    >("compatibilityLevel");
    const row = result.recordset[0];
    if (row === undefined) {
      throw new UnsupportedDatabaseError(
        "could not read this database's compatibility level from sys.databases; scan-worker needs 130 or higher (for OPENJSON)",
      );
    }
    const problem = compatibilityProblem(row.databaseName, Number(row.compatibilityLevel));
    if (problem !== null) throw new UnsupportedDatabaseError(problem);
    this.#compatible = true;
  }

  /** Apply pending migrations in one transaction under an application lock. */
  migrate(): Promise<AppliedMigration[]> {
    return this.#call("migrating", async (pool) => {
      await this.#checkCompatibility(pool);
      const transaction = new sql.Transaction(pool);
      await transaction.begin();
      try {
        await MssqlStore.#send(
          new sql.Request(transaction).input(
            "lockTimeoutMs",
            sql.Int,
            migrationLockTimeoutMs(this.#config.requestTimeout ?? 15_000),
          ),
        )("takeMigrationLock");
        await new sql.Request(transaction).batch(MSSQL_SQL.migrationsTable);
        const pending = pendingMigrations(
          MSSQL_MIGRATIONS,
          await this.#applied(new sql.Request(transaction)),
        );
        const applied: AppliedMigration[] = [];
        for (const m of pending) {
          await new sql.Request(transaction).batch(m.sql);
          const row = await MssqlStore.#send(
            new sql.Request(transaction)
              .input("version", sql.Int, m.version)
              .input("name", sql.NVarChar(200), m.name)
              .input("checksum", sql.Char(64), m.checksum),
          )<{ appliedAtUtc: string }>("recordMigration");
          applied.push({
            version: m.version,
            name: m.name,
            checksum: m.checksum,
            appliedAtUtc: fromSqlTime(row.recordset[0]?.appliedAtUtc ?? null) ?? "",
          });
        }
        await transaction.commit();
        return applied;
      } catch (error) {
        await transaction.rollback().catch(() => {});
        throw error;
      }
    });
  }

  /** Fail unless the database is supported and every migration is applied and unchanged. */
  verifySchema(): Promise<void> {
    return this.#call("checking the schema", async (pool) => {
      await this.#checkCompatibility(pool);
      let applied: AppliedMigration[];
      try {
        applied = await this.#applied(pool.request());
      } catch (error) {
        if (isMissingObject(error)) throw new SchemaMissingError("no dbo.SchemaMigrations table");
        throw error;
      }
      requireMigrated(MSSQL_MIGRATIONS, applied);
    });
  }

  /** The stored checkpoint (0 before the first page). */
  readCheckpoint(): Promise<number> {
    return this.#call("reading the checkpoint", async (pool) => {
      let rows: { LastProcessedEventId: string | number }[];
      try {
        rows = (await MssqlStore.#send(pool.request().input("id", sql.NVarChar(100), FEED_ID))<
          { LastProcessedEventId: string | number }
        >("readCheckpoint")).recordset;
      } catch (error) {
        if (isMissingObject(error)) throw new SchemaMissingError("no dbo.WorkerStates table");
        throw error;
      }
      const row = rows[0];
      if (row === undefined) throw new SchemaMissingError(`no WorkerStates row '${FEED_ID}'`);
      return Number(row.LastProcessedEventId);
    });
  }

  /** Write one page in one round trip and one transaction. */
  applyPage(result: PageResult): Promise<PageWrite> {
    const document = pageDocument(result, mssqlTime);
    const outboxed = this.#outbox ? outboxDocument(result) : "[]";
    return this.#call(writingPage(result), async (pool) => {
      const outcome = await MssqlStore.#send(
        pool.request()
          .input("id", sql.NVarChar(100), FEED_ID)
          .input("from", sql.BigInt, result.from)
          .input("to", sql.BigInt, result.to)
          .input("changes", sql.NVarChar(sql.MAX), document.changes)
          .input("rejections", sql.NVarChar(sql.MAX), document.rejections)
          .input("outbox", sql.NVarChar(sql.MAX), outboxed)
          .input("relayId", sql.NVarChar(100), RELAY_ID),
      )<{
        moved: boolean;
        actual: string | number | null;
        stored: string | null;
        outboxed: number | null;
      }>("applyPage");
      const row = outcome.recordset[0];
      if (row === undefined || !row.moved) {
        throw new CheckpointMovedError(
          result.from,
          row?.actual === null || row?.actual === undefined ? null : Number(row.actual),
        );
      }
      const stored = JSON.parse(row.stored ?? "[]") as { n: number }[];
      return {
        rejected: storedRejections(result, stored.map((r) => r.n)),
        outboxed: row.outboxed ?? 0,
      };
    });
  }

  /** Write a group member's batch in one round trip and one transaction, no checkpoint. */
  applyBatch(result: PageResult): Promise<PageWrite> {
    const document = pageDocument(result, mssqlTime);
    return this.#call(writingBatch(result), async (pool) => {
      const outcome = await MssqlStore.#send(
        pool.request()
          .input("changes", sql.NVarChar(sql.MAX), document.changes)
          .input("rejections", sql.NVarChar(sql.MAX), document.rejections),
      )<{ stored: string | null }>("applyBatch");
      const stored = JSON.parse(outcome.recordset[0]?.stored ?? "[]") as { n: number }[];
      return { rejected: storedRejections(result, stored.map((r) => r.n)), outboxed: 0 };
    });
  }

  /** The outbox rows after `eventId`, in EventId order. */
  outboxAfter(eventId: number, limit: number): Promise<OutboxRow[]> {
    return this.#call("reading the outbox", async (pool) =>
      (await MssqlStore.#send(
        pool.request().input("after", sql.BigInt, eventId).input("limit", sql.BigInt, limit),
      )<{ EventId: string | number; Subject: string; Body: string }>("outboxAfter")).recordset
        .map((r) => ({ eventId: Number(r.EventId), subject: r.Subject, body: r.Body })));
  }

  /** The relay's cursor. */
  readRelayCursor(): Promise<number> {
    return this.#call("reading the relay's cursor", async (pool) => {
      const row = (await MssqlStore.#send(pool.request().input("id", sql.NVarChar(100), RELAY_ID))<
        { LastProcessedEventId: string | number }
      >("readCheckpoint")).recordset[0];
      if (row === undefined) throw new SchemaMissingError(`no WorkerStates row '${RELAY_ID}'`);
      return Number(row.LastProcessedEventId);
    });
  }

  /** Move the relay's cursor up to `eventId` and prune what it covers, in one transaction. */
  commitRelay(eventId: number): Promise<void> {
    return this.#call("recording what the relay published", async (pool) => {
      await MssqlStore.#send(
        pool.request().input("id", sql.NVarChar(100), RELAY_ID).input(
          "eventId",
          sql.BigInt,
          eventId,
        ),
      )("commitRelay");
    });
  }

  /** Rows waiting in the outbox and the oldest one's time. */
  outboxBacklog(): Promise<{ rows: number; oldestUtc: string | null }> {
    return this.#call("reading the outbox", async (pool) => {
      const row = (await MssqlStore.#send(
        pool.request().input("id", sql.NVarChar(100), RELAY_ID),
      )<{ outboxRows: string | number; oldest: string | null }>("outboxBacklog")).recordset[0];
      return { rows: Number(row?.outboxRows ?? 0), oldestUtc: fromSqlTime(row?.oldest ?? null) };
    });
  }

  /** Checkpoint, counts and schema version. */
  status(): Promise<StoreStatus> {
    return this.#call("reading the status", async (pool) => {
      try {
        const result = await MssqlStore.#send(
          pool.request().input("id", sql.NVarChar(100), FEED_ID),
        )<{
          lastProcessedEventId: string | number | null;
          updatedAt: string | null;
          parcels: string | number;
          rejected: string | number;
          schemaVersion: number | null;
          newest: string | null;
        }>("status");
        const row = result.recordset[0];
        return {
          checkpoint: Number(row?.lastProcessedEventId ?? 0),
          checkpointUpdatedAtUtc: fromSqlTime(row?.updatedAt ?? null),
          parcels: Number(row?.parcels ?? 0),
          rejected: Number(row?.rejected ?? 0),
          schemaVersion: row?.schemaVersion ?? 0,
          newestEventUtc: fromSqlTime(row?.newest ?? null),
        };
      } catch (error) {
        if (isMissingObject(error)) throw new SchemaMissingError((error as Error).message);
        throw error;
      }
    });
  }

  /**
   * Take `sp_getapplock` with a session owner on a one-connection pool of its own, kept for as
   * long as the lock is held; `APPLOCK_MODE` tells whether that session still holds it.
   */
  tryLockFeed(): Promise<FeedLock | null> {
    return storeCall(this.#errors(), "taking the feed lock", () => this.#tryLockFeed(), 1);
  }

  async #tryLockFeed(): Promise<FeedLock | null> {
    // A one-connection pool of its own; a failure of its session shows in held().
    const pool = await this.#open({
      pool: { min: 1, max: 1, idleTimeoutMillis: 2_147_483_647 },
    });
    const withResource = () => pool.request().input("resource", sql.NVarChar(255), FEED_LOCK_NAME);
    const taken = await MssqlStore.#send(withResource())<{ lockResult: number }>("takeFeedLock")
      .catch(async (error) => {
        await pool.close();
        throw error;
      });
    if ((taken.recordset[0]?.lockResult ?? -1) < 0) {
      await pool.close();
      return null;
    }
    return {
      held: async () => {
        try {
          const mode = await MssqlStore.#send(withResource())<{ lockMode: string }>(
            "feedLockMode",
          );
          return mode.recordset[0]?.lockMode === "Exclusive";
        } catch {
          return false;
        }
      },
      release: async () => {
        await MssqlStore.#send(withResource())("releaseFeedLock").catch(() => {});
        await pool.close();
      },
    };
  }

  /** One parcel's row, or null. */
  parcel(parcelId: number): Promise<ParcelState | null> {
    return this.#call(`reading parcel ${parcelId}`, async (pool) => {
      const rows = (await MssqlStore.#send(pool.request().input("parcelId", sql.BigInt, parcelId))<
        Record<string, string | number | null>
      >("parcel")).recordset;
      const r = rows[0];
      if (r === undefined) return null;
      const text = (value: string | number | null | undefined) =>
        value === null || value === undefined ? null : String(value);
      return {
        parcelId: Number(r.ParcelId),
        lastEventId: Number(r.LastEventId),
        type: String(r.Type),
        statusCode: String(r.StatusCode),
        runId: text(r.RunId),
        createdDateTimeUtc: fromSqlTime(text(r.Created)) ?? "",
        pickupTimeUtc: fromSqlTime(text(r.Pickup)),
        deliveryTimeUtc: fromSqlTime(text(r.Delivery)),
        updatedAtUtc: fromSqlTime(text(r.Updated)) ?? "",
      };
    });
  }

  /** The newest rejections, newest first. */
  rejections(limit: number): Promise<RejectedEvent[]> {
    return this.#call(
      "reading rejections",
      async (pool) =>
        (await MssqlStore.#send(pool.request().input("limit", sql.BigInt, limit))<{
          Id: string;
          EventId: string | null;
          Reason: string;
          Payload: string;
          RejectedAt: string;
        }>("rejections")).recordset.map((r) => ({
          id: Number(r.Id),
          eventId: r.EventId === null ? null : Number(r.EventId),
          reason: r.Reason,
          payload: r.Payload,
          rejectedAtUtc: fromSqlTime(r.RejectedAt) ?? "",
        })),
    );
  }

  /** Move the checkpoint; returns the old one. */
  resetCheckpoint(eventId: number): Promise<number> {
    return this.#call("moving the checkpoint", async (pool) => {
      const result = await MssqlStore.#send(
        pool.request().input("id", sql.NVarChar(100), FEED_ID).input("to", sql.BigInt, eventId),
      )<{ previousEventId: string | number }>("resetCheckpoint");
      const row = result.recordset[0];
      if (row === undefined) throw new SchemaMissingError(`no WorkerStates row '${FEED_ID}'`);
      return Number(row.previousEventId);
    });
  }

  /** Close the pool. */
  async close(): Promise<void> {
    const connecting = this.#connecting;
    this.#connecting = null;
    if (connecting !== null) await (await connecting.catch(() => null))?.close();
  }
}
