/**
 * The PostgreSQL store's statements that are more than one line: the page write (one statement of
 * data-modifying CTEs, with and without the outbox), the migrations table and lock. The same
 * statements as `sqlite_sql.ts` and `mssql_sql.ts`, set-based.
 *
 * @module
 */

import init from "../../sql/postgres/001_init.sql" with { type: "text" };
import outbox from "../../sql/postgres/002_outbox.sql" with { type: "text" };
import late from "../../sql/postgres/004_late_events.sql" with { type: "text" };
import outboxTraceparent from "../../sql/postgres/005_outbox_traceparent.sql" with { type: "text" };
import { POSTGRES_LATE } from "./late_sql.ts";
import { defineMigrations, type Migration } from "./migrate.ts";

/** The PostgreSQL migrations, embedded in the program (docs/rules.md §4). */
export const POSTGRES_MIGRATIONS: readonly Migration[] = defineMigrations({
  "001_init.sql": init,
  "002_outbox.sql": outbox,
  "004_late_events.sql": late,
  "005_outbox_traceparent.sql": outboxTraceparent,
});

export const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version        integer     NOT NULL PRIMARY KEY,
    name           text        NOT NULL,
    checksum       text        NOT NULL,
    applied_at_utc timestamptz NOT NULL
)`;

/** The advisory lock key migrators share (two instances cannot migrate at once). */
export const MIGRATION_LOCK = "SELECT pg_advisory_xact_lock(hashtext('scan-worker:migrations'))";

/** A timestamptz as docs/rules.md §3.5 text in UTC (microseconds, and a seventh digit of 0). */
export const utcText = (column: string): string =>
  `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"0Z"')`;

/**
 * One page in one statement. `moved` moves the checkpoint, guarded by its expected old value;
 * every write below is gated on it, so a stale page writes nothing. A concurrent writer blocks
 * on the feed row, then finds the checkpoint moved. Parcel rows: INSERT … ON CONFLICT DO UPDATE
 * … WHERE with the §3.6–3.7 guards; rejections once per (event_id, payload), their ids in page
 * order. Parcel rows are taken in ParcelId order, so two writers of one table (consumer groups)
 * lock rows in the same order and cannot deadlock on them. $6 and $7: the late-event settled mark
 * and holes (docs/rules.md §3.10; null: left as they are). With the outbox on, the accepted
 * events go into it ($8, `[{n, e, s, b, l}]`) in commit order (a sequence numbers them), but
 * those at or below the highest EventId published ($9's row: the stream holds them) unless late
 * (`l`: never seen, so never published). That row is read FOR SHARE: a relay commit moving it
 * (and pruning the rows it published) waits for the page, or the page for it. The documents are
 * read as `json`, not `jsonb`: each is read once, and `jsonb` would first build its binary form (a
 * page with the outbox wrote 76–79k events/s with `jsonb`, 90–93k with `json`: docs/performance.md).
 */
