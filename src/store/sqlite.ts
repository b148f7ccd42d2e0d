/**
 * The embedded store: SQLite through `node:sqlite`, one file, WAL journal.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { type OutboxRow, outboxRows } from "../domain/message.ts";
import type { PageResult } from "../domain/project.ts";
import type { Rejection } from "../domain/validate.ts";
import init from "../../sql/sqlite/001_init.sql" with { type: "text" };
import outbox from "../../sql/sqlite/002_outbox.sql" with { type: "text" };
import { defineMigrations, type Migration, pendingMigrations, requireMigrated } from "./migrate.ts";
import {
  type AppliedMigration,
  CheckpointMovedError,
  type ErrorClass,
  FEED_ID,
  type FeedLock,
  nowUtc,
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
  writingBatch,
  writingPage,
} from "./store.ts";

/** The SQLite migrations, embedded in the program (docs/rules.md §4). */
export const SQLITE_MIGRATIONS: readonly Migration[] = defineMigrations({
  "001_init.sql": init,
  "002_outbox.sql": outbox,
});

/** Milliseconds a writer waits for another connection's lock before failing. */
const BUSY_TIMEOUT_MS = 5000;

/**
 * Insert or merge one parcel's change under the guards of docs/rules.md §3.6–3.7: the last-event
 * columns move only to a higher EventId, a pickup or delivery time only to a lower EventId than
 * the stored one. A replayed page therefore matches no row's WHERE and changes nothing.
 * Parameters ?1–?11: ParcelId, LastEventId, Type, StatusCode, RunId, CreatedDateTimeUtc,
 * PickupEventId, PickupTimeUtc, DeliveryEventId, DeliveryTimeUtc, UpdatedAtUtc.
 * (In an SQLite UPDATE every expression reads the row as it was before the update.)
 */
const UPSERT_PARCEL = `
INSERT INTO ParcelStates (ParcelId, LastEventId, Type, StatusCode, RunId, CreatedDateTimeUtc,
    PickupEventId, PickupTimeUtc, DeliveryEventId, DeliveryTimeUtc, UpdatedAtUtc)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
ON CONFLICT (ParcelId) DO UPDATE SET
    LastEventId = CASE WHEN excluded.LastEventId > ParcelStates.LastEventId
        THEN excluded.LastEventId ELSE ParcelStates.LastEventId END,
    Type = CASE WHEN excluded.LastEventId > ParcelStates.LastEventId
        THEN excluded.Type ELSE ParcelStates.Type END,
    StatusCode = CASE WHEN excluded.LastEventId > ParcelStates.LastEventId
        THEN excluded.StatusCode ELSE ParcelStates.StatusCode END,
    RunId = CASE WHEN excluded.LastEventId > ParcelStates.LastEventId
        THEN excluded.RunId ELSE ParcelStates.RunId END,
    CreatedDateTimeUtc = CASE WHEN excluded.LastEventId > ParcelStates.LastEventId
        THEN excluded.CreatedDateTimeUtc ELSE ParcelStates.CreatedDateTimeUtc END,
    PickupEventId = CASE WHEN excluded.PickupEventId < coalesce(ParcelStates.PickupEventId, 9007199254740992)
        THEN excluded.PickupEventId ELSE ParcelStates.PickupEventId END,
    PickupTimeUtc = CASE WHEN excluded.PickupEventId < coalesce(ParcelStates.PickupEventId, 9007199254740992)
        THEN excluded.PickupTimeUtc ELSE ParcelStates.PickupTimeUtc END,
    DeliveryEventId = CASE WHEN excluded.DeliveryEventId < coalesce(ParcelStates.DeliveryEventId, 9007199254740992)
        THEN excluded.DeliveryEventId ELSE ParcelStates.DeliveryEventId END,
    DeliveryTimeUtc = CASE WHEN excluded.DeliveryEventId < coalesce(ParcelStates.DeliveryEventId, 9007199254740992)
        THEN excluded.DeliveryTimeUtc ELSE ParcelStates.DeliveryTimeUtc END,
    UpdatedAtUtc = excluded.UpdatedAtUtc
WHERE excluded.LastEventId > ParcelStates.LastEventId
   OR excluded.PickupEventId < coalesce(ParcelStates.PickupEventId, 9007199254740992)
   OR excluded.DeliveryEventId < coalesce(ParcelStates.DeliveryEventId, 9007199254740992)`;

