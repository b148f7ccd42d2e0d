/**
 * The PostgreSQL store's outbox (docs/rules.md §7): what the relay reads and commits, on the
 * store's pool. (A page's outbox rows are written by the page's own statement.)
 *
 * @module
 */

import { SchemaMissingError } from "../errors.ts";
import type { OutboxStore, SequencedRow } from "./store.ts";
import { RELAY_ID } from "./_call.ts";
import type { PostgresPool } from "./postgres_pool.ts";
import { POSTGRES_SQL } from "./postgres_sql.ts";
import { POSTGRES_LATE } from "./late_sql.ts";

/** What the relay reads and commits of the PostgreSQL outbox; see {@link OutboxStore}. */
export class PostgresOutbox implements OutboxStore {
  readonly #db: PostgresPool;

  /** @param db the store's connections (the outbox shares its pool). */
  constructor(db: PostgresPool) {
    this.#db = db;
  }

  /** The outbox rows after position `seq`, in commit order. */
  outboxAfter(seq: number, limit: number): Promise<SequencedRow[]> {
    return this.#db.call(
      "reading the outbox",
      async () =>
        (await this.#db.pool.query<
          {
            seq: string;
            event_id: string;
            subject: string;
            body: string;
            trace_parent: string | null;
            late: boolean;
          }
        >(POSTGRES_LATE.outboxAfter, [seq, limit])).rows.map((r) => ({
          seq: Number(r.seq),
          eventId: Number(r.event_id),
          subject: r.subject,
          body: r.body,
          traceparent: r.trace_parent,
          late: r.late,
        })),
    );
  }

  /** The relay's cursor: an outbox position. */
  readRelayCursor(): Promise<number> {
    return this.#db.call("reading the relay's cursor", async () => {
      const row = (await this.#db.pool.query<{ c: string }>(POSTGRES_LATE.readRelayCursor, [
        RELAY_ID,
      ])).rows[0];
      if (row === undefined) throw new SchemaMissingError(`no worker_states row '${RELAY_ID}'`);
      return Number(row.c);
    });
  }

  /**
   * Move the relay's cursor up to `seq` and prune exactly the rows it published (after the old
   * cursor, up to `seq`), in one statement. A range from the old cursor: the rows below it are
   * gone already, and their index entries, dead until a vacuum, would make a delete from the
   * bottom of the table slower with every batch (measured: 104 ms per batch of 2000 over a
   * 1M-row outbox).
   */
  commitRelay(seq: number): Promise<void> {
    return this.#db.call("recording what the relay published", async () => {
      await this.#db.pool.query(POSTGRES_LATE.commitRelay, [RELAY_ID, seq]);
    });
  }

  /** The outbox position of `eventId`'s row, or null. */
  outboxSeqOf(eventId: number): Promise<number | null> {
    return this.#db.call("reading the outbox", async () => {
      const row = (await this.#db.pool.query<{ seq: string }>(POSTGRES_LATE.outboxSeqOf, [
        eventId,
      ])).rows[0];
      return row === undefined ? null : Number(row.seq);
    });
  }

  /** Rows waiting in the outbox (after the relay's cursor) and the oldest one's time. */
  outboxBacklog(): Promise<{ rows: number; oldestUtc: string | null }> {
    return this.#db.call("reading the outbox", async () => {
      const row = (await this.#db.pool.query<{ n: string; oldest: string | null }>(
        POSTGRES_SQL.outboxBacklog,
        [RELAY_ID],
      )).rows[0];
      return { rows: Number(row?.n ?? 0), oldestUtc: row?.oldest ?? null };
    });
  }
}
