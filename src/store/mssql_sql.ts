/**
 * Every T-SQL text the SQL Server store sends, in one table: the store sends nothing that is not
 * here or in its migration files, and a test parses each of them with a T-SQL grammar (no SQL
 * Server runs where the tests run). Identifiers that are T-SQL keywords (`CHECKPOINT`, `RESULT`,
 * `OLD`, …) are avoided, not bracketed.
 *
 * @module
 */

// @ts-types="npm:@types/mssql@^12.3.0"
import type sql from "mssql";
import { MAX_STORED_TYPE_LENGTH } from "../domain/validate.ts";

/** The size of the Type columns: the longest Type a valid event can have once upper-cased. */
export const MSSQL_TYPE_LENGTH = MAX_STORED_TYPE_LENGTH;

/** The start of a page's (or a batch's) batch: one transaction, aborted whole on an error. */
const PAGE_START = `SET XACT_ABORT ON;
SET NOCOUNT ON;
BEGIN TRANSACTION;

`;

/** A page's guard: the checkpoint moves only from its expected old value, or the page rolls back. */
const PAGE_GUARD = `UPDATE dbo.WorkerStates
SET LastProcessedEventId = @to, UpdatedAtUtc = SYSUTCDATETIME()
WHERE Id = @id AND LastProcessedEventId = @from;

IF @@ROWCOUNT <> 1
BEGIN
    ROLLBACK TRANSACTION;
    SELECT CAST(0 AS bit) AS moved,
        (SELECT LastProcessedEventId FROM dbo.WorkerStates WHERE Id = @id) AS actual;
    RETURN;
END;

-- Late events: the holes and settled mark after this page (NULL: left as they are).
IF @holes IS NOT NULL
    UPDATE dbo.WorkerStates SET SettledEventId = @settled, LateHoles = @holes WHERE Id = @id;

`;

/**
 * The parcel rows and the new rejections of a page or of a group member's batch. `@c` is keyed,
 * and so read, by ParcelId: concurrent writers take shared rows in one order. The existing
 * rejections are read under UPDLOCK, HOLDLOCK (a key-range lock: a second writer of the same
 * rejection waits, then finds it).
 */
