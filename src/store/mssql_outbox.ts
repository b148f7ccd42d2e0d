/**
 * The SQL Server store's outbox (docs/rules.md §7): what the relay reads and commits, on the
 * store's pool. (A page's outbox rows are written by the page's own batch.)
 *
 * @module
 */

// @ts-types="npm:@types/mssql@^12.3.0"
import sql from "mssql";
import { SchemaMissingError } from "../errors.ts";
import type { OutboxStore, SequencedRow } from "./store.ts";
import { RELAY_ID } from "./_call.ts";
import type { MssqlConnection } from "./mssql_connection.ts";
import { fromSqlTime, sendText } from "./mssql_sql.ts";

/** What the relay reads and commits of the SQL Server outbox; see {@link OutboxStore}. */
export class MssqlOutbox implements OutboxStore {
  readonly #db: MssqlConnection;

  /** @param db the store's connections (the outbox shares its pool). */
  constructor(db: MssqlConnection) {
    this.#db = db;
  }

  /** The outbox rows after position `seq`, in commit order. */
  outboxAfter(seq: number, limit: number): Promise<SequencedRow[]> {
    return this.#db.call("reading the outbox", async (pool) =>
      (await sendText(
        pool.request().input("after", sql.BigInt, seq).input("limit", sql.BigInt, limit),
      )<{
        Seq: string | number;
        EventId: string | number;
        Subject: string;
        Body: string;
        TraceParent: string | null;
        Late: boolean;
      }>("outboxAfter")).recordset.map((r) => ({
        seq: Number(r.Seq),
        eventId: Number(r.EventId),
        subject: r.Subject,
        body: r.Body,
        traceparent: r.TraceParent,
        late: r.Late === true,
      })));
  }

  /** The relay's cursor: an outbox position. */
  readRelayCursor(): Promise<number> {
    return this.#db.call("reading the relay's cursor", async (pool) => {
      const row = (await sendText(pool.request().input("id", sql.NVarChar(100), RELAY_ID))<
        { OutboxSeq: string | number }
      >("readRelayCursor")).recordset[0];
      if (row === undefined) throw new SchemaMissingError(`no WorkerStates row '${RELAY_ID}'`);
      return Number(row.OutboxSeq);
    });
  }

  /** Move the relay's cursor up to `seq` and prune exactly the rows it published. */
  commitRelay(seq: number): Promise<void> {
    return this.#db.call("recording what the relay published", async (pool) => {
      await sendText(
        pool.request().input("id", sql.NVarChar(100), RELAY_ID).input("seq", sql.BigInt, seq),
      )("commitRelay");
    });
  }

  /** The outbox position of `eventId`'s row, or null. */
  outboxSeqOf(eventId: number): Promise<number | null> {
    return this.#db.call("reading the outbox", async (pool) => {
      const row = (await sendText(pool.request().input("eventId", sql.BigInt, eventId))<
        { Seq: string | number }
      >("outboxSeqOf")).recordset[0];
      return row === undefined ? null : Number(row.Seq);
    });
  }

  /** Rows waiting in the outbox and the oldest one's time. */
  outboxBacklog(): Promise<{ rows: number; oldestUtc: string | null }> {
    return this.#db.call("reading the outbox", async (pool) => {
      const row = (await sendText(
        pool.request().input("id", sql.NVarChar(100), RELAY_ID),
      )<{ outboxRows: string | number; oldest: string | null }>("outboxBacklog")).recordset[0];
      return { rows: Number(row?.outboxRows ?? 0), oldestUtc: fromSqlTime(row?.oldest ?? null) };
    });
  }
}