/** A rejection is one row per (EventId, Payload): replaying a page adds none (docs/rules.md §3.9). */
const INSERT_REJECTION = `
INSERT INTO RejectedEvents (EventId, Reason, Payload, RejectedAtUtc)
SELECT :eventId, :reason, :payload, :now
WHERE NOT EXISTS (SELECT 1 FROM RejectedEvents WHERE EventId IS :eventId AND Payload = :payload)`;

/** Move the checkpoint only from the value the page was projected from (docs/rules.md §3.8). */
const MOVE_CHECKPOINT = `
UPDATE WorkerStates SET LastProcessedEventId = :to, UpdatedAtUtc = :now
WHERE Id = :id AND LastProcessedEventId = :from`;

/** An accepted event into the outbox, once (docs/rules.md §7). ?1–?4: EventId, Subject, Body, now. */
const INSERT_OUTBOX = `
INSERT INTO OutboxEvents (EventId, Subject, Body, CreatedAtUtc) VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (EventId) DO NOTHING`;

const MIGRATIONS_TABLE = `
CREATE TABLE IF NOT EXISTS SchemaMigrations (
    Version      INTEGER NOT NULL PRIMARY KEY,
    Name         TEXT    NOT NULL,
    Checksum     TEXT    NOT NULL,
    AppliedAtUtc TEXT    NOT NULL
) STRICT`;

interface Prepared {
  upsertParcel: StatementSync;
  insertRejection: StatementSync;
  moveCheckpoint: StatementSync;
  readCheckpoint: StatementSync;
  insertOutbox: StatementSync;
}

/**
 * Run synchronous database work for `doing` as a promise: its result, or its error as a
 * rejection, a permanent one named (a transient one is not retried here: the busy timeout has
 * already waited).
 */
function settle<T>(doing: string, work: () => T): Promise<T> {
  return storeCall(ERRORS, doing, () => {
    try {
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(error);
    }
  }, 1);
}

/**
 * SQLite's result codes by the text `sqlite3_errstr()` gives each (node:sqlite reports only the
 * message), and whether retrying can help: BUSY and LOCKED (another connection holds a lock),
 * I/O errors, a full disk and low memory pass; the rest do not. A message that matches none is
 * SQLITE_ERROR: a syntax error, a missing table or column.
 */
const SQLITE_RESULT_CODES: readonly [string, RegExp, "transient" | "permanent"][] = [
  ["SQLITE_BUSY", /^database is locked/, "transient"],
  ["SQLITE_LOCKED", /^database table is locked/, "transient"],
  ["SQLITE_IOERR", /^disk I\/O error/, "transient"],
  ["SQLITE_FULL", /^database or disk is full/, "transient"],
  ["SQLITE_NOMEM", /^out of memory/, "transient"],
  ["SQLITE_PROTOCOL", /^locking protocol/, "transient"],
  ["SQLITE_SCHEMA", /^database schema has changed/, "transient"],
  ["SQLITE_READONLY", /^attempt to write a readonly database/, "permanent"],
  ["SQLITE_CANTOPEN", /^unable to open database file/, "permanent"],
  ["SQLITE_CORRUPT", /^database disk image is malformed/, "permanent"],
  ["SQLITE_NOTADB", /^file is not a database/, "permanent"],
  ["SQLITE_PERM", /^access permission denied/, "permanent"],
  ["SQLITE_AUTH", /^authorization denied/, "permanent"],
  ["SQLITE_TOOBIG", /^string or blob too big/, "permanent"],
  ["SQLITE_CONSTRAINT", /constraint failed/, "permanent"],
  ["SQLITE_MISMATCH", /^datatype mismatch/, "permanent"],
];

/**
 * Sort an error from `node:sqlite` by its result code; errors that do not come from SQLite are
 * `unknown`.
 * @example classifySqliteError(sqliteError("database is locked")) // { kind: "transient", code: "SQLITE_BUSY" }
 */
export function classifySqliteError(error: unknown): ErrorClass {
  if ((error as { code?: unknown })?.code !== "ERR_SQLITE_ERROR") {
    return { kind: "unknown", code: null };
  }
  const message = (error as Error).message ?? "";
  for (const [code, pattern, kind] of SQLITE_RESULT_CODES) {
    if (pattern.test(message)) return { kind, code };
  }
  return { kind: "permanent", code: "SQLITE_ERROR" };
}

/** How the SQLite store names itself and sorts errors. */
const ERRORS: StoreErrors = { store: "SQLite", classify: classifySqliteError };

/**
 * Why a database file could not be opened, in words an operator can act on: a missing file or
 * directory, a directory or file that cannot be written, or SQLite's own reason.
 */