const PAGE_ROWS = `DECLARE @c TABLE (
    ParcelId           bigint        NOT NULL PRIMARY KEY,
    LastEventId        bigint        NOT NULL,
    Type               nvarchar(${MSSQL_TYPE_LENGTH}) NOT NULL,
    StatusCode         nvarchar(100) NOT NULL,
    RunId              nvarchar(50)  NULL,
    CreatedDateTimeUtc datetime2(7)  NOT NULL,
    PickupEventId      bigint        NULL,
    PickupTimeUtc      datetime2(7)  NULL,
    DeliveryEventId    bigint        NULL,
    DeliveryTimeUtc    datetime2(7)  NULL
);

INSERT INTO @c
SELECT j.ParcelId, j.LastEventId, j.Type, j.StatusCode, j.RunId,
    CONVERT(datetime2(7), j.Created, 126),
    j.PickupEventId, CONVERT(datetime2(7), j.Pickup, 126),
    j.DeliveryEventId, CONVERT(datetime2(7), j.Delivery, 126)
FROM OPENJSON(@changes) WITH (
    ParcelId        bigint        'strict $.p',
    LastEventId     bigint        'strict $.e',
    Type            nvarchar(${MSSQL_TYPE_LENGTH}) 'strict $.t',
    StatusCode      nvarchar(100) 'strict $.s',
    RunId           nvarchar(50)  'strict $.r',
    Created         varchar(27)   'strict $.c',
    PickupEventId   bigint        'strict $.pe',
    Pickup          varchar(27)   'strict $.pt',
    DeliveryEventId bigint        'strict $.de',
    Delivery        varchar(27)   'strict $.dt'
) AS j;

UPDATE p SET
    LastEventId = CASE WHEN c.LastEventId > p.LastEventId THEN c.LastEventId ELSE p.LastEventId END,
    Type = CASE WHEN c.LastEventId > p.LastEventId THEN c.Type ELSE p.Type END,
    StatusCode = CASE WHEN c.LastEventId > p.LastEventId THEN c.StatusCode ELSE p.StatusCode END,
    RunId = CASE WHEN c.LastEventId > p.LastEventId THEN c.RunId ELSE p.RunId END,
    CreatedDateTimeUtc = CASE WHEN c.LastEventId > p.LastEventId
        THEN c.CreatedDateTimeUtc ELSE p.CreatedDateTimeUtc END,
    PickupEventId = CASE WHEN c.PickupEventId < ISNULL(p.PickupEventId, 9007199254740992)
        THEN c.PickupEventId ELSE p.PickupEventId END,
    PickupTimeUtc = CASE WHEN c.PickupEventId < ISNULL(p.PickupEventId, 9007199254740992)
        THEN c.PickupTimeUtc ELSE p.PickupTimeUtc END,
    DeliveryEventId = CASE WHEN c.DeliveryEventId < ISNULL(p.DeliveryEventId, 9007199254740992)
        THEN c.DeliveryEventId ELSE p.DeliveryEventId END,
    DeliveryTimeUtc = CASE WHEN c.DeliveryEventId < ISNULL(p.DeliveryEventId, 9007199254740992)
        THEN c.DeliveryTimeUtc ELSE p.DeliveryTimeUtc END,
    UpdatedAtUtc = SYSUTCDATETIME()
FROM @c AS c
INNER JOIN dbo.ParcelStates AS p WITH (UPDLOCK, HOLDLOCK) ON p.ParcelId = c.ParcelId
WHERE c.LastEventId > p.LastEventId
   OR c.PickupEventId < ISNULL(p.PickupEventId, 9007199254740992)
   OR c.DeliveryEventId < ISNULL(p.DeliveryEventId, 9007199254740992)
OPTION (LOOP JOIN, FORCE ORDER, MAXDOP 1);

INSERT INTO dbo.ParcelStates (ParcelId, LastEventId, Type, StatusCode, RunId, CreatedDateTimeUtc,
    PickupEventId, PickupTimeUtc, DeliveryEventId, DeliveryTimeUtc, UpdatedAtUtc)
SELECT c.ParcelId, c.LastEventId, c.Type, c.StatusCode, c.RunId, c.CreatedDateTimeUtc,
    c.PickupEventId, c.PickupTimeUtc, c.DeliveryEventId, c.DeliveryTimeUtc, SYSUTCDATETIME()
FROM @c AS c
WHERE NOT EXISTS (
    SELECT 1 FROM dbo.ParcelStates AS p WITH (UPDLOCK, HOLDLOCK) WHERE p.ParcelId = c.ParcelId)
OPTION (LOOP JOIN, MAXDOP 1);

DECLARE @r TABLE (
    n       int            NOT NULL PRIMARY KEY,
    EventId bigint         NULL,
    Reason  nvarchar(1000) NOT NULL,
    Payload nvarchar(max)  NOT NULL
);

INSERT INTO @r (n, EventId, Reason, Payload)
SELECT j.n, j.EventId, j.Reason, j.Payload
FROM OPENJSON(@rejections) WITH (
    n       int            'strict $.n',
    EventId bigint         'strict $.e',
    Reason  nvarchar(1000) 'strict $.why',
    Payload nvarchar(max)  'strict $.raw'
) AS j
WHERE NOT EXISTS (
    SELECT 1 FROM dbo.RejectedEvents AS x WITH (UPDLOCK, HOLDLOCK)
    WHERE (x.EventId = j.EventId OR (x.EventId IS NULL AND j.EventId IS NULL))
      AND DATALENGTH(x.Payload) = DATALENGTH(j.Payload)
      AND x.Payload = j.Payload COLLATE Latin1_General_100_BIN2);

INSERT INTO dbo.RejectedEvents (EventId, Reason, Payload, RejectedAtUtc)
SELECT r.EventId, r.Reason, r.Payload, SYSUTCDATETIME()
FROM @r AS r
ORDER BY r.n;

`;

/** The page batch up to its outbox part: checkpoint, parcel rows, rejections (see applyPage). */
const PAGE_WRITE = PAGE_START + PAGE_GUARD + PAGE_ROWS;

/**
 * The page's accepted events into the outbox, but those at or below the relay's cursor (the
 * stream holds them). The cursor's row is locked to the commit: a relay commit moving it (and
 * pruning the rows it covers) waits for this page, or this page for it, so a replayed event
 * cannot slip back in.
 */
