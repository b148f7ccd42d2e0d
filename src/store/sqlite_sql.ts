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
 * Insert or merge one parcel's change under the guards of docs/rules.md §3.6–3.7: the last-event
 * columns move only to a higher EventId, a pickup or delivery time only to a lower EventId than
 * the stored one. A replayed page therefore matches no row's WHERE and changes nothing.
 * Parameters ?1–?11: ParcelId, LastEventId, Type, StatusCode, RunId, CreatedDateTimeUtc,
 * PickupEventId, PickupTimeUtc, DeliveryEventId, DeliveryTimeUtc, UpdatedAtUtc.
 * (In an SQLite UPDATE every expression reads the row as it was before the update.)
 */
export const UPSERT_PARCEL = `
INSERT INTO ParcelStates (ParcelId, LastEventId, Type, StatusCode, RunId, CreatedDateTimeUtc,
    PickupEventId, PickupTimeUtc, DeliveryEventId, DeliveryTimeUtc, UpdatedAtUtc)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
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
 * An accepted event into the outbox, once (docs/rules.md §7). ?1–?6: EventId, Subject, Body,
 * now, the page's traceparent (docs/telemetry.md), late (1 for a late event, §3.10).
 */
export const INSERT_OUTBOX = `
INSERT INTO OutboxEvents (EventId, Subject, Body, CreatedAtUtc, TraceParent, Late)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT (EventId) DO NOTHING`;

/**
 * Outbox rows per multi-row insert: a page's rows go in statements of this many (the rest one
 * by one), not one statement per row (measured in a bare loop, 1000 rows of about 250 bytes in
 * one transaction: 3.6–4.3 ms one by one, 1.6–2.1 ms by 100).
 */
export const OUTBOX_ROWS_PER_INSERT = 100;

/** {@link INSERT_OUTBOX} for {@link OUTBOX_ROWS_PER_INSERT} rows: six parameters a row, in its order. */
export const INSERT_OUTBOX_ROWS = `
INSERT INTO OutboxEvents (EventId, Subject, Body, CreatedAtUtc, TraceParent, Late)
VALUES ${Array.from({ length: OUTBOX_ROWS_PER_INSERT }, () => "(?, ?, ?, ?, ?, ?)").join(", ")}
ON CONFLICT (EventId) DO NOTHING`;

export const MIGRATIONS_TABLE = `
CREATE TABLE IF NOT EXISTS SchemaMigrations (
    Version      INTEGER NOT NULL PRIMARY KEY,
    Name         TEXT    NOT NULL,
    Checksum     TEXT    NOT NULL,
    AppliedAtUtc TEXT    NOT NULL
) STRICT`;
