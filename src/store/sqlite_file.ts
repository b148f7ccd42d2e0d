/**
 * The SQLite store's open file: the connection with its pragmas, the named call, the prepared
 * page statements, the write transaction.
 *
 * @module
 */

import {
  DatabaseSync,
  type SQLInputValue,
  type StatementResultingChanges,
  type StatementSync,
} from "node:sqlite";
import { FEED_ID, missingSchema, storeCall } from "./_call.ts";
import { SQLITE_ERRORS, whyNotOpened } from "./sqlite_errors.ts";
import {
  INSERT_REJECTION,
  insertOutbox,
  MOVE_CHECKPOINT,
  OUTBOX_HIGHEST_SEQ,
  rowChunks,
  ROWS_PER_STATEMENT,
  upsertParcels,
} from "./sqlite_sql.ts";
import { SQLITE_LATE } from "./late_sql.ts";
import type { AppliedMigration } from "./store.ts";

/**
 * Milliseconds a writer waits for another connection's lock before failing: long enough for two
 * processes on one file (two consumers of a group, or `reset` beside a worker) to take turns at
 * page writes of a few milliseconds each.
 */
const BUSY_TIMEOUT_MS = 5000;

/** A multi-row statement by its rows per statement (each of {@link ROWS_PER_STATEMENT}). */
export type ByRows = ReadonlyMap<number, StatementSync>;

/** The page statements, prepared once. */
export interface Prepared {
  upsertParcels: ByRows;
  insertRejection: StatementSync;
  moveCheckpoint: StatementSync;
  readCheckpoint: StatementSync;
  insertOutbox: ByRows;
  outboxHighestSeq: StatementSync;
  storeLate: StatementSync;
}

/**
 * Run a multi-row statement over `count` rows, in statements of the sizes {@link rowChunks}
 * gives: `bind(i, values)` pushes row i's parameters; `ran` sees each statement's result.
 */
export function runByRows(
  statements: ByRows,
  count: number,
  bind: (row: number, values: SQLInputValue[]) => void,
  ran?: (result: StatementResultingChanges) => void,
): void {
  let row = 0;
  for (const size of rowChunks(count)) {
    const statement = statements.get(size) as StatementSync;
    const values: SQLInputValue[] = [];
    for (const end = row + size; row < end; row++) bind(row, values);
    const result = statement.run(...values);
    ran?.(result);
  }
}

/** Whether an error from node:sqlite says a table is missing. */
export function isMissingTable(error: unknown): boolean {
  return error instanceof Error && /no such table/i.test(error.message);
}

/**
 * One open SQLite database file and what every statement of the store goes through: the call
 * that names errors, the prepared page statements, the write transaction.
 */
export class SqliteFile {
  /** The connection. */
  readonly db: DatabaseSync;
  /** The file's path (`:memory:` for none). */
  readonly path: string;
  #prepared: Prepared | null = null;

  /**
   * Open (and create) the database file at `path`.
   *
   * Pragmas: WAL lets `status` read while the worker writes; `synchronous=NORMAL` is safe in
   * WAL mode against process crashes (a power loss may lose the last pages, but never half a
   * page, and the checkpoint goes back with them); the busy timeout makes a second connection
   * wait for a lock instead of failing at once; an 8 MiB page cache (SQLite's default is 2 MiB)
   * keeps the ParcelStates b-tree pages that upserts touch in memory. It was 32 MiB, but a long
   * run fills it (a 10M-event drain, 1M parcels), and those 24 MiB more of RSS bought no speed
   * measurable on the store or the worker (docs/performance.md).
   * @param readOnly open an existing file for reading only (fails when it is missing).
   */
  constructor(path: string, readOnly: boolean) {
    this.path = path;
    let db: DatabaseSync | null = null;
    try {
      db = new DatabaseSync(path, { readOnly });
      db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      if (!readOnly) {
        db.exec("PRAGMA journal_mode = WAL");
        db.exec("PRAGMA synchronous = NORMAL");
        db.exec("PRAGMA cache_size = -8192");
      }
    } catch (error) {
      if (db?.isOpen) db.close();
      throw new Error(
        `cannot open SQLite database ${path}: ${whyNotOpened(path, readOnly, error)}`,
        { cause: error },
      );
    }
    this.db = db;
  }

  /**
   * Run synchronous database work for `doing` as a promise: its result, or its error as a
   * rejection, a permanent one named (a transient one is not retried here: the busy timeout has
   * already waited). The same thing as the server stores' `#call`.
   */
  call<T>(doing: string, work: () => T): Promise<T> {
    return storeCall(SQLITE_ERRORS, doing, () => {
      try {
        return Promise.resolve(work());
      } catch (error) {
        return Promise.reject(error);
      }
    }, 1);
  }

  statements(): Prepared {
    if (this.#prepared === null) {
      try {
        this.#prepared = {
          upsertParcels: this.#byRows(upsertParcels),
          insertRejection: this.db.prepare(INSERT_REJECTION),
          moveCheckpoint: this.db.prepare(MOVE_CHECKPOINT),
          readCheckpoint: this.db.prepare(
            "SELECT LastProcessedEventId AS checkpoint FROM WorkerStates WHERE Id = ?",
          ),
          insertOutbox: this.#byRows(insertOutbox),
          outboxHighestSeq: this.db.prepare(OUTBOX_HIGHEST_SEQ),
          storeLate: this.db.prepare(SQLITE_LATE.storeLate),
        };
      } catch (error) {
        throw missingSchema(error, isMissingTable);
      }
    }
    return this.#prepared;
  }

  /** A multi-row statement prepared for each of {@link ROWS_PER_STATEMENT}. */
  #byRows(sql: (rows: number) => string): ByRows {
    return new Map(ROWS_PER_STATEMENT.map((rows) => [rows, this.db.prepare(sql(rows))]));
  }

  /** Run `work` in one write transaction; roll back on any error. */
  transaction<T>(work: () => T): T {
    this.db.exec("BEGIN IMMEDIATE");
    try {
      const result = work();
      this.db.exec("COMMIT");
      return result;
    } catch (error) {
      if (this.db.isTransaction) this.db.exec("ROLLBACK");
      throw error;
    }
  }

  applied(): AppliedMigration[] {
    return this.db.prepare(
      "SELECT Version AS version, Name AS name, Checksum AS checksum, AppliedAtUtc AS appliedAtUtc FROM SchemaMigrations ORDER BY Version",
    ).all() as unknown as AppliedMigration[];
  }

  /** The feed's checkpoint, or null when its row is missing. */
  checkpoint(): number | null {
    const row = this.statements().readCheckpoint.get(FEED_ID) as
      | { checkpoint: number }
      | undefined;
    return row === undefined ? null : row.checkpoint;
  }

  /** Close the connection (once). */
  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}