export function whyNotOpened(path: string, readOnly: boolean, error: unknown): string {
  const reason = (error as Error)?.message ?? String(error);
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) || "/" : ".";
  const exists = (p: string) => {
    try {
      Deno.statSync(p);
      return true;
    } catch {
      return false;
    }
  };
  if (!exists(dir)) return `its directory ${dir} does not exist (${reason})`;
  if (!Deno.statSync(dir).isDirectory) return `${dir} is not a directory (${reason})`;
  if (!exists(path)) {
    if (readOnly) {
      return `the file does not exist; "migrate" or "run" creates it (${reason})`;
    }
    try {
      const probe = `${dir}/.scan-worker-write-check-${crypto.randomUUID()}`;
      Deno.writeTextFileSync(probe, "");
      Deno.removeSync(probe);
    } catch (probeError) {
      return `its directory ${dir} is read-only or not writable by this user (${
        (probeError as Error).message
      })`;
    }
  } else if (!readOnly && /readonly|read-only|unable to open/i.test(reason)) {
    return `the file or its directory ${dir} is read-only (SQLite needs to write the database and its -wal and -shm files beside it) (${reason})`;
  }
  return reason;
}

/** Whether an error from node:sqlite says a table is missing. */
function isMissingTable(error: unknown): boolean {
  return error instanceof Error && /no such table/i.test(error.message);
}

/** The embedded SQLite store (docs/rules.md §4). */
export class SqliteStore implements Store {
  readonly #db: DatabaseSync;
  readonly #path: string;
  readonly #outbox: boolean;
  #prepared: Prepared | null = null;

  /**
   * Open (and create) the database file at `path`.
   *
   * Pragmas: WAL lets `status` read while the worker writes; `synchronous=NORMAL` is safe in
   * WAL mode against process crashes (a power loss may lose the last pages, but never half a
   * page, and the checkpoint goes back with them); the busy timeout makes a second connection
   * wait for a lock instead of failing at once; a 32 MiB page cache (SQLite's default is 2 MiB)
   * keeps the ParcelStates b-tree pages that upserts touch in memory (measured: about 7% more
   * on the store's own write rate, for a few MB of RSS).
   * @param options.readOnly open an existing file for reading only (fails when it is missing);
   * `outbox` write each page's accepted events into the outbox.
   */
  constructor(path: string, options: StoreOptions = {}) {
    const readOnly = options.readOnly ?? false;
    this.#path = path;
    this.#outbox = options.outbox ?? false;
    let db: DatabaseSync | null = null;
    try {
      db = new DatabaseSync(path, { readOnly });
      db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      if (!readOnly) {
        db.exec("PRAGMA journal_mode = WAL");
        db.exec("PRAGMA synchronous = NORMAL");
        db.exec("PRAGMA cache_size = -32768");
      }
    } catch (error) {
      if (db?.isOpen) db.close();
      throw new Error(
        `cannot open SQLite database ${path}: ${whyNotOpened(path, readOnly, error)}`,
        { cause: error },
      );
    }
    this.#db = db;
  }