const PAGE_OUTBOX = `DECLARE @relayCursor bigint = ISNULL(
    (SELECT LastProcessedEventId FROM dbo.WorkerStates WITH (UPDLOCK, HOLDLOCK)
     WHERE Id = @relayId), 0);
DECLARE @outboxed int;
DECLARE @seqs TABLE (Seq bigint NOT NULL);
INSERT INTO dbo.OutboxEvents (EventId, Subject, Body, CreatedAtUtc, TraceParent, Late)
OUTPUT inserted.Seq INTO @seqs (Seq)
SELECT o.EventId, o.Subject, o.Body, SYSUTCDATETIME(), @traceparent, o.Late
FROM OPENJSON(@outbox) WITH (
    n       int           'strict $.n',
    EventId bigint        'strict $.e',
    Subject nvarchar(max) 'strict $.s',
    Body    nvarchar(max) 'strict $.b',
    Late    bit           'strict $.l'
) AS o
WHERE (o.Late = 1 OR o.EventId > @relayCursor)
  AND NOT EXISTS (
    SELECT 1 FROM dbo.OutboxEvents AS x WITH (UPDLOCK, HOLDLOCK) WHERE x.EventId = o.EventId)
ORDER BY o.n;
SET @outboxed = @@ROWCOUNT;

`;

/** The end of the page batch: commit, and what was stored. */
const pageEnd = (outboxed: string, lastSeq: string) =>
  `COMMIT TRANSACTION;
SELECT CAST(1 AS bit) AS moved, @to AS actual, ${outboxed} AS outboxed, ${lastSeq} AS lastSeq,
    (SELECT r.n FROM @r AS r ORDER BY r.n FOR JSON PATH) AS stored;`;

/**
 * A time as SQL Server reads it for datetime2 (`CONVERT(…, 126)`): the UTC text without its `Z`.
 * @example Without the Z
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { mssqlTime } from "./mssql_sql.ts";
 *
 * deepStrictEqual(mssqlTime("2021-05-11T21:11:34.1506147Z"), "2021-05-11T21:11:34.1506147");
 * ```
 */
export function mssqlTime(text: string): string {
  return text.replace(/Z$/, "");
}

/** A datetime2 read back with CONVERT(char(27), x, 121) as docs/rules.md §3.5 text. */
export function fromSqlTime(text: string | null): string | null {
  return text === null ? null : `${text.trim().replace(" ", "T")}Z`;
}

