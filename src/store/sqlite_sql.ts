/**
 * Every SQL text of the SQLite store that is not a one-line query, by name: the page write's
 * guarded upsert, rejection and checkpoint statements, the outbox insert, the migrations table.
 * The same statements as `postgres_sql.ts` and `mssql_sql.ts`, one parcel row at a time.
 *
 * @module
 */

import init from "../../sql/sqlite/001_init.sql" with { type: "text" };
import outbox from "../../sql/sqlite/002_outbox.sql" with { type: "text" };
import late from "../../sql/sqlite/004_late_events.sql" with { type: "text" };
import outboxTraceparent from "../../sql/sqlite/005_outbox_traceparent.sql" with { type: "text" };
import { defineMigrations, type Migration } from "./migrate.ts";

/** The SQLite migrations, embedded in the program (docs/rules.md §4). */
export const SQLITE_MIGRATIONS: readonly Migration[] = defineMigrations({
  "001_init.sql": init,
  "002_outbox.sql": outbox,
  "004_late_events.sql": late,
  "005_outbox_traceparent.sql": outboxTraceparent,
});

/**
 * Rows per multi-row statement: a page's parcel changes and outbox rows go in statements of the
 * largest of these sizes that fits what is left ({@link rowChunks}), each prepared once. One
 * statement per row cost more (the outbox's 1000 rows of about 250 bytes in one transaction, in
 * a bare loop: 3.6–4.3 ms one by one, 1.6–2.1 ms by 100), and each `run` makes a result object
 * and two strings that V8 tracks in a table which keeps its largest size (docs/performance.md,
 * "Memory over time").
 */
export const ROWS_PER_STATEMENT: readonly number[] = [100, 20, 5, 1];

/**
 * How `count` rows split into statements of {@link ROWS_PER_STATEMENT} rows: the largest size
 * that fits first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rowChunks } from "./sqlite_sql.ts";
 * assert.deepEqual(rowChunks(237), [100, 100, 20, 5, 5, 5, 1, 1]);
 * assert.deepEqual(rowChunks(0), []);
 * ```
 */
export function rowChunks(count: number): number[] {
  const chunks: number[] = [];
  let left = count;
  for (const size of ROWS_PER_STATEMENT) {
    for (; left >= size; left -= size) chunks.push(size);
  }
  return chunks;
}

/** `VALUES` for `rows` rows of `columns` positional parameters each. */
function valuesOf(rows: number, columns: number): string {
  const row = `(${Array.from({ length: columns }, () => "?").join(", ")})`;
  return `VALUES ${Array.from({ length: rows }, () => row).join(",\n    ")}`;
}

/**
 * Insert or merge parcels' changes under the guards of docs/rules.md §3.6–3.7, `rows` parcels
 * (of one page: no two the same) to a statement: the last-event columns move only to a higher
 * EventId, a pickup or delivery time only to a lower EventId than the stored one. A replayed
 * page therefore matches no row's WHERE and changes nothing. Each row's 11 parameters in order:
 * ParcelId, LastEventId, Type, StatusCode, RunId, CreatedDateTimeUtc, PickupEventId,
 * PickupTimeUtc, DeliveryEventId, DeliveryTimeUtc, UpdatedAtUtc. (In an SQLite UPDATE every
 * expression reads the row as it was before the update; the rows of a multi-row INSERT go in one
 * after another, each under its own upsert.)
 */
export const upsertParcels = (rows: number): string => `
INSERT INTO ParcelStates (ParcelId, LastEventId, Type, StatusCode, RunId, CreatedDateTimeUtc,
    PickupEventId, PickupTimeUtc, DeliveryEventId, DeliveryTimeUtc, UpdatedAtUtc)
${valuesOf(rows, 11)}
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
export const INSERT_REJECTION = `
INSERT INTO RejectedEvents (EventId, Reason, Payload, RejectedAtUtc)
SELECT :eventId, :reason, :payload, :now
WHERE NOT EXISTS (SELECT 1 FROM RejectedEvents WHERE EventId IS :eventId AND Payload = :payload)`;

/** Move the checkpoint only from the value the page was projected from (docs/rules.md §3.8). */
export const MOVE_CHECKPOINT = `
UPDATE WorkerStates SET LastProcessedEventId = :to, UpdatedAtUtc = :now
WHERE Id = :id AND LastProcessedEventId = :from`;

/**
 * Accepted events into the outbox, once each (docs/rules.md §7), `rows` to a statement. Each
 * row's 6 parameters in order: EventId, Subject, Body, now, the page's traceparent
 * (docs/telemetry.md), late (1 for a late event, §3.10).
 */
export const insertOutbox = (rows: number): string => `
INSERT INTO OutboxEvents (EventId, Subject, Body, CreatedAtUtc, TraceParent, Late)
${valuesOf(rows, 6)}
ON CONFLICT (EventId) DO NOTHING`;

/**
 * The highest outbox position ever given (AUTOINCREMENT never gives one again, even after its
 * row is pruned), read before a page's rows go in: rows that all went in at the positions right
 * after it are exactly at those positions.
 */
export const OUTBOX_HIGHEST_SEQ = `
SELECT max(
  coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'OutboxEvents'), 0),
  coalesce((SELECT max(Seq) FROM OutboxEvents), 0)) AS seq`;

export const MIGRATIONS_TABLE = `
CREATE TABLE IF NOT EXISTS SchemaMigrations (
    Version      INTEGER NOT NULL PRIMARY KEY,
    Name         TEXT    NOT NULL,
    Checksum     TEXT    NOT NULL,
    AppliedAtUtc TEXT    NOT NULL
) STRICT`;
