/**
 * Where the relay's batches come from: the outbox rows the last pages committed, kept in memory
 * so that the relay publishes them without reading them back from the database (on SQLite,
 * reading 2000 rows cost about as much CPU as publishing them: docs/performance.md), else the
 * outbox itself; and the relay's wait for a commit when nothing is left. Only rows a store
 * vouched for (their positions known: `PageWrite.rows`) are kept, as one run of consecutive
 * positions; whatever that run does not hold is read from the outbox as before.
 *
 * @module
 */

import type { OutboxStore, PageWrite, SequencedRow } from "../store/store.ts";
import { cpuMs } from "./_batch.ts";

/** A batch being read (read ahead while the one before is published): the position it follows, its rows. */
export interface Ahead {
  readonly after: number;
  readonly rows: Promise<SequencedRow[]>;
  /** CPU ms of the call up to the store's first wait (SQLite reads then and there; kept rows cost next to nothing). */
  readonly readMs: number;
}

/**
 * The relay's reads: a batch after a position, from the rows pages committed when they are
 * held, else from the outbox; and the wait for the next commit.
 */
export class OutboxReader {
  readonly #store: Pick<OutboxStore, "outboxAfter">;
  readonly #batch: number;
  readonly #recent: RecentRows;
  #wake: (() => void) | null = null;

  /**
   * @param store the outbox.
   * @param batch rows per batch.
   * @param paceRows the rows ingest may be ahead by while paced (at most `OUTBOX_MAX_ROWS`):
   *   with a page more and the batches in flight, the most rows kept in memory.
   */
  constructor(store: Pick<OutboxStore, "outboxAfter">, batch: number, paceRows: number) {
    this.#store = store;
    this.#batch = batch;
    this.#recent = new RecentRows(paceRows + 3 * batch);
  }

  /** A page committed: keep its rows (when vouched for) and end the wait. */
  committed(write: PageWrite): void {
    this.#recent.committed(write);
    this.wake();
  }

  /** Start reading the batch after position `after`. */
  read(after: number): Ahead {
    const t0 = cpuMs();
    const kept = this.#recent.after(after, this.#batch);
    const rows = kept === null
      ? this.#store.outboxAfter(after, this.#batch)
      : Promise.resolve(kept);
    return { after, rows, readMs: cpuMs() - t0 };
  }

  /** The stream holds every row up to position `cursor`. */
  published(cursor: number): void {
    this.#recent.published(cursor);
  }

  /** Let every kept row go: what follows is read from the outbox until a page commits. */
  forget(): void {
    this.#recent.published(Infinity);
  }

  /** Sleep until a page commits, {@link wake} is called, `signal` aborts, or `ms` pass. */
  sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        this.#wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
      this.#wake = done;
    });
  }

  /** End the sleep, if any. */
  wake(): void {
    this.#wake?.();
  }
}

/**
 * Consecutive outbox rows, from the oldest not yet published to the newest committed.
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { RecentRows } from "./_reader.ts";
 * const row = (seq: number) => ({ seq, eventId: seq, subject: "s", body: "{}", late: false });
 * const recent = new RecentRows(100);
 * recent.committed({ rejected: [], outboxed: 2, rows: [row(5), row(6)] });
 * deepStrictEqual(recent.after(4, 10)?.map((r) => r.seq), [5, 6]);
 * deepStrictEqual(recent.after(5, 10)?.map((r) => r.seq), [6]);
 * deepStrictEqual(recent.after(3, 10), null); // position 4 is not held: read the outbox
 * deepStrictEqual(recent.after(6, 10), null); // nothing after 6 is held: read the outbox
 * ```
 */
export class RecentRows {
  readonly #maxRows: number;
  #rows: SequencedRow[] = [];

  /** @param maxRows the most rows kept (a broker away lets the outbox grow far beyond). */
  constructor(maxRows: number) {
    this.#maxRows = maxRows;
  }

  /** Rows held. */
  get size(): number {
    return this.#rows.length;
  }

  /**
   * A page committed: its rows are kept when the store vouched for their positions and they
   * follow the ones held. Otherwise what is held no longer reaches the outbox's end, so it is
   * dropped and the page's rows, if vouched for, start a new run.
   */
  committed(write: PageWrite): void {
    if (write.outboxed === 0) return;
    const rows = write.rows;
    const vouched = rows !== undefined && rows.length === write.outboxed;
    const last = this.#rows.at(-1);
    const follows = vouched && last !== undefined && (rows[0] as SequencedRow).seq === last.seq + 1;
    if (!follows) this.#rows = [];
    if (!vouched || this.#rows.length + rows.length > this.#maxRows) {
      this.#rows = [];
      return;
    }
    for (const row of rows) this.#rows.push(row);
  }

  /**
   * Up to `limit` rows after position `seq`, in order, when position `seq + 1` is held: the same
   * rows the outbox would give, as every row committed after the first held is held. Null when
   * it is not (older rows, or nothing newer): read the outbox then.
   */
  after(seq: number, limit: number): SequencedRow[] | null {
    const first = this.#rows[0];
    if (first === undefined) return null;
    const from = seq + 1 - first.seq;
    if (from < 0 || from >= this.#rows.length) return null;
    return this.#rows.slice(from, from + limit);
  }

  /** The stream holds every row up to position `cursor`: those are let go. */
  published(cursor: number): void {
    const first = this.#rows[0];
    if (first === undefined || first.seq > cursor) return;
    const drop = Math.min(this.#rows.length, cursor - first.seq + 1);
    this.#rows = drop === this.#rows.length ? [] : this.#rows.slice(drop);
  }
}