const pageWrite = (moved: string): string => `
WITH moved AS (
    ${moved}
), changes AS (
    SELECT * FROM json_to_recordset($4::json) AS c(
        p bigint, e bigint, t text, s text, r text, c timestamptz,
        pe bigint, pt timestamptz, de bigint, dt timestamptz)
), parcels AS (
    INSERT INTO parcel_states AS ps (parcel_id, last_event_id, type, status_code, run_id,
        created_date_time_utc, pickup_event_id, pickup_time_utc, delivery_event_id,
        delivery_time_utc, updated_at_utc)
    SELECT c.p, c.e, c.t, c.s, c.r, c.c, c.pe, c.pt, c.de, c.dt, now()
    FROM changes AS c
    WHERE EXISTS (SELECT 1 FROM moved)
    ORDER BY c.p
    ON CONFLICT (parcel_id) DO UPDATE SET
        last_event_id = CASE WHEN excluded.last_event_id > ps.last_event_id
            THEN excluded.last_event_id ELSE ps.last_event_id END,
        type = CASE WHEN excluded.last_event_id > ps.last_event_id
            THEN excluded.type ELSE ps.type END,
        status_code = CASE WHEN excluded.last_event_id > ps.last_event_id
            THEN excluded.status_code ELSE ps.status_code END,
        run_id = CASE WHEN excluded.last_event_id > ps.last_event_id
            THEN excluded.run_id ELSE ps.run_id END,
        created_date_time_utc = CASE WHEN excluded.last_event_id > ps.last_event_id
            THEN excluded.created_date_time_utc ELSE ps.created_date_time_utc END,
        pickup_event_id = CASE WHEN excluded.pickup_event_id < coalesce(ps.pickup_event_id, 9007199254740992)
            THEN excluded.pickup_event_id ELSE ps.pickup_event_id END,
        pickup_time_utc = CASE WHEN excluded.pickup_event_id < coalesce(ps.pickup_event_id, 9007199254740992)
            THEN excluded.pickup_time_utc ELSE ps.pickup_time_utc END,
        delivery_event_id = CASE WHEN excluded.delivery_event_id < coalesce(ps.delivery_event_id, 9007199254740992)
            THEN excluded.delivery_event_id ELSE ps.delivery_event_id END,
        delivery_time_utc = CASE WHEN excluded.delivery_event_id < coalesce(ps.delivery_event_id, 9007199254740992)
            THEN excluded.delivery_time_utc ELSE ps.delivery_time_utc END,
        updated_at_utc = excluded.updated_at_utc
    WHERE excluded.last_event_id > ps.last_event_id
       OR excluded.pickup_event_id < coalesce(ps.pickup_event_id, 9007199254740992)
       OR excluded.delivery_event_id < coalesce(ps.delivery_event_id, 9007199254740992)
    RETURNING 1
), new_rejections AS (
    SELECT r.n, r.e, r.why, r.raw
    FROM json_to_recordset($5::json) AS r(n integer, e bigint, why text, raw text)
    WHERE EXISTS (SELECT 1 FROM moved)
      AND NOT EXISTS (
        SELECT 1 FROM rejected_events AS x
        WHERE x.event_id IS NOT DISTINCT FROM r.e AND x.payload = r.raw)
), rejections AS (
    INSERT INTO rejected_events (event_id, reason, payload, rejected_at_utc)
    SELECT r.e, r.why, r.raw, now() FROM new_rejections AS r ORDER BY r.n
    RETURNING 1
)`;

/** A page's guard: the checkpoint moves only from its expected old value ($2 to $3). */
const PAGE_WRITE = pageWrite(`UPDATE worker_states
    SET last_processed_event_id = $3, updated_at_utc = now(),
        settled_event_id = coalesce($6::bigint, settled_event_id),
        late_holes = coalesce($7::text, late_holes)
    WHERE id = $1 AND last_processed_event_id = $2
    RETURNING id`);

/**
 * The outbox part of the page statement ($8, $9, $10): only when the outbox is on. Each row keeps
 * the page's traceparent ($10, NULL with telemetry off: docs/telemetry.md).
 */
const PAGE_OUTBOX = `, outbox AS (
    INSERT INTO outbox_events (event_id, subject, body, created_at_utc, trace_parent, late)
    SELECT o.e, o.s, o.b, now(), $10::text, o.l = 1
    FROM json_to_recordset($8::json) AS o(n integer, e bigint, s text, b text, l integer)
    WHERE EXISTS (SELECT 1 FROM moved)
      AND (o.l = 1 OR o.e > coalesce(
        (SELECT last_processed_event_id FROM worker_states WHERE id = $9 FOR SHARE), 0))
    ORDER BY o.n
    ON CONFLICT (event_id) DO NOTHING
    RETURNING seq
)`;

/**
 * The statement's result row; `outboxed` the count of the outbox part, or 0, and `lastSeq` the
 * outbox position of its last row, or null.
 */
