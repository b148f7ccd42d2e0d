/**
 * The PostgreSQL store through `pg`: a page is one SQL statement (data-modifying CTEs), so one
 * round trip and one implicit transaction; migrations under a transaction-level advisory lock.
 *
 * It mirrors the SQLite and SQL Server stores statement for statement, and passes the same
 * contract suite against the real server.
 *
 * @module
 */

// @ts-types="npm:@types/pg@^8.15.6"
import pg from "pg";
import type { Logger } from "@logtape/logtape";
import { logger as programLogger } from "../log.ts";
import type { PageResult } from "../domain/project.ts";
import { roundToMicroseconds } from "../domain/timestamps.ts";
import { requireMigrated } from "./migrate.ts";
import { isMissingTable, migratePostgres } from "./postgres_migrate.ts";
import { outboxDocument, pageDocument, pageWritten, storedRejections } from "./page_document.ts";
import {
  APPLY_BATCH,
  APPLY_PAGE,
  APPLY_PAGE_WITH_OUTBOX,
  POSTGRES_MIGRATIONS,
  POSTGRES_SQL,
  REJECTIONS_LOCK,
} from "./postgres_sql.ts";
import { PostgresPool } from "./postgres_pool.ts";
import { PostgresOutbox } from "./postgres_outbox.ts";
import { postgresFeedLock } from "./postgres_lock.ts";
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
import { POSTGRES_LATE } from "./late_sql.ts";
import {
  FEED_ID,
  feedRow,
  missingSchema,
  RELAY_ID,
  statusOf,
  writingBatch,
  writingPage,
} from "./_call.ts";
import { pageTraceparent } from "../telemetry/mod.ts";

export { POSTGRES_MIGRATIONS };

/** A time as PostgreSQL is sent it: rounded to microseconds, half up (its one documented loss). */
export const postgresTime: (text: string) => string = roundToMicroseconds;

/** The PostgreSQL store. */
export class PostgresStore implements Store {
  /** The outbox, for the relay: on the same pool. */
  readonly outbox: PostgresOutbox;
  readonly #db: PostgresPool;
  readonly #outbox: boolean;

