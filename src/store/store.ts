/**
 * The store seam: the interfaces every database adapter implements and the loop, the relay and
 * the operator commands use, and the one error they act on (a moved checkpoint). Nothing here
 * knows SQL; the error classes are in `src/errors.ts`, the adapters' shared machinery in
 * `_call.ts`.
 *
 * @module
 */

import type { PageResult, ParcelChange } from "../domain/project.ts";
import type { OutboxRow } from "../domain/message.ts";
import type { Rejection } from "../domain/validate.ts";
import {
  DatabaseUnavailableError,
  MigrationError,
  PermanentStoreError,
  SchemaMissingError,
  UnsupportedDatabaseError,
} from "../errors.ts";

/** A migration recorded as applied in the database. */
export interface AppliedMigration {
  /** The migration's number, from its file name (`001_init.sql` → 1). */
  readonly version: number;
  /** The rest of the file name (`init`). */
  readonly name: string;
  /** SHA-256 of the migration's text, hex. */
  readonly checksum: string;
  /** When it was applied, UTC. */
  readonly appliedAtUtc: string;
}

/** Key figures of a store, for the `status` command. */
export interface StoreStatus {
  /** The feed checkpoint: the last EventId whose page is fully stored. */
  readonly checkpoint: number;
  /** When the checkpoint last moved, UTC (null before the first page). */
  readonly checkpointUpdatedAtUtc: string | null;
  /** Number of rows in ParcelStates. */
  readonly parcels: number;
  /** Number of rows in RejectedEvents. */
  readonly rejected: number;
  /** The highest applied migration version (0 when none). */
  readonly schemaVersion: number;
  /** CreatedDateTimeUtc of the newest applied event (the parcel row with the highest
   *  LastEventId), or null before the first. */
  readonly newestEventUtc: string | null;
  /** The settled mark of late events (docs/rules.md §3.10); null before the first page with it. */
  readonly settledEventId?: number | null;
}

/**
 * The lock that makes one worker the active one for the feed. It lives in a database session
 * (or, for SQLite, an open file), so it is released when its holder dies.
 */
export interface FeedLock {
  /** Whether it is still held: false once its session is gone (e.g. the server restarted). */
  held(): Promise<boolean>;
  /** Give it up. */
  release(): Promise<void>;
}

/**
 * A ParcelStates row, times as docs/rules.md §3.5 text: the columns a {@link ParcelChange} writes
 * (its last event, the first pickup and delivery times), and when the row was last written.
 */
export interface ParcelState extends
  Pick<
    ParcelChange,
    | "parcelId"
    | "lastEventId"
    | "type"
    | "statusCode"
    | "runId"
    | "createdDateTimeUtc"
    | "pickupTimeUtc"
    | "deliveryTimeUtc"
  > {
  /** When the row was last written, UTC. */
  readonly updatedAtUtc: string;
}

/** A RejectedEvents row. */
export interface RejectedEvent {
  readonly id: number;
  readonly eventId: number | null;
  readonly reason: string;
  readonly payload: string;
  readonly rejectedAtUtc: string;
}

/** What a page write stored. */
export interface PageWrite {
  /**
   * The page's rejections that were new, in page order: a rejection already stored (the same
   * EventId and payload: a replay, or an event without an id served again at a page's edge) is
   * not stored twice, and not counted or reported twice.
   */
  readonly rejected: readonly Rejection[];
  /** How many of the page's accepted events went into the outbox (0 when it is off). */
  readonly outboxed: number;
  /** The outbox position (commit order) of the last row it wrote; absent when it wrote none. */
  readonly lastSeq?: number;
  /**
   * The outbox rows it wrote, each with its position, when the store can vouch that they are
   * exactly what the outbox holds at those positions (SQLite: every row new, and their
   * positions the next ones after the highest ever given); the relay then takes them from here
   * instead of reading them back. Absent otherwise: the relay reads the outbox.
   */
  readonly rows?: readonly SequencedRow[];
}

/**
 * What the loop needs of a store: the checkpoint, a page written atomically, the feed lock.
 */
export interface FeedStore {
  /** The last EventId whose page is fully stored (0 before the first page). */
  readCheckpoint(): Promise<number>;
  /** The late-event holes as the last page stored them (docs/rules.md §3.10), null when none. */
  readLateHoles?(): Promise<string | null>;
  /**
   * Write a page's parcel changes, rejections and new checkpoint atomically; returns what it
   * stored. Fails with {@link CheckpointMovedError} when the stored checkpoint is not
   * `result.from`.
   */
  applyPage(result: PageResult): Promise<PageWrite>;
  /** Take the feed lock if no other instance holds it; null when one does. */
  tryLockFeed(): Promise<FeedLock | null>;
  /** Release connections and files. */
  close(): Promise<void>;
}

