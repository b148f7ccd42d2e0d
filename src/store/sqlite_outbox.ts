/**
 * The SQLite store's outbox (docs/rules.md §7): the page's accepted events written in the page's
 * transaction, and what the relay reads and commits, on the store's open file.
 *
 * @module
 */

import { pageTraceparent } from "../telemetry/mod.ts";
import type { PageResult } from "../domain/project.ts";
import { SchemaMissingError } from "../errors.ts";
import type { OutboxStore, PageWrite, SequencedRow } from "./store.ts";
import { nowUtc, RELAY_ID } from "./_call.ts";
import type { StatementSync } from "node:sqlite";
import { type Prepared, runByRows, type SqliteFile } from "./sqlite_file.ts";
import { SQLITE_LATE } from "./late_sql.ts";
import { outboxOrder } from "./page_document.ts";
import type { OutboxRow } from "../domain/message.ts";

/** What a page put into the outbox; see {@link PageWrite}. */
export type OutboxWrite = Pick<PageWrite, "outboxed" | "lastSeq" | "rows">;

/**
 * The page's accepted events into the outbox, in commit order, but those the stream already
 * holds (at or below the highest EventId published: a replay after `reset`); late events
 * always (never seen, so never published). Runs inside the page's transaction. Returns how many
 * rows were new, the last one's outbox position, and — when every row was new and took the
 * positions right after the highest ever given, so that each one's position is known — the rows
 * with their positions, for the relay to take without reading them back.
 */
export function writeOutbox(s: Prepared, result: PageResult, now: string): OutboxWrite {
  const published = (s.readCheckpoint.get(RELAY_ID) as { checkpoint: number } | undefined)
    ?.checkpoint ?? 0;
  const late = new Set(result.late?.found ?? []);
  const traceparent = pageTraceparent();
  const rows = outboxOrder(result).filter((row) =>
    row.eventId > published || late.has(row.eventId)
  );
  if (rows.length === 0) return { outboxed: 0 };
  const before = (s.outboxHighestSeq.get() as { seq: number }).seq;
  let written = 0;
  let lastSeq = 0;
  runByRows(s.insertOutbox, rows.length, (i, values) => {
    const row = rows[i] as OutboxRow;
    values.push(
      row.eventId,
      row.subject,
      row.body,
      now,
      traceparent,
      late.has(row.eventId) ? 1 : 0,
    );
  }, (done) => {
    // A row already there is left as it is (not counted); the last one inserted is the highest.
    if (Number(done.changes) > 0) {
      written += Number(done.changes);
      lastSeq = Number(done.lastInsertRowid);
    }
  });
  if (written === 0) return { outboxed: 0 };
  // AUTOINCREMENT gives each row a position above every one given before: n new rows ending at
  // before + n took before + 1 … before + n, in the order they went in.
  if (written !== rows.length || lastSeq !== before + written) {
    return { outboxed: written, lastSeq };
  }
  const sequenced = rows.map((row, i): SequencedRow => ({
    seq: before + 1 + i,
    eventId: row.eventId,
    subject: row.subject,
    body: row.body,
    traceparent,
    late: late.has(row.eventId),
  }));
  return { outboxed: written, lastSeq, rows: sequenced };
}

/** What the relay reads and commits of the SQLite outbox; see {@link OutboxStore}. */
export class SqliteOutbox implements OutboxStore {
  readonly #file: SqliteFile;
  /**
   * Its statements, prepared once: a statement prepared per call holds native memory that V8
   * does not see until a major GC (a 10M-event drain with NATS_URL peaked at 227 MB with one
   * per read and three per commit).
   */
  readonly #statements = new Map<string, StatementSync>();

  /** @param file the store's open file (the outbox shares its connection). */
  constructor(file: SqliteFile) {
    this.#file = file;
  }

  #prepared(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#file.db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /** The outbox rows after position `seq`, in commit order. */
  outboxAfter(seq: number, limit: number): Promise<SequencedRow[]> {
    return this.#file.call(
      "reading the outbox",
      () =>
        (this.#prepared(SQLITE_LATE.outboxAfter).all(seq, limit) as unknown as (
          & Omit<SequencedRow, "late">
          & { late: number }
        )[]).map((row) => ({ ...row, late: row.late === 1 })),
    );
  }

  /** The relay's cursor: an outbox position. */
  readRelayCursor(): Promise<number> {
    return this.#file.call("reading the relay's cursor", () => {
      const row = this.#prepared(SQLITE_LATE.readRelayCursor).get(RELAY_ID) as
        | { seq: number | null }
        | undefined;
      if (row === undefined) throw new SchemaMissingError(`no WorkerStates row '${RELAY_ID}'`);
      return row.seq ?? 0;
    });
  }

  /** Move the relay's cursor up to `seq` and prune exactly the rows it published. */
  commitRelay(seq: number): Promise<void> {
    return this.#file.call(
      "recording what the relay published",
      () =>
        this.#file.transaction(() => {
          this.#prepared(SQLITE_LATE.commitRelay).run(seq, nowUtc(), RELAY_ID);
          this.#prepared(SQLITE_LATE.prunePublished).run(seq, RELAY_ID);
          this.#prepared(SQLITE_LATE.moveRelayCursor).run(seq, RELAY_ID);
        }),
    );
  }

  /** The outbox position of `eventId`'s row, or null. */
  outboxSeqOf(eventId: number): Promise<number | null> {
    return this.#file.call("reading the outbox", () => {
      const row = this.#prepared(SQLITE_LATE.outboxSeqOf).get(eventId) as
        | { seq: number }
        | undefined;
      return row?.seq ?? null;
    });
  }

  /** Rows waiting in the outbox (after the relay's cursor) and the oldest one's time. */
  outboxBacklog(): Promise<{ rows: number; oldestUtc: string | null }> {
    return this.#file.call("reading the outbox", () => {
      const row = this.#prepared(SQLITE_LATE.outboxBacklog).get(RELAY_ID) as {
        n: number;
        oldest: string | null;
      };
      return { rows: row.n, oldestUtc: row.oldest };
    });
  }
}
