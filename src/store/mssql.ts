/**
 * The SQL Server store (SQL Server 2016+, compatibility level 130+) through `mssql`: one round trip per page, set-based
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
import readIndexes from "../../sql/mssql/004_read_indexes.sql" with { type: "text" };
import {
  fromSqlTime,
  migrationLockTimeoutMs,
  MSSQL_SQL,
  type MssqlText,
  mssqlTime,
} from "./mssql_sql.ts";
import {
  classifyMssqlError,
  compatibilityProblem,
  isMissingObject,
  requiresEncryption,
} from "./mssql_errors.ts";
import { defineMigrations, type Migration, pendingMigrations, requireMigrated } from "./migrate.ts";
import { outboxDocument, pageDocument, storedRejections } from "./page_document.ts";
import {
  type AppliedMigration,
  CheckpointMovedError,
  type FeedLock,
  type PageWrite,
  type ParcelState,
  type RejectedEvent,
  type Store,
  type StoreOptions,
  type StoreStatus,
} from "./store.ts";
import {
  type ErrorPolicy,
  FEED_ID,
  FEED_LOCK_NAME,
  RELAY_ID,
  storeCall,
  writingPage,
} from "./_call.ts";
import { SchemaMissingError, UnsupportedDatabaseError } from "../errors.ts";

/** The SQL Server migrations, embedded in the program. */
export const MSSQL_MIGRATIONS: readonly Migration[] = defineMigrations({
  "001_init.sql": init,
  "002_type_length.sql": typeLength,
  "003_outbox.sql": outbox,
  "004_read_indexes.sql": readIndexes,
}, {
  // The checksum of 001 before its header comment was corrected (supported versions, no spec link).
  "001_init.sql": ["1edd597944a98c7835588fde272eb8951550e355a9f3058bed282cceca04237b"],
});

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
  #call<T>(
    doing: string,
    work: (pool: sql.ConnectionPool) => Promise<T>,
    attempts?: number,
  ): Promise<T> {
    return storeCall(this.#errors(), doing, async () => work(await this.#pool()), attempts);
  }

  /** How this store names itself and sorts errors. */
  #errors(): ErrorPolicy {
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

  /**
   * Apply pending migrations in one transaction under an application lock. An up-to-date schema
   * needs no lock and no DDL, so a login without the right to create tables can start `run`.
   */
  migrate(): Promise<AppliedMigration[]> {
    return this.#call("migrating", async (pool) => {
      await this.#checkCompatibility(pool);
      const current = await this.#applied(pool.request()).catch((error) => {
        if (isMissingObject(error)) return null;
        throw error;
      });
      if (current !== null && pendingMigrations(MSSQL_MIGRATIONS, current).length === 0) return [];
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

  /** The highest applied migration (0 when none), read alone: `migrate` says it when up to date. */
  schemaVersion(): Promise<number> {
    return this.#call("reading the schema version", async (pool) => {
      try {
        const row = (await MssqlStore.#send(pool.request())<{ schemaVersion: number | null }>(
          "schemaVersion",
        )).recordset[0];
        return row?.schemaVersion ?? 0;
      } catch (error) {
        if (isMissingObject(error)) return 0;
        throw error;
      }
    });
  }

  /**
   * Whether the server answers (`SELECT 1`): the readiness probe. It takes no lock, so it does not
   * wait behind a page that holds the feed row.
   */
  ping(): Promise<void> {
    return this.#call("checking the connection", async (pool) => {
      await MssqlStore.#send(pool.request())("ping");
    }, 1);
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
    const outbox = this.#outbox ? outboxDocument(result) : null;
    return this.#call(writingPage(result), async (pool) => {
      const request = pool.request()
        .input("id", sql.NVarChar(100), FEED_ID)
        .input("from", sql.BigInt, result.from)
        .input("to", sql.BigInt, result.to)
        .input("changes", sql.NVarChar(sql.MAX), document.changes)
        .input("rejections", sql.NVarChar(sql.MAX), document.rejections);
      if (outbox !== null) {
        request.input("outbox", sql.NVarChar(sql.MAX), outbox)
          .input("relayId", sql.NVarChar(100), RELAY_ID);
      }
      const outcome = await MssqlStore.#send(request)<{
        moved: boolean;
        actual: string | number | null;
        stored: string | null;
        outboxed: number | null;
      }>(outbox === null ? "applyPage" : "applyPageWithOutbox");
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