/** The T-SQL texts of the SQL Server store, by name. */
export const MSSQL_SQL = {
  /** The table where applied migrations are recorded (also the head of init-db.sql). */
  migrationsTable: `IF OBJECT_ID(N'dbo.SchemaMigrations', N'U') IS NULL
CREATE TABLE dbo.SchemaMigrations (
    Version      int           NOT NULL CONSTRAINT PK_SchemaMigrations PRIMARY KEY,
    Name         nvarchar(200) NOT NULL,
    Checksum     char(64)      NOT NULL,
    AppliedAtUtc datetime2(7)  NOT NULL
);`,

  /**
   * Serialises migrators inside the migration transaction: two instances starting together
   * cannot both migrate. `@lockTimeoutMs` stays below the request timeout, so a second instance
   * learns that the lock is busy (50001, retried) instead of timing out.
   * sp_getapplock returns -1 on a timeout and -3 when chosen as a deadlock victim: both mean
   * "busy, try again"; any other negative result is a failure.
   */
  takeMigrationLock: `DECLARE @lockResult int;
EXEC @lockResult = sp_getapplock @Resource = N'scan-worker:migrations', @LockMode = N'Exclusive',
    @LockOwner = N'Transaction', @LockTimeout = @lockTimeoutMs;
IF @lockResult IN (-1, -3)
    THROW 50001, N'scan-worker: the migration lock is busy (another instance is migrating)', 1;
IF @lockResult < 0
BEGIN
    DECLARE @lockMessage nvarchar(200) =
        N'scan-worker: could not take the migration lock (sp_getapplock returned '
        + CAST(@lockResult AS nvarchar(11)) + N')';
    THROW 50003, @lockMessage, 1;
END;`,

  /** The migrations recorded as applied. */
  appliedMigrations: `SELECT Version AS version, Name AS name, Checksum AS checksum,
    CONVERT(char(27), AppliedAtUtc, 121) AS appliedAtUtc
FROM dbo.SchemaMigrations ORDER BY Version;`,

  /** Record one migration as applied; returns when. */
  recordMigration: `DECLARE @now datetime2(7) = SYSUTCDATETIME();
INSERT INTO dbo.SchemaMigrations (Version, Name, Checksum, AppliedAtUtc)
VALUES (@version, @name, @checksum, @now);
SELECT CONVERT(char(27), @now, 121) AS appliedAtUtc;`,

  /**
   * The database's compatibility level (OPENJSON needs 130). The database a session is
   * connected to is always visible to it in sys.databases; it is found by name, since on Azure
   * SQL Database DB_ID() need not equal sys.databases.database_id.
   */
  compatibilityLevel: `SELECT compatibility_level AS compatibilityLevel, DB_NAME() AS databaseName
FROM sys.databases WHERE name = DB_NAME();`,

  /** The readiness probe: the server answers, without a lock on any table. */
  ping: `SELECT 1 AS ok;`,

  /** The highest applied migration, alone (`migrate` on an up-to-date schema). */
  schemaVersion: `SELECT MAX(Version) AS schemaVersion FROM dbo.SchemaMigrations;`,

  /** The feed's checkpoint. */
  readCheckpoint: `SELECT LastProcessedEventId FROM dbo.WorkerStates WHERE Id = @id;`,

  /**
   * One page in one batch and one transaction. The checkpoint moves first, guarded by its
   * expected old value: it takes the feed row's lock, so a second writer waits here and then
   * finds the checkpoint moved and rolls back. Parcel rows: UPDATE then INSERT … WHERE NOT
   * EXISTS under UPDLOCK, HOLDLOCK (no MERGE), with the guards of the projection rules.
   * Rejections once per (EventId, Payload), the payload compared byte for byte (a binary
   * collation and its length: the database's collation may ignore case, width and trailing
   * spaces), their ids in page order (`ORDER BY r.n`); the batch returns which it stored
   * (`stored`: `[{"n":0},…]`, or NULL for none).
   * Without the outbox (NATS off) the batch does not touch OutboxEvents nor the relay's cursor,
   * so a login without rights on them can ingest.
   */
  applyPage: PAGE_WRITE + pageEnd("CAST(0 AS int)", "CAST(NULL AS bigint)"),

  /**
   * {@link MSSQL_SQL.applyPage} that also writes the accepted events into the outbox (`@outbox`),
   * each with the page's traceparent (`@traceparent`, NULL with telemetry off).
   */
  applyPageWithOutbox: PAGE_WRITE + PAGE_OUTBOX +
    pageEnd("@outboxed", "(SELECT MAX(Seq) FROM @seqs)"),

  /**
   * A group member's batch in one batch and one transaction: the parcel rows and new rejections
   * of a page, the feed checkpoint neither read nor locked and no outbox (members write at the
   * same time; the group's consumer is their checkpoint). Returns which rejections it stored.
   */
  applyBatch: PAGE_START + PAGE_ROWS + `COMMIT TRANSACTION;
SELECT (SELECT r.n FROM @r AS r ORDER BY r.n FOR JSON PATH) AS stored;`,

  /** The outbox rows after position `@after`, in commit order. */
  outboxAfter: `SELECT TOP (@limit) Seq, EventId, Subject, Body, TraceParent, Late
FROM dbo.OutboxEvents WHERE Seq > @after ORDER BY Seq;`,

  /** The relay's cursor: an outbox position. */
  readRelayCursor: `SELECT ISNULL(OutboxSeq, 0) AS OutboxSeq FROM dbo.WorkerStates WHERE Id = @id;`,

  /**
   * Move the relay's cursor up to `@seq` (never back) and prune exactly the rows it published:
   * those after the old position up to `@seq` (those below are gone already); the highest
   * EventId among them raises the highest EventId published.
   */
  commitRelay: `SET XACT_ABORT ON;
SET NOCOUNT ON;
BEGIN TRANSACTION;
DECLARE @old bigint = ISNULL(
    (SELECT OutboxSeq FROM dbo.WorkerStates WITH (UPDLOCK, HOLDLOCK) WHERE Id = @id), 0);
DECLARE @pruned TABLE (EventId bigint NOT NULL);
DECLARE @published bigint;
IF @seq > @old
BEGIN
    DELETE FROM dbo.OutboxEvents
    OUTPUT deleted.EventId INTO @pruned (EventId)
    WHERE Seq > @old AND Seq <= @seq;
    SELECT @published = MAX(EventId) FROM @pruned;
    UPDATE dbo.WorkerStates
    SET OutboxSeq = @seq,
        LastProcessedEventId = CASE WHEN ISNULL(@published, 0) > LastProcessedEventId
            THEN @published ELSE LastProcessedEventId END,
        UpdatedAtUtc = SYSUTCDATETIME()
    WHERE Id = @id;
END;
COMMIT TRANSACTION;`,

  /** The outbox position of an EventId's row. */
  outboxSeqOf: `SELECT Seq FROM dbo.OutboxEvents WHERE EventId = @eventId;`,

  /** The late-event holes and settled mark of the feed's row. */
  readLate: `SELECT LateHoles, SettledEventId FROM dbo.WorkerStates WHERE Id = @id;`,

  /**
   * Rows waiting in the outbox (after the relay's cursor) and the oldest one's time, from
   * IX_OutboxEvents_Seq (005): Seq and CreatedAtUtc, not the Body of the clustered rows.
   */
  outboxBacklog: `SELECT COUNT_BIG(*) AS outboxRows,
    CONVERT(char(27), MIN(CreatedAtUtc), 121) AS oldest
FROM dbo.OutboxEvents
WHERE Seq > ISNULL((SELECT OutboxSeq FROM dbo.WorkerStates WHERE Id = @id), 0);`,

  /**
   * The key figures of `status`. The newest event and the parcel count come from
   * IX_ParcelStates_LastEventId (004): a seek to its last key, and a scan of the narrow index.
   */
  status: `SELECT
    (SELECT LastProcessedEventId FROM dbo.WorkerStates WHERE Id = @id) AS lastProcessedEventId,
    (SELECT CONVERT(char(27), UpdatedAtUtc, 121) FROM dbo.WorkerStates WHERE Id = @id)
        AS updatedAt,
    (SELECT COUNT_BIG(*) FROM dbo.ParcelStates) AS parcels,
    (SELECT COUNT_BIG(*) FROM dbo.RejectedEvents) AS rejected,
    (SELECT MAX(Version) FROM dbo.SchemaMigrations) AS schemaVersion,
    (SELECT TOP (1) CONVERT(char(27), CreatedDateTimeUtc, 121) FROM dbo.ParcelStates
        ORDER BY LastEventId DESC) AS newest;`,

  /** Take the feed lock for this session, without waiting; returns sp_getapplock's result. */
  takeFeedLock: `DECLARE @lockResult int;
EXEC @lockResult = sp_getapplock @Resource = @resource, @LockMode = N'Exclusive',
    @LockOwner = N'Session', @LockTimeout = 0;
SELECT @lockResult AS lockResult;`,

  /** Whether this session still holds the feed lock (`Exclusive`) or not (`NoLock`). */
  feedLockMode: `SELECT APPLOCK_MODE(N'public', @resource, N'Session') AS lockMode;`,

  /** Give the feed lock up. */
  releaseFeedLock: `EXEC sp_releaseapplock @Resource = @resource, @LockOwner = N'Session';`,

  /** One parcel's row, times as text. */
  parcel: `SELECT ParcelId, LastEventId, Type, StatusCode, RunId,
    CONVERT(char(27), CreatedDateTimeUtc, 121) AS Created,
    CONVERT(char(27), PickupTimeUtc, 121) AS Pickup,
    CONVERT(char(27), DeliveryTimeUtc, 121) AS Delivery,
    CONVERT(char(27), UpdatedAtUtc, 121) AS Updated
FROM dbo.ParcelStates WHERE ParcelId = @parcelId;`,

  /** The newest rejections, newest first (`@limit` is a bigint: any count the CLI takes). */
  rejections: `SELECT TOP (@limit) Id, EventId, Reason, Payload,
    CONVERT(char(27), RejectedAtUtc, 121) AS RejectedAt
FROM dbo.RejectedEvents ORDER BY Id DESC;`,

  /** Move the checkpoint; returns the one it replaced. */
  resetCheckpoint: `UPDATE dbo.WorkerStates
SET LastProcessedEventId = @to, UpdatedAtUtc = SYSUTCDATETIME()
OUTPUT deleted.LastProcessedEventId AS previousEventId
WHERE Id = @id;`,
} as const;

/** The name of one of the store's T-SQL texts. */
export type MssqlText = keyof typeof MSSQL_SQL;

/** A request with its parameters, ready to send one of the store's texts. */
export type Send = <T>(name: MssqlText) => Promise<sql.IResult<T>>;

/** Send one of the store's texts (by name, from {@link MSSQL_SQL}) with `request`'s parameters. */
export function sendText(request: sql.Request): Send {
  return (name) => request.query(MSSQL_SQL[name]);
}