/** What start-up and the operator commands need of a store: the schema and queries. */
export interface StoreAdmin {
  /** Apply migrations that are not yet applied; returns what was applied. */
  migrate(): Promise<AppliedMigration[]>;
  /** Fail with {@link SchemaMissingError} or {@link MigrationError} unless fully migrated. */
  verifySchema(): Promise<void>;
  /** Checkpoint, counts and schema version. */
  status(): Promise<StoreStatus>;
  /** The highest applied migration version (0 when none, or before the first migration). */
  schemaVersion(): Promise<number>;
  /**
   * Whether the database answers, without reading a table a page write locks: the readiness
   * probe (`/readyz`). Fails with the store's error when it does not.
   */
  ping(): Promise<void>;
  /** One parcel's row, or null when the parcel is unknown. */
  parcel(parcelId: number): Promise<ParcelState | null>;
  /** The newest `limit` rejections, newest first. */
  rejections(limit: number): Promise<RejectedEvent[]>;
  /** Move the checkpoint to `eventId` (back: replay; forward: skip); returns the old one. */
  resetCheckpoint(eventId: number): Promise<number>;
}

/** An outbox row with its position in commit order. */
export interface SequencedRow extends OutboxRow {
  /** Its place in commit order (ascending, never reused): a late event's row comes after the page's. */
  readonly seq: number;
  /** A late event (docs/rules.md §3.10): below EventIds the stream already holds. */
  readonly late: boolean;
}

/**
 * What the relay needs of a store (`store.outbox`): the outbox, where each page's accepted
 * events wait (written by `applyPage` when the store was opened with `outbox`) in commit order,
 * and how far the stream has them. The relay's cursor is an outbox position (`seq`), not an EventId: a late
 * event committed after higher EventIds is after them in the outbox too.
 */
export interface OutboxStore {
  /** The outbox rows after position `seq`, in commit order, at most `limit`. */
  outboxAfter(seq: number, limit: number): Promise<SequencedRow[]>;
  /** The relay's cursor: the outbox position of the last row the stream holds (0 before). */
  readRelayCursor(): Promise<number>;
  /**
   * Move the relay's cursor up to `seq` (never back) and prune exactly the rows it published,
   * those after the old cursor up to `seq`, in one transaction; the highest EventId published
   * is kept (a replay after `reset` does not outbox those again).
   */
  commitRelay(seq: number): Promise<void>;
  /** The outbox position of the row of `eventId`, or null when it has none (pruned, or never). */
  outboxSeqOf(eventId: number): Promise<number | null>;
  /** How many rows wait in the outbox, and when the oldest was written (UTC), or null. */
  outboxBacklog(): Promise<{ readonly rows: number; readonly oldestUtc: string | null }>;
}

/**
 * What a member of a consumer group needs of a store (`run --source nats --group`): a batch of
 * the stream written without the feed checkpoint, for the group's durable consumer is the
 * checkpoint, and members write at the same time.
 */
export interface BatchStore {
  /**
   * Write a batch's parcel changes and new rejections in one transaction, without reading or
   * moving the feed checkpoint (`result.from` and `result.to` are not stored) and without the
   * outbox; returns what it stored. Safe to repeat, in any order, and while other members
   * write: parcel rows merge under the same guards as a page's (taken in ParcelId order), and
   * a rejection already stored is not stored again.
   */
  applyBatch(result: PageResult): Promise<PageWrite>;
}

/**
 * A place that keeps parcel states and the feed checkpoint: the loop's part, the admin's and a
 * group member's; and its outbox, for the relay, an object of its own on the same connection.
 */
export interface Store extends FeedStore, StoreAdmin, BatchStore {
  /** The outbox the relay reads and commits (written by `applyPage`, see {@link OutboxStore}). */
  readonly outbox: OutboxStore;
}

/** How a store is opened. */
export interface StoreOptions {
  /** Only look (operator commands): open an existing database, write nothing. */
  readonly readOnly?: boolean;
  /** Write each page's accepted events into the outbox (when NATS_URL is set). */
  readonly outbox?: boolean;
}

/**
 * Raised when a page was projected from a checkpoint that is no longer the stored one:
 * another writer moved it. The page's transaction is rolled back, nothing is applied twice.
 */
export class CheckpointMovedError extends Error {
  /** The checkpoint the page was projected from. */
  readonly expected: number;
  /** The checkpoint found in the store (null when the row is missing). */
  readonly actual: number | null;

  /** @param expected the page's `from`; @param actual what the store holds. */
  constructor(expected: number, actual: number | null) {
    super(
      `checkpoint moved: the page was projected from ${expected} but the store holds ${
        actual ?? "no checkpoint row"
      } (another worker is writing this feed?)`,
    );
    this.name = "CheckpointMovedError";
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * Whether a store error means the worker cannot go on: the schema is missing or does not match,
 * the database is unsupported, or a permanent database error. Everything else is retried.
 */
export function isFatalStoreError(error: unknown): boolean {
  return error instanceof SchemaMissingError || error instanceof MigrationError ||
    error instanceof PermanentStoreError || error instanceof UnsupportedDatabaseError ||
    error instanceof DatabaseUnavailableError;
}
