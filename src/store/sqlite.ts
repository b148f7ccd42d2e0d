/**
 * The embedded store: SQLite through `node:sqlite`, one file, WAL journal.
 *
 * @module
 */

import type { PageResult, ParcelChange } from "../domain/project.ts";
import type { Rejection } from "../domain/validate.ts";
import { pendingMigrations, requireMigrated } from "./migrate.ts";
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
import { FEED_ID, feedRow, missingSchema, nowUtc, writingBatch, writingPage } from "./_call.ts";
import { isMissingTable, runByRows, SqliteFile } from "./sqlite_file.ts";
import { type OutboxWrite, SqliteOutbox, writeOutbox } from "./sqlite_outbox.ts";
import { sqliteFeedLock } from "./sqlite_lock.ts";
import { MIGRATIONS_TABLE, SQLITE_MIGRATIONS } from "./sqlite_sql.ts";
import { SQLITE_LATE } from "./late_sql.ts";

export { SQLITE_MIGRATIONS };

/** The embedded SQLite store (docs/rules.md §4). */
export class SqliteStore implements Store {
  /** The outbox, for the relay: on the same file. */
  readonly outbox: SqliteOutbox;
  readonly #file: SqliteFile;
  readonly #outbox: boolean;

  /**
   * Open (and create) the database file at `path` (see {@link SqliteFile} for its pragmas).
   * @param options.readOnly open an existing file for reading only (fails when it is missing);
   * `outbox` write each page's accepted events into the outbox.
   */
  constructor(path: string, options: StoreOptions = {}) {
    this.#file = new SqliteFile(path, options.readOnly ?? false);
    this.#outbox = options.outbox ?? false;
    this.outbox = new SqliteOutbox(this.#file);
  }

  /** Apply pending migrations in one transaction; an edited applied one fails the call. */
  migrate(): Promise<AppliedMigration[]> {
    return this.#file.call("migrating", () =>
      this.#file.transaction(() => {
        this.#file.db.exec(MIGRATIONS_TABLE);
        const pending = pendingMigrations(SQLITE_MIGRATIONS, this.#file.applied());
        const record = this.#file.db.prepare(
          "INSERT INTO SchemaMigrations (Version, Name, Checksum, AppliedAtUtc) VALUES (?, ?, ?, ?)",
        );
        return pending.map((m) => {
          this.#file.db.exec(m.sql);
          const appliedAtUtc = nowUtc();
          record.run(m.version, m.name, m.checksum, appliedAtUtc);
          return { version: m.version, name: m.name, checksum: m.checksum, appliedAtUtc };
        });
      }));
  }

  /** Check, without changing anything, that every applied migration is known and unchanged. */
  verifySchema(): Promise<void> {
    return this.#file.call("checking the schema", () => {
      let applied: AppliedMigration[];
      try {
        applied = this.#file.applied();
      } catch (error) {
        throw missingSchema(error, isMissingTable, "no SchemaMigrations table");
      }
      requireMigrated(SQLITE_MIGRATIONS, applied);
    });
  }

  /** The stored checkpoint (0 before the first page). */
  readCheckpoint(): Promise<number> {
    return this.#file.call("reading the checkpoint", () => {
      return feedRow(this.#file.checkpoint(), "WorkerStates");
    });
  }

  /** Write one page in one transaction (docs/rules.md §3.8); see {@link Store.applyPage}. */
  applyPage(result: PageResult): Promise<PageWrite> {
    return this.#file.call(writingPage(result), () => this.#write(result, true));
  }

  /**
   * Write a group member's batch in one transaction, the feed checkpoint left alone; see
   * {@link Store.applyBatch}. `BEGIN IMMEDIATE` takes the write lock first, so members on one
   * machine write one at a time (each waits up to the busy timeout for the others).
   */
  applyBatch(result: PageResult): Promise<PageWrite> {
    return this.#file.call(writingBatch(result), () => this.#write(result, false));
  }

  /** A page's or a batch's rows; with `checkpoint`, the guarded checkpoint and the outbox. */
  #write(result: PageResult, checkpoint: boolean): PageWrite {
    const s = this.#file.statements();
    const now = nowUtc();
    const rejected: Rejection[] = [];
    let outbox: OutboxWrite = { outboxed: 0 };
    this.#file.transaction(() => {
      const changes = result.changes;
      // Positional parameters: no object to build or names to look up per parcel.
      runByRows(s.upsertParcels, changes.length, (i, values) => {
        const c = changes[i] as ParcelChange;
        values.push(
          c.parcelId,
          c.lastEventId,
          c.type,
          c.statusCode,
          c.runId,
          c.createdDateTimeUtc,
          c.pickupEventId,
          c.pickupTimeUtc,
          c.deliveryEventId,
          c.deliveryTimeUtc,
          now,
        );
      });
      for (const r of result.rejections) {
        const row = { eventId: r.eventId, reason: r.reason, payload: r.payload, now };
        if (s.insertRejection.run(row).changes === 1) rejected.push(r);
      }
      if (!checkpoint) return;
      const moved = s.moveCheckpoint.run({ id: FEED_ID, from: result.from, to: result.to, now });
      if (moved.changes !== 1) {
        throw new CheckpointMovedError(result.from, this.#file.checkpoint());
      }
      if (result.late !== undefined) {
        s.storeLate.run(result.late.settled, result.late.holes, FEED_ID);
      }
      if (this.#outbox) outbox = writeOutbox(s, result, now);
    });
    return { rejected, ...outbox };
  }

  /** The late-event holes the last page stored. */
  readLateHoles(): Promise<string | null> {
    return this.#file.call("reading the late-event holes", () => {
      const row = this.#file.db.prepare(SQLITE_LATE.readLateHoles).get(FEED_ID) as
        | { holes: string | null }
        | undefined;
      return row?.holes ?? null;
    });
  }

  /** The highest applied migration (0 when none). */
  schemaVersion(): Promise<number> {
    return this.#file.call("reading the schema version", () => {
      try {
        return (this.#file.db.prepare("SELECT max(Version) AS v FROM SchemaMigrations").get() as {
          v: number | null;
        }).v ?? 0;
      } catch (error) {
        if (isMissingTable(error)) return 0;
        throw error;
      }
    });
  }

  /** Whether the file answers (`SELECT 1`; WAL readers never wait for the writer). */
  ping(): Promise<void> {
    return this.#file.call("checking the database", () => {
      this.#file.db.prepare("SELECT 1").get();
    });
  }

  /** Checkpoint, counts and schema version. */
  status(): Promise<StoreStatus> {
    return this.#file.call("reading the status", () => {
      try {
        const state = this.#file.db.prepare(
          "SELECT LastProcessedEventId AS checkpoint, UpdatedAtUtc AS updatedAt FROM WorkerStates WHERE Id = ?",
        ).get(FEED_ID) as { checkpoint: number; updatedAt: string } | undefined;
        let settled: number | null = null;
        try {
          settled = (this.#file.db.prepare(SQLITE_LATE.readSettled).get(FEED_ID) as
            | { settled: number | null }
            | undefined)?.settled ?? null;
        } catch {
          // Not there before migration 003: status may read a database not yet migrated.
        }
        const count = (table: string) =>
          (this.#file.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
        const version = this.#file.db.prepare("SELECT max(Version) AS v FROM SchemaMigrations")
          .get() as { v: number | null };
        const newest = this.#file.db.prepare(
          "SELECT CreatedDateTimeUtc AS t FROM ParcelStates ORDER BY LastEventId DESC LIMIT 1",
        ).get() as { t: string } | undefined;
        return {
          checkpoint: state?.checkpoint ?? 0,
          checkpointUpdatedAtUtc: state?.updatedAt ?? null,
          parcels: count("ParcelStates"),
          rejected: count("RejectedEvents"),
          schemaVersion: version.v ?? 0,
          newestEventUtc: newest?.t ?? null,
          settledEventId: settled,
        };
      } catch (error) {
        throw missingSchema(error, isMissingTable);
      }
    });
  }

  /**
   * Take an exclusive lock on `PATH.lock` beside the database file (released by the OS when the
   * process dies). An in-memory database has no other writer: its lock always succeeds.
   */
  tryLockFeed(): Promise<FeedLock | null> {
    return sqliteFeedLock(this.#file.path);
  }

  /** One parcel's row, or null. */
  parcel(parcelId: number): Promise<ParcelState | null> {
    return this.#file.call(`reading parcel ${parcelId}`, () => {
      const row = this.#file.db.prepare(
        `SELECT ParcelId AS parcelId, LastEventId AS lastEventId, Type AS type,
           StatusCode AS statusCode, RunId AS runId, CreatedDateTimeUtc AS createdDateTimeUtc,
           PickupTimeUtc AS pickupTimeUtc, DeliveryTimeUtc AS deliveryTimeUtc,
           UpdatedAtUtc AS updatedAtUtc
         FROM ParcelStates WHERE ParcelId = ?`,
      ).get(parcelId) as ParcelState | undefined;
      return row === undefined ? null : { ...row };
    });
  }

  /** The newest rejections, newest first. */
  rejections(limit: number): Promise<RejectedEvent[]> {
    return this.#file.call("reading rejections", () =>
      (this.#file.db.prepare(
        `SELECT Id AS id, EventId AS eventId, Reason AS reason, Payload AS payload,
           RejectedAtUtc AS rejectedAtUtc
         FROM RejectedEvents ORDER BY Id DESC LIMIT ?`,
      ).all(limit) as unknown as RejectedEvent[]).map((row) => ({ ...row })));
  }

  /** Move the checkpoint; returns the old one. */
  resetCheckpoint(eventId: number): Promise<number> {
    return this.#file.call("moving the checkpoint", () =>
      this.#file.transaction(() => {
        const old = feedRow(this.#file.checkpoint(), "WorkerStates");
        this.#file.db.prepare(
          "UPDATE WorkerStates SET LastProcessedEventId = ?, UpdatedAtUtc = ? WHERE Id = ?",
        ).run(eventId, nowUtc(), FEED_ID);
        return old;
      }));
  }

  /** Close the database file. */
  close(): Promise<void> {
    this.#file.close();
    return Promise.resolve();
  }
}
