/**
 * The SQLite store's outbox (docs/rules.md §7): the page's accepted events written in the page's
 * transaction, and what the relay reads and commits, on the store's open file.
 *
 * @module
 */

import { pageTraceparent } from "../telemetry/mod.ts";
import type { PageResult } from "../domain/project.ts";
import { SchemaMissingError } from "../errors.ts";
import type { OutboxStore, SequencedRow } from "./store.ts";
import { nowUtc, RELAY_ID } from "./_call.ts";
import type { Prepared, SqliteFile } from "./sqlite_file.ts";
import { SQLITE_LATE } from "./late_sql.ts";
import { outboxOrder } from "./page_document.ts";

/**
 * The page's accepted events into the outbox, in commit order, but those the stream already
 * holds (at or below the highest EventId published: a replay after `reset`); late events
 * always (never seen, so never published). Runs inside the page's transaction. Returns how many
 * rows were new and the last one's outbox position (0 when none).
 */
export function writeOutbox(s: Prepared, result: PageResult, now: string): [number, number] {
  const published = (s.readCheckpoint.get(RELAY_ID) as { checkpoint: number } | undefined)
    ?.checkpoint ?? 0;
  const late = new Set(result.late?.found ?? []);
  let written = 0;
  let lastSeq = 0;
  const traceparent = pageTraceparent();
  for (const row of outboxOrder(result)) {
    const isLate = late.has(row.eventId);
    if (row.eventId > published || isLate) {
      const done = s.insertOutbox.run(
        row.eventId,
        row.subject,
        row.body,
        now,
        traceparent,
        isLate ? 1 : 0,
      );
      if (done.changes === 1) {
        written++;
        lastSeq = Number(done.lastInsertRowid);
      }
    }
  }
  return [written, lastSeq];
}

/** What the relay reads and commits of the SQLite outbox; see {@link OutboxStore}. */
export class SqliteOutbox implements OutboxStore {
  readonly #file: SqliteFile;

  /** @param file the store's open file (the outbox shares its connection). */
  constructor(file: SqliteFile) {
    this.#file = file;
  }

  /** The outbox rows after position `seq`, in commit order. */
  outboxAfter(seq: number, limit: number): Promise<SequencedRow[]> {
    return this.#file.call(
      "reading the outbox",
      () =>
        (this.#file.db.prepare(SQLITE_LATE.outboxAfter).all(seq, limit) as unknown as (
          & Omit<SequencedRow, "late">
          & { late: number }
        )[]).map((row) => ({ ...row, late: row.late === 1 })),
    );
  }

  /** The relay's cursor: an outbox position. */
  readRelayCursor(): Promise<number> {
    return this.#file.call("reading the relay's cursor", () => {
      const row = this.#file.db.prepare(SQLITE_LATE.readRelayCursor).get(RELAY_ID) as
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
          this.#file.db.prepare(SQLITE_LATE.commitRelay).run(seq, nowUtc(), RELAY_ID);
          this.#file.db.prepare(SQLITE_LATE.prunePublished).run(seq, RELAY_ID);
          this.#file.db.prepare(SQLITE_LATE.moveRelayCursor).run(seq, RELAY_ID);
        }),
    );
  }

  /** The outbox position of `eventId`'s row, or null. */
  outboxSeqOf(eventId: number): Promise<number | null> {
    return this.#file.call("reading the outbox", () => {
      const row = this.#file.db.prepare(SQLITE_LATE.outboxSeqOf).get(eventId) as
        | { seq: number }
        | undefined;
      return row?.seq ?? null;
    });
  }

  /** Rows waiting in the outbox (after the relay's cursor) and the oldest one's time. */
  outboxBacklog(): Promise<{ rows: number; oldestUtc: string | null }> {
    return this.#file.call("reading the outbox", () => {
      const row = this.#file.db.prepare(SQLITE_LATE.outboxBacklog).get(RELAY_ID) as {
        n: number;
        oldest: string | null;
      };
      return { rows: row.n, oldestUtc: row.oldest };
    });
  }
}
