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
import type { PageResult } from "../domain/project.ts";
import { fromSqlTime, mssqlTime, sendText } from "./mssql_sql.ts";
import { MSSQL_MIGRATIONS } from "./mssql_migrations.ts";
import { isMissingObject } from "./mssql_errors.ts";
import { MssqlConnection } from "./mssql_connection.ts";
import { MssqlOutbox } from "./mssql_outbox.ts";
import { pendingMigrations, requireMigrated } from "./migrate.ts";
import { appliedMigrations, applyMigrations, checkCompatibility } from "./mssql_schema.ts";
import { mssqlFeedLock } from "./mssql_lock.ts";

export { MSSQL_MIGRATIONS };
import { outboxDocument, pageDocument, pageWritten, storedRejections } from "./page_document.ts";
import {
  type AppliedMigration,
  type FeedLock,
  type PageWrite,
  type ParcelState,
  type RejectedEvent,
  type Store,
  type StoreOptions,
  type StoreStatus,
} from "./store.ts";
import {
  FEED_ID,
  feedRow,
  missingSchema,
  RELAY_ID,
  statusOf,
  storeCall,
  writingBatch,
  writingPage,
} from "./_call.ts";
import { pageTraceparent } from "../telemetry/mod.ts";

/** The SQL Server store. */
export class MssqlStore implements Store {
  /** The outbox, for the relay: on the same pool. */
  readonly outbox: MssqlOutbox;
  readonly #db: MssqlConnection;
  readonly #outbox: boolean;
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
    this.#db = new MssqlConnection(config, logger);
    this.#outbox = options.outbox ?? false;
    this.outbox = new MssqlOutbox(this.#db);
  }

  /**
   * Apply pending migrations in one transaction under an application lock. An up-to-date schema
   * needs no lock and no DDL, so a login without the right to create tables can start `run`.
   */
  migrate(): Promise<AppliedMigration[]> {
    return this.#db.call("migrating", async (pool) => {
      if (!this.#compatible) this.#compatible = await checkCompatibility(pool);
      const current = await appliedMigrations(pool.request()).catch((error) => {
        if (isMissingObject(error)) return null;
        throw error;
      });
      if (current !== null && pendingMigrations(MSSQL_MIGRATIONS, current).length === 0) return [];
      return await applyMigrations(pool, this.#db.requestTimeoutMs);
    });
  }