  /**
   * @param config `pg` pool settings (from the URL: connection string, `sslmode` included).
   * @param logger where lost idle connections are reported.
   * @param options.outbox write each page's accepted events into the outbox.
   */
  constructor(
    config: pg.PoolConfig,
    logger: Logger = programLogger("store"),
    options: StoreOptions = {},
  ) {
    this.#db = new PostgresPool(config, logger);
    this.#outbox = options.outbox ?? false;
    this.outbox = new PostgresOutbox(this.#db);
  }

  /** Apply pending migrations in one transaction under an advisory lock. */
  migrate(): Promise<AppliedMigration[]> {
    return this.#db.call("migrating", () => migratePostgres(this.#db));
  }

  /** Fail unless every migration is applied and unchanged. */
  verifySchema(): Promise<void> {
    return this.#db.call("checking the schema", async () => {
      let applied: AppliedMigration[];
      try {
        applied = await this.#db.applied(this.#db.pool);
      } catch (error) {
        throw missingSchema(error, isMissingTable, "no schema_migrations table");
      }
      requireMigrated(POSTGRES_MIGRATIONS, applied);
    });
  }

  /** The stored checkpoint (0 before the first page). */
  readCheckpoint(): Promise<number> {
    return this.#db.call("reading the checkpoint", async () => {
      let rows: { checkpoint: string }[];
      try {
        rows = (await this.#db.pool.query<{ checkpoint: string }>(
          "SELECT last_processed_event_id AS checkpoint FROM worker_states WHERE id = $1",
          [FEED_ID],
        )).rows;
      } catch (error) {
        throw missingSchema(error, isMissingTable, "no worker_states table");
      }
      return Number(feedRow(rows[0], "worker_states").checkpoint);
    });
  }

  /** Write one page in one statement (docs/rules.md §3.8). */
  applyPage(result: PageResult): Promise<PageWrite> {
    const document = pageDocument(result, postgresTime);
    const page = [
      FEED_ID,
      result.from,
      result.to,
      document.changes,
      document.rejections,
      result.late?.settled ?? null,
      result.late?.holes ?? null,
    ];
    const [text, values] = this.#outbox
      ? [APPLY_PAGE_WITH_OUTBOX, [...page, outboxDocument(result), RELAY_ID, pageTraceparent()]]
      : [APPLY_PAGE, page];
    return this.#db.call(writingPage(result), async () => {
      const outcome = await this.#db.pool.query<{
        moved: string;
        actual: string | null;
        stored: number[];
        outboxed: string;
        last_seq: string | null;
      }>(text, values);
      const row = outcome.rows[0];
      return pageWritten(result, row && { ...row, lastSeq: row.last_seq });
    });
  }

  /**
   * Write a group member's batch in one statement, the feed checkpoint left alone (see
   * {@link BatchStore.applyBatch}). A batch with rejections first takes a transaction-level
   * advisory lock, in a transaction of its own: the statement's snapshot then sees the
   * rejections another member committed meanwhile, so none is stored twice. (A page needs no
   * such lock: pages are written one at a time, behind the feed row.)
   */
  applyBatch(result: PageResult): Promise<PageWrite> {
    const document = pageDocument(result, postgresTime);
    const values = [FEED_ID, 0, result.to, document.changes, document.rejections];
    return this.#db.call(writingBatch(result), async () => {
      let stored: number[];
      if (result.rejections.length === 0) {
        stored = (await this.#db.pool.query<{ stored: number[] }>(APPLY_BATCH, values)).rows[0]
          ?.stored ?? [];
      } else {
        const client = await this.#db.pool.connect();
        try {
          await client.query("BEGIN");
          await client.query(REJECTIONS_LOCK);
          stored = (await client.query<{ stored: number[] }>(APPLY_BATCH, values)).rows[0]
            ?.stored ?? [];
          await client.query("COMMIT");
        } catch (error) {
          await client.query("ROLLBACK").catch(() => {});
          throw error;
        } finally {
          client.release();
        }
      }
      return { rejected: storedRejections(result, stored), outboxed: 0 };
    });
  }

  /** The late-event holes the last page stored. */
  readLateHoles(): Promise<string | null> {
    return this.#db.call("reading the late-event holes", async () => {
      const row = (await this.#db.pool.query<{ holes: string | null }>(
        POSTGRES_LATE.readLateHoles,
        [FEED_ID],
      )).rows[0];
      return row?.holes ?? null;
    });
  }

  /** The highest applied migration (0 when none). */
  schemaVersion(): Promise<number> {
    return this.#db.call("reading the schema version", async () => {
      try {
        const row = (await this.#db.pool.query<{ v: number | null }>(
          "SELECT max(version) AS v FROM schema_migrations",
        )).rows[0];
        return row?.v ?? 0;
      } catch (error) {
        if (isMissingTable(error)) return 0;
        throw error;
      }
    });
  }

  /** Whether the server answers (`SELECT 1`: no table, no lock). */
  ping(): Promise<void> {
    return this.#db.call("checking the connection", async () => {
      await this.#db.pool.query("SELECT 1");
    }, 1);
  }

  /** Checkpoint, counts and schema version. */
  status(): Promise<StoreStatus> {
    return this.#db.call("reading the status", async () => {
      try {
        const result = await this.#db.pool.query<{
          checkpoint: string | null;
          updatedAt: string | null;
          parcels: string;
          rejected: string;
          version: number | null;
          newest: string | null;
        }>(
          POSTGRES_SQL.status,
          [FEED_ID],
        );
        // Not there before migration 003 (status may read a database not yet migrated).
        const settled = await this.#db.pool.query<{ s: string | null }>(
          POSTGRES_LATE.readSettled,
          [FEED_ID],
        ).then((r) => r.rows[0]?.s ?? null, () => null);
        return statusOf(result.rows[0], settled);
      } catch (error) {
        throw missingSchema(error, isMissingTable);
      }
    });
  }

  /**
   * Take a session-level advisory lock on a connection of its own, kept for as long as the lock
   * is held: if the worker dies or the connection drops, the server releases it.
   */
  tryLockFeed(): Promise<FeedLock | null> {
    return this.#db.call(
      "taking the feed lock",
      () => postgresFeedLock(this.#db.config, this.#db.logger),
      1,
    );
  }

  /** One parcel's row, or null. */
  parcel(parcelId: number): Promise<ParcelState | null> {
    return this.#db.call(`reading parcel ${parcelId}`, async () => {
      const rows = (await this.#db.pool.query<Record<string, string | null>>(
        POSTGRES_SQL.parcel,
        [parcelId],
      )).rows;
      const r = rows[0];
      if (r === undefined) return null;
      return {
        parcelId: Number(r.parcel_id),
        lastEventId: Number(r.last_event_id),
        type: String(r.type),
        statusCode: String(r.status_code),
        runId: r.run_id ?? null,
        createdDateTimeUtc: String(r.created),
        pickupTimeUtc: r.pickup ?? null,
        deliveryTimeUtc: r.delivery ?? null,
        updatedAtUtc: String(r.updated),
      };
    });
  }

  /** The newest rejections, newest first. */
  rejections(limit: number): Promise<RejectedEvent[]> {
    return this.#db.call(
      "reading rejections",
      async () =>
        (await this.#db.pool.query<Record<string, string | null>>(
          POSTGRES_SQL.rejections,
          [limit],
        )).rows.map((r) => ({
          id: Number(r.id),
          eventId: r.event_id === null ? null : Number(r.event_id),
          reason: String(r.reason),
          payload: String(r.payload),
          rejectedAtUtc: String(r.rejected),
        })),
    );
  }

  /** Move the checkpoint; returns the old one. */
  resetCheckpoint(eventId: number): Promise<number> {
    return this.#db.call("moving the checkpoint", async () => {
      const result = await this.#db.pool.query<{ old: string }>(
        POSTGRES_SQL.resetCheckpoint,
        [FEED_ID, eventId],
      );
      return Number(feedRow(result.rows[0], "worker_states").old);
    });
  }

  /** Close the pool. */
  close(): Promise<void> {
    return this.#db.close();
  }
}