const pageResult = (outboxed: string, lastSeq: string) => `
SELECT (SELECT count(*) FROM moved) AS moved,
       (SELECT count(*) FROM parcels) AS parcels,
       (SELECT count(*) FROM rejections) AS rejections,
       (SELECT coalesce(json_agg(n ORDER BY n), '[]') FROM new_rejections) AS stored,
       ${outboxed} AS outboxed,
       ${lastSeq} AS last_seq,
       (SELECT last_processed_event_id FROM worker_states WHERE id = $1) AS actual`;

/** The page statement without the outbox ($1–$7): it touches no outbox table or relay row. */
export const APPLY_PAGE = PAGE_WRITE + pageResult("0", "NULL::bigint");

/** The page statement with the outbox ($1–$10). */
export const APPLY_PAGE_WITH_OUTBOX = PAGE_WRITE + PAGE_OUTBOX +
  pageResult("(SELECT count(*) FROM outbox)", "(SELECT max(seq) FROM outbox)");

/** The store's other statements, by name. */
export const POSTGRES_SQL = {
  /** The migrations recorded as applied. */
  appliedMigrations: `SELECT version, name, checksum, ${utcText("applied_at_utc")} AS "appliedAtUtc"
FROM schema_migrations ORDER BY version`,

  /** Record one migration as applied; returns when. */
  recordMigration: `INSERT INTO schema_migrations (version, name, checksum, applied_at_utc)
VALUES ($1, $2, $3, now()) RETURNING ${utcText("applied_at_utc")} AS "appliedAtUtc"`,

  /** Rows waiting in the outbox after the relay's cursor ($1's row), and the oldest one's time. */
  outboxBacklog: POSTGRES_LATE.outboxBacklog(utcText("min(created_at_utc)")),

  /** The key figures of `status` ($1: the feed's row). */
  status: `SELECT
(SELECT last_processed_event_id FROM worker_states WHERE id = $1) AS checkpoint,
(SELECT ${utcText("updated_at_utc")} FROM worker_states WHERE id = $1) AS "updatedAt",
(SELECT count(*) FROM parcel_states) AS parcels,
(SELECT count(*) FROM rejected_events) AS rejected,
(SELECT max(version) FROM schema_migrations) AS version,
(SELECT ${utcText("created_date_time_utc")} FROM parcel_states
  ORDER BY last_event_id DESC LIMIT 1) AS newest`,

  /** One parcel's row, times as text. */
  parcel: `SELECT parcel_id, last_event_id, type, status_code, run_id,
  ${utcText("created_date_time_utc")} AS created, ${utcText("pickup_time_utc")} AS pickup,
  ${utcText("delivery_time_utc")} AS delivery, ${utcText("updated_at_utc")} AS updated
FROM parcel_states WHERE parcel_id = $1`,

  /** The newest $1 rejections, newest first. */
  rejections: `SELECT id, event_id, reason, payload, ${utcText("rejected_at_utc")} AS rejected
FROM rejected_events ORDER BY id DESC LIMIT $1`,

  /** Move the checkpoint ($1's row) to $2; returns the one it replaced. */
  resetCheckpoint:
    `UPDATE worker_states AS w SET last_processed_event_id = $2, updated_at_utc = now()
FROM (SELECT last_processed_event_id AS old FROM worker_states WHERE id = $1 FOR UPDATE) AS o
WHERE w.id = $1 RETURNING o.old`,
} as const;

/**
 * A group member's batch in one statement (see `BatchStore.applyBatch`): the page statement with
 * a `moved` that touches no table (the feed row is neither read for update nor locked, so members
 * do not wait for each other there) and no outbox ($1–$5, as a page without the outbox).
 */
export const APPLY_BATCH = pageWrite("SELECT $1::text AS id, $2::bigint AS f, $3::bigint AS t") +
  pageResult("0", "NULL::bigint");

/**
 * The advisory lock a group member takes, in the batch's transaction, before storing rejections:
 * the statement's snapshot then sees the rejections another member committed meanwhile.
 */
export const REJECTIONS_LOCK = "SELECT pg_advisory_xact_lock(hashtext('scan-worker:rejections'))";