  /** Fail unless the database is supported and every migration is applied and unchanged. */
  verifySchema(): Promise<void> {
    return this.#db.call("checking the schema", async (pool) => {
      if (!this.#compatible) this.#compatible = await checkCompatibility(pool);
      let applied: AppliedMigration[];
      try {
        applied = await appliedMigrations(pool.request());
      } catch (error) {
        throw missingSchema(error, isMissingObject, "no dbo.SchemaMigrations table");
      }
      requireMigrated(MSSQL_MIGRATIONS, applied);
    });
  }

  /** The highest applied migration (0 when none), read alone: `migrate` says it when up to date. */
  schemaVersion(): Promise<number> {
    return this.#db.call("reading the schema version", async (pool) => {
      try {
        const row = (await sendText(pool.request())<{ schemaVersion: number | null }>(
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
    return this.#db.call("checking the connection", async (pool) => {
      await sendText(pool.request())("ping");
    }, 1);
  }

  /** The stored checkpoint (0 before the first page). */
  readCheckpoint(): Promise<number> {
    return this.#db.call("reading the checkpoint", async (pool) => {
      let rows: { LastProcessedEventId: string | number }[];
      try {
        rows = (await sendText(pool.request().input("id", sql.NVarChar(100), FEED_ID))<
          { LastProcessedEventId: string | number }
        >("readCheckpoint")).recordset;
      } catch (error) {
        throw missingSchema(error, isMissingObject, "no dbo.WorkerStates table");
      }
      return Number(feedRow(rows[0], "WorkerStates").LastProcessedEventId);
    });
  }

  /** Write one page in one round trip and one transaction. */
  applyPage(result: PageResult): Promise<PageWrite> {
    const document = pageDocument(result, mssqlTime);
    const outbox = this.#outbox ? outboxDocument(result) : null;
    const traceparent = pageTraceparent();
    return this.#db.call(writingPage(result), async (pool) => {
      const request = pool.request()
        .input("id", sql.NVarChar(100), FEED_ID)
        .input("from", sql.BigInt, result.from)
        .input("to", sql.BigInt, result.to)
        .input("changes", sql.NVarChar(sql.MAX), document.changes)
        .input("rejections", sql.NVarChar(sql.MAX), document.rejections)
        .input("settled", sql.BigInt, result.late?.settled ?? null)
        .input("holes", sql.NVarChar(sql.MAX), result.late?.holes ?? null);
      if (outbox !== null) {
        request.input("outbox", sql.NVarChar(sql.MAX), outbox)
          .input("traceparent", sql.VarChar(55), traceparent)
          .input("relayId", sql.NVarChar(100), RELAY_ID);
      }
      const outcome = await sendText(request)<{
        moved: boolean;
        actual: string | number | null;
        stored: string | null;
        outboxed: number | null;
        lastSeq: string | number | null;
      }>(outbox === null ? "applyPage" : "applyPageWithOutbox");
      const row = outcome.recordset[0];
      const stored = JSON.parse(row?.stored ?? "[]") as { n: number }[];
      return pageWritten(result, row && { ...row, stored: stored.map((r) => r.n) });
    });
  }

  /** Write a group member's batch in one round trip and one transaction, no checkpoint. */
  applyBatch(result: PageResult): Promise<PageWrite> {
    const document = pageDocument(result, mssqlTime);
    return this.#db.call(writingBatch(result), async (pool) => {
      const outcome = await sendText(
        pool.request()
          .input("changes", sql.NVarChar(sql.MAX), document.changes)
          .input("rejections", sql.NVarChar(sql.MAX), document.rejections),
      )<{ stored: string | null }>("applyBatch");
      const stored = JSON.parse(outcome.recordset[0]?.stored ?? "[]") as { n: number }[];
      return { rejected: storedRejections(result, stored.map((r) => r.n)), outboxed: 0 };
    });
  }

  /** The late-event holes the last page stored. */
  readLateHoles(): Promise<string | null> {
    return this.#db.call("reading the late-event holes", async (pool) => {
      const row = (await sendText(pool.request().input("id", sql.NVarChar(100), FEED_ID))<
        { LateHoles: string | null }
      >("readLate")).recordset[0];
      return row?.LateHoles ?? null;
    });
  }

  /** Checkpoint, counts and schema version. */
  status(): Promise<StoreStatus> {
    return this.#db.call("reading the status", async (pool) => {
      try {
        const result = await sendText(
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
        // Not there before migration 005 (status may read a database not yet migrated).
        const late = await sendText(pool.request().input("id", sql.NVarChar(100), FEED_ID))<
          { SettledEventId: string | number | null }
        >("readLate").then((r) => r.recordset[0]?.SettledEventId ?? null, () => null);
        const figures = row &&
          { ...row, checkpoint: row.lastProcessedEventId, version: row.schemaVersion };
        return statusOf(figures, late, fromSqlTime);
      } catch (error) {
        throw missingSchema(error, isMissingObject);
      }
    });
  }

  /**
   * Take `sp_getapplock` with a session owner on a one-connection pool of its own, kept for as
   * long as the lock is held; `APPLOCK_MODE` tells whether that session still holds it.
   */
  tryLockFeed(): Promise<FeedLock | null> {
    return storeCall(
      this.#db.policy(),
      "taking the feed lock",
      async () =>
        mssqlFeedLock(
          await this.#db.open({ pool: { min: 1, max: 1, idleTimeoutMillis: 2_147_483_647 } }),
        ),
      1,
    );
  }

  /** One parcel's row, or null. */
  parcel(parcelId: number): Promise<ParcelState | null> {
    return this.#db.call(`reading parcel ${parcelId}`, async (pool) => {
      const rows = (await sendText(pool.request().input("parcelId", sql.BigInt, parcelId))<
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
    return this.#db.call(
      "reading rejections",
      async (pool) =>
        (await sendText(pool.request().input("limit", sql.BigInt, limit))<{
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
    return this.#db.call("moving the checkpoint", async (pool) => {
      const result = await sendText(
        pool.request().input("id", sql.NVarChar(100), FEED_ID).input("to", sql.BigInt, eventId),
      )<{ previousEventId: string | number }>("resetCheckpoint");
      return Number(feedRow(result.recordset[0], "WorkerStates").previousEventId);
    });
  }

  /** Close the pool. */
  close(): Promise<void> {
    return this.#db.close();
  }
}
