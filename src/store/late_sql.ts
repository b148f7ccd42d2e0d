/**
 * The statements of late events (docs/rules.md §3.10) and of the outbox in commit order (§7),
 * per store: the holes and settled mark stored with a page, the relay's cursor as an outbox
 * position, and the prune of exactly the rows the relay published.
 *
 * @module
 */

/** SQLite. Parameters are positional (`?n`). */
export const SQLITE_LATE = {
  /** ?1 settled mark, ?2 holes, ?3 the feed's row. */
  storeLate: `UPDATE WorkerStates SET SettledEventId = ?1, LateHoles = ?2 WHERE Id = ?3`,
  /** ?1 the feed's row. */
  readLateHoles: `SELECT LateHoles AS holes FROM WorkerStates WHERE Id = ?1`,
  /** ?1 the feed's row. */
  readSettled: `SELECT SettledEventId AS settled FROM WorkerStates WHERE Id = ?1`,
  /** ?1 position, ?2 limit. */
  outboxAfter: `SELECT Seq AS seq, EventId AS eventId, Subject AS subject, Body AS body,
      TraceParent AS traceparent, Late AS late
    FROM OutboxEvents WHERE Seq > ?1 ORDER BY Seq LIMIT ?2`,
  /** ?1 the relay's row. */
  readRelayCursor: `SELECT coalesce(OutboxSeq, 0) AS seq FROM WorkerStates WHERE Id = ?1`,
  /**
   * The highest EventId published moves up to the highest among the rows the relay published
   * (after the old cursor, up to ?1); ?2 now, ?3 the relay's row. Runs before the prune.
   */
  commitRelay: `UPDATE WorkerStates SET
      LastProcessedEventId = max(LastProcessedEventId, coalesce((
        SELECT max(EventId) FROM OutboxEvents
        WHERE Seq > coalesce(WorkerStates.OutboxSeq, 0) AND Seq <= ?1), 0)),
      UpdatedAtUtc = ?2
    WHERE Id = ?3 AND coalesce(OutboxSeq, 0) < ?1`,
  /** Exactly the rows published: after the old cursor, up to ?1; ?2 the relay's row. */
  prunePublished: `DELETE FROM OutboxEvents WHERE Seq <= ?1 AND Seq > coalesce(
      (SELECT OutboxSeq FROM WorkerStates WHERE Id = ?2), 0)`,
  /** ?1 position, ?2 the relay's row. */
  moveRelayCursor: `UPDATE WorkerStates SET OutboxSeq = ?1
    WHERE Id = ?2 AND coalesce(OutboxSeq, 0) < ?1`,
  /** ?1 EventId. */
  outboxSeqOf: `SELECT Seq AS seq FROM OutboxEvents WHERE EventId = ?1`,
  /** ?1 the relay's row. */
  outboxBacklog: `SELECT count(*) AS n, min(CreatedAtUtc) AS oldest FROM OutboxEvents
    WHERE Seq > coalesce((SELECT OutboxSeq FROM WorkerStates WHERE Id = ?1), 0)`,
} as const;

/** PostgreSQL. Parameters are `$n`. */
export const POSTGRES_LATE = {
  /** $1 the feed's row. */
  readLateHoles: `SELECT late_holes AS holes FROM worker_states WHERE id = $1`,
  /** $1 the feed's row. */
  readSettled: `SELECT settled_event_id AS s FROM worker_states WHERE id = $1`,
  /** $1 position, $2 limit. */
  outboxAfter: `SELECT seq, event_id, subject, body, trace_parent, late FROM outbox_events
    WHERE seq > $1 ORDER BY seq LIMIT $2`,
  /** $1 the relay's row. */
  readRelayCursor: `SELECT coalesce(outbox_seq, 0) AS c FROM worker_states WHERE id = $1`,
  /**
   * $1 the relay's row, $2 the new position. The row is locked first (a page write reads it
   * FOR SHARE); exactly the rows after the old position up to $2 are deleted, and the highest
   * EventId among them raises the highest EventId published.
   */
  commitRelay: `WITH old AS (
      SELECT coalesce(outbox_seq, 0) AS c FROM worker_states WHERE id = $1 FOR UPDATE
    ), pruned AS (
      DELETE FROM outbox_events
      WHERE seq <= $2 AND seq > (SELECT c FROM old)
      RETURNING event_id
    )
    UPDATE worker_states SET
      outbox_seq = $2,
      last_processed_event_id = greatest(last_processed_event_id,
        coalesce((SELECT max(event_id) FROM pruned), 0)),
      updated_at_utc = now()
    WHERE id = $1 AND coalesce(outbox_seq, 0) < $2`,
  /** $1 EventId. */
  outboxSeqOf: `SELECT seq FROM outbox_events WHERE event_id = $1`,
  /** $1 the relay's row; `oldest` the text of the oldest row's time. */
  outboxBacklog: (oldest: string): string =>
    `SELECT count(*) AS n, ${oldest} AS oldest FROM outbox_events
    WHERE seq > coalesce((SELECT outbox_seq FROM worker_states WHERE id = $1), 0)`,
} as const;