  #statements(): Prepared {
    if (this.#prepared === null) {
      try {
        this.#prepared = {
          upsertParcel: this.#db.prepare(UPSERT_PARCEL),
          insertRejection: this.#db.prepare(INSERT_REJECTION),
          moveCheckpoint: this.#db.prepare(MOVE_CHECKPOINT),
          readCheckpoint: this.#db.prepare(
            "SELECT LastProcessedEventId AS checkpoint FROM WorkerStates WHERE Id = ?",
          ),
          insertOutbox: this.#db.prepare(INSERT_OUTBOX),
        };
      } catch (error) {
        if (isMissingTable(error)) throw new SchemaMissingError((error as Error).message);
        throw error;
      }
    }
    return this.#prepared;
  }

  /** Run `work` in one write transaction; roll back on any error. */
  #transaction<T>(work: () => T): T {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const result = work();
      this.#db.exec("COMMIT");
      return result;
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw error;
    }
  }

  #applied(): AppliedMigration[] {
    return this.#db.prepare(
      "SELECT Version AS version, Name AS name, Checksum AS checksum, AppliedAtUtc AS appliedAtUtc FROM SchemaMigrations ORDER BY Version",
    ).all() as unknown as AppliedMigration[];
  }

  /** Apply pending migrations in one transaction; an edited applied one fails the call. */
  migrate(): Promise<AppliedMigration[]> {
    return settle("migrating", () =>
      this.#transaction(() => {
        this.#db.exec(MIGRATIONS_TABLE);
        const pending = pendingMigrations(SQLITE_MIGRATIONS, this.#applied());
        const record = this.#db.prepare(
          "INSERT INTO SchemaMigrations (Version, Name, Checksum, AppliedAtUtc) VALUES (?, ?, ?, ?)",
        );
        return pending.map((m) => {
          this.#db.exec(m.sql);
          const appliedAtUtc = nowUtc();
          record.run(m.version, m.name, m.checksum, appliedAtUtc);
          return { version: m.version, name: m.name, checksum: m.checksum, appliedAtUtc };
        });
      }));
  }

  /** Check, without changing anything, that every applied migration is known and unchanged. */
  verifySchema(): Promise<void> {
    return settle("checking the schema", () => {
      let applied: AppliedMigration[];
      try {
        applied = this.#applied();
      } catch (error) {
        if (isMissingTable(error)) throw new SchemaMissingError("no SchemaMigrations table");
        throw error;
      }
      requireMigrated(SQLITE_MIGRATIONS, applied);
    });
  }

  #checkpoint(): number | null {
    const row = this.#statements().readCheckpoint.get(FEED_ID) as
      | { checkpoint: number }
      | undefined;
    return row === undefined ? null : row.checkpoint;
  }

  /** The stored checkpoint (0 before the first page). */
  readCheckpoint(): Promise<number> {
    return settle("reading the checkpoint", () => {
      const checkpoint = this.#checkpoint();
      if (checkpoint === null) throw new SchemaMissingError(`no WorkerStates row '${FEED_ID}'`);
      return checkpoint;
    });
  }

  /** Write one page in one transaction (docs/rules.md §3.8); see {@link Store.applyPage}. */
  applyPage(result: PageResult): Promise<PageWrite> {
    return settle(writingPage(result), () => this.#write(result, true));
  }

  /**
   * Write a group member's batch in one transaction, the feed checkpoint left alone; see
   * {@link Store.applyBatch}. `BEGIN IMMEDIATE` takes the write lock first, so members on one
   * machine write one at a time (each waits up to the busy timeout for the others).
   */
  applyBatch(result: PageResult): Promise<PageWrite> {
    return settle(writingBatch(result), () => this.#write(result, false));
  }

  /** A page's or a batch's rows; with `checkpoint`, the guarded checkpoint and the outbox. */
  #write(result: PageResult, checkpoint: boolean): PageWrite {
    const s = this.#statements();
    const now = nowUtc();
    const rejected: Rejection[] = [];
    let outboxed = 0;
    this.#transaction(() => {
      for (const c of result.changes) {
        // Positional parameters: no object to build or names to look up per parcel.
        s.upsertParcel.run(
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
      }
      for (const r of result.rejections) {
        const row = { eventId: r.eventId, reason: r.reason, payload: r.payload, now };
        if (s.insertRejection.run(row).changes === 1) rejected.push(r);
      }
      if (!checkpoint) return;
      const moved = s.moveCheckpoint.run({ id: FEED_ID, from: result.from, to: result.to, now });
      if (moved.changes !== 1) {
        throw new CheckpointMovedError(result.from, this.#checkpoint());
      }
      if (this.#outbox) outboxed = this.#writeOutbox(s, result, now);
    });
    return { rejected, outboxed };
  }

  /**
   * The page's accepted events into the outbox, but those the stream already holds (at or below
   * the relay's cursor: a replay after `reset`); returns how many rows were new.
   */
  #writeOutbox(s: Prepared, result: PageResult, now: string): number {
    const cursor = (s.readCheckpoint.get(RELAY_ID) as { checkpoint: number } | undefined)
      ?.checkpoint ?? 0;
    let written = 0;
    for (const row of outboxRows(result.events)) {
      if (row.eventId > cursor) {
        written += Number(s.insertOutbox.run(row.eventId, row.subject, row.body, now).changes);
      }
    }
    return written;
  }

  /** The outbox rows after `eventId`, in EventId order. */
  outboxAfter(eventId: number, limit: number): Promise<OutboxRow[]> {
    return settle("reading the outbox", () =>
      (this.#db.prepare(
        `SELECT EventId AS eventId, Subject AS subject, Body AS body FROM OutboxEvents
         WHERE EventId > ? ORDER BY EventId LIMIT ?`,
      ).all(eventId, limit) as unknown as OutboxRow[]).map((row) => ({ ...row })));
  }

  /** The relay's cursor. */
  readRelayCursor(): Promise<number> {
    return settle("reading the relay's cursor", () => {
      const row = this.#statements().readCheckpoint.get(RELAY_ID) as
        | { checkpoint: number }
        | undefined;
      if (row === undefined) throw new SchemaMissingError(`no WorkerStates row '${RELAY_ID}'`);
      return row.checkpoint;
    });
  }

  /** Move the relay's cursor up to `eventId` and prune what it covers, in one transaction. */
  commitRelay(eventId: number): Promise<void> {
    return settle("recording what the relay published", () =>
      this.#transaction(() => {
        this.#db.prepare(
          `UPDATE WorkerStates SET LastProcessedEventId = ?1, UpdatedAtUtc = ?2
           WHERE Id = ?3 AND LastProcessedEventId < ?1`,
        ).run(eventId, nowUtc(), RELAY_ID);
        this.#db.prepare("DELETE FROM OutboxEvents WHERE EventId <= ?").run(eventId);
      }));
  }

  /** Rows waiting in the outbox (after the relay's cursor) and the oldest one's time. */
  outboxBacklog(): Promise<{ rows: number; oldestUtc: string | null }> {
    return settle("reading the outbox", () => {
      const row = this.#db.prepare(
        `SELECT count(*) AS n, min(CreatedAtUtc) AS oldest FROM OutboxEvents
         WHERE EventId > coalesce(
           (SELECT LastProcessedEventId FROM WorkerStates WHERE Id = ?), 0)`,
      ).get(RELAY_ID) as { n: number; oldest: string | null };
      return { rows: row.n, oldestUtc: row.oldest };
    });
  }

  /** Checkpoint, counts and schema version. */
  status(): Promise<StoreStatus> {
    return settle("reading the status", () => {
      try {
        const state = this.#db.prepare(
          "SELECT LastProcessedEventId AS checkpoint, UpdatedAtUtc AS updatedAt FROM WorkerStates WHERE Id = ?",
        ).get(FEED_ID) as { checkpoint: number; updatedAt: string } | undefined;
        const count = (table: string) =>
          (this.#db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
        const version = this.#db.prepare("SELECT max(Version) AS v FROM SchemaMigrations")
          .get() as { v: number | null };
        const newest = this.#db.prepare(
          "SELECT CreatedDateTimeUtc AS t FROM ParcelStates ORDER BY LastEventId DESC LIMIT 1",
        ).get() as { t: string } | undefined;
        return {
          checkpoint: state?.checkpoint ?? 0,
          checkpointUpdatedAtUtc: state?.updatedAt ?? null,
          parcels: count("ParcelStates"),
          rejected: count("RejectedEvents"),
          schemaVersion: version.v ?? 0,
          newestEventUtc: newest?.t ?? null,
        };
      } catch (error) {
        if (isMissingTable(error)) throw new SchemaMissingError((error as Error).message);
        throw error;
      }
    });
  }

  /**
   * Take an exclusive lock on `PATH.lock` beside the database file (released by the OS when the
   * process dies). An in-memory database has no other writer: its lock always succeeds.
   */
  async tryLockFeed(): Promise<FeedLock | null> {
    if (this.#path === ":memory:" || this.#path === "") {
      return { held: () => Promise.resolve(true), release: () => Promise.resolve() };
    }
    const file = await Deno.open(`${this.#path}.lock`, { create: true, write: true });
    if (!await file.tryLock(true)) {
      file.close();
      return null;
    }
    let open = true;
    return {
      held: () => Promise.resolve(open),
      release: async () => {
        if (!open) return;
        open = false;
        await file.unlock();
        file.close();
      },
    };
  }

  /** One parcel's row, or null. */
  parcel(parcelId: number): Promise<ParcelState | null> {
    return settle(`reading parcel ${parcelId}`, () => {
      const row = this.#db.prepare(
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
    return settle("reading rejections", () =>
      (this.#db.prepare(
        `SELECT Id AS id, EventId AS eventId, Reason AS reason, Payload AS payload,
           RejectedAtUtc AS rejectedAtUtc
         FROM RejectedEvents ORDER BY Id DESC LIMIT ?`,
      ).all(limit) as unknown as RejectedEvent[]).map((row) => ({ ...row })));
  }

  /** Move the checkpoint; returns the old one. */
  resetCheckpoint(eventId: number): Promise<number> {
    return settle("moving the checkpoint", () =>
      this.#transaction(() => {
        const old = this.#checkpoint();
        if (old === null) throw new SchemaMissingError(`no WorkerStates row '${FEED_ID}'`);
        this.#db.prepare(
          "UPDATE WorkerStates SET LastProcessedEventId = ?, UpdatedAtUtc = ? WHERE Id = ?",
        ).run(eventId, nowUtc(), FEED_ID);
        return old;
      }));
  }

  /** Close the database file. */
  close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
    return Promise.resolve();
  }
}
