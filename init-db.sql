-- scan-worker: the complete SQL Server schema (SQL Server 2016+, compatibility level 130+),
-- for a DBA to run by hand in the target database, stopping at the first error:
--   sqlcmd -b -S host -d ScanWorkerDb -i init-db.sql
-- Generated from sql/mssql/*.sql by `deno task init-db`; do not edit by hand.
-- The worker records these migrations as applied, so `scan-worker migrate` finds nothing to do.
-- Each migration is one batch with its record: a batch that fails to compile runs nothing,
-- and one that fails while running is rolled back whole (XACT_ABORT).

SET XACT_ABORT ON;
IF (SELECT compatibility_level FROM sys.databases WHERE name = DB_NAME()) < 130
    THROW 50004, N'scan-worker needs compatibility level 130 or higher (for OPENJSON): ALTER DATABASE … SET COMPATIBILITY_LEVEL = 130', 1;
GO

IF OBJECT_ID(N'dbo.SchemaMigrations', N'U') IS NULL
CREATE TABLE dbo.SchemaMigrations (
    Version      int           NOT NULL CONSTRAINT PK_SchemaMigrations PRIMARY KEY,
    Name         nvarchar(200) NOT NULL,
    Checksum     char(64)      NOT NULL,
    AppliedAtUtc datetime2(7)  NOT NULL
);
GO

-- 001_init.sql
BEGIN TRANSACTION;
-- scan-worker schema for SQL Server 2016+ (compatibility level 130+). One batch: no GO separators.
-- Times are datetime2(7) in UTC; ids are bigint (EventId and ParcelId go up to 2^53-1).

CREATE TABLE dbo.WorkerStates (
    Id                   nvarchar(100) NOT NULL CONSTRAINT PK_WorkerStates PRIMARY KEY,
    LastProcessedEventId bigint        NOT NULL
        CONSTRAINT CK_WorkerStates_LastProcessedEventId CHECK (LastProcessedEventId >= 0),
    UpdatedAtUtc         datetime2(7)  NOT NULL
);

INSERT INTO dbo.WorkerStates (Id, LastProcessedEventId, UpdatedAtUtc)
VALUES (N'scan-events', 0, SYSUTCDATETIME());

-- Type holds at most 50 characters after trimming; upper-casing a few letters (ß → SS) can
-- lengthen it, hence 100. PickupEventId and DeliveryEventId record which event set each time,
-- so "the first PICKUP / DELIVERY" holds whatever order pages are applied in (docs/rules.md §3.7).
CREATE TABLE dbo.ParcelStates (
    ParcelId           bigint        NOT NULL CONSTRAINT PK_ParcelStates PRIMARY KEY,
    LastEventId        bigint        NOT NULL,
    Type               nvarchar(100) NOT NULL,
    StatusCode         nvarchar(100) NOT NULL,
    RunId              nvarchar(50)  NULL,
    CreatedDateTimeUtc datetime2(7)  NOT NULL,
    PickupEventId      bigint        NULL,
    PickupTimeUtc      datetime2(7)  NULL,
    DeliveryEventId    bigint        NULL,
    DeliveryTimeUtc    datetime2(7)  NULL,
    UpdatedAtUtc       datetime2(7)  NOT NULL
);

CREATE TABLE dbo.RejectedEvents (
    Id            bigint IDENTITY(1, 1) NOT NULL CONSTRAINT PK_RejectedEvents PRIMARY KEY,
    EventId       bigint         NULL,
    Reason        nvarchar(1000) NOT NULL,
    Payload       nvarchar(max)  NOT NULL,
    RejectedAtUtc datetime2(7)   NOT NULL
);

CREATE INDEX IX_RejectedEvents_EventId ON dbo.RejectedEvents (EventId);
INSERT INTO dbo.SchemaMigrations (Version, Name, Checksum, AppliedAtUtc)
VALUES (1, N'init', '5262a00b25288a2f6d9f823799d7dd662211950b4166f40586d6d9c8b0f560d5', SYSUTCDATETIME());
COMMIT TRANSACTION;
GO

-- 002_type_length.sql
BEGIN TRANSACTION;
-- Type is at most 50 characters after trimming, and upper-casing it can turn one character into
-- three (ﬃ → FFI, ΐ → Ϊ́): nvarchar(150) keeps every Type the worker accepts, where 100 would
-- refuse a long one (the page batch's OPENJSON … WITH would even cut it silently).
ALTER TABLE dbo.ParcelStates ALTER COLUMN Type nvarchar(150) NOT NULL;
INSERT INTO dbo.SchemaMigrations (Version, Name, Checksum, AppliedAtUtc)
VALUES (2, N'type_length', 'afb72229de55ac54ec77be3531f6af7b45a1e59d291ae4f6469e3b783a700d54', SYSUTCDATETIME());
COMMIT TRANSACTION;
GO

-- 003_outbox.sql
BEGIN TRANSACTION;
-- The outbox (docs/rules.md §7): each page's accepted events wait here, written by the page's own
-- batch, until the relay has published them to NATS JetStream; then they are pruned. The relay's
-- cursor, the last EventId the stream holds, is the WorkerStates row 'scan-events:nats'.
-- Subject: "scan.v1.events." + a Type token (at most 150) + "." + a ParcelId (at most 16).
CREATE TABLE dbo.OutboxEvents (
    EventId      bigint        NOT NULL CONSTRAINT PK_OutboxEvents PRIMARY KEY,
    Subject      nvarchar(200) NOT NULL,
    Body         nvarchar(max) NOT NULL,
    CreatedAtUtc datetime2(7)  NOT NULL
);

INSERT INTO dbo.WorkerStates (Id, LastProcessedEventId, UpdatedAtUtc)
VALUES (N'scan-events:nats', 0, SYSUTCDATETIME());
INSERT INTO dbo.SchemaMigrations (Version, Name, Checksum, AppliedAtUtc)
VALUES (3, N'outbox', '7103b7393460edb932a37822c4b1e141e60bef676a4dd8eae9a445a24012df4a', SYSUTCDATETIME());
COMMIT TRANSACTION;
GO

-- 004_read_indexes.sql
BEGIN TRANSACTION;
-- Indexes for the reads that run while pages are written, so none of them walks a wide table.
-- The outbox backlog (every few seconds while NATS_URL is set) counts the rows after the relay's
-- cursor and reads the oldest one's time: this index holds EventId and CreatedAtUtc only, not the
-- Body the clustered key carries in-row. `status` reads the newest applied event (the row with
-- the highest LastEventId) and counts ParcelStates: both from the narrow LastEventId index.
CREATE INDEX IX_OutboxEvents_EventId ON dbo.OutboxEvents (EventId) INCLUDE (CreatedAtUtc);

CREATE INDEX IX_ParcelStates_LastEventId ON dbo.ParcelStates (LastEventId);
INSERT INTO dbo.SchemaMigrations (Version, Name, Checksum, AppliedAtUtc)
VALUES (4, N'read_indexes', 'e44e3fa871d1625d0ceb882a76c0927e72a38927479ced4453ba6f50a75291bd', SYSUTCDATETIME());
COMMIT TRANSACTION;
GO

-- 005_late_events.sql
BEGIN TRANSACTION;
-- Late events (docs/rules.md §3.10) and the outbox in commit order (§7).
-- The feed's row keeps, in each page's transaction, the EventIds below the checkpoint not seen
-- yet (LateHoles: [[lo, hi, sinceMs], …]) and the settled mark (SettledEventId). The relay's row:
-- OutboxSeq is the outbox position of the last row the stream holds (its cursor; NULL reads as
-- 0); LastProcessedEventId the highest EventId published (a replay stays out of the outbox).
ALTER TABLE dbo.WorkerStates ADD
    SettledEventId bigint        NULL,
    LateHoles      nvarchar(max) NULL,
    OutboxSeq      bigint        NULL;

-- The outbox gets a commit-order key, Seq: a late event's row comes after the page that found
-- it, whatever its EventId; Late marks such a row (its message says so, so a reader can find its
-- place in the stream by EventId past it). Rows waiting from before are numbered in EventId
-- order (an INSERT … SELECT … ORDER BY computes IDENTITY values in that order).
CREATE TABLE dbo.OutboxEventsByCommit (
    Seq          bigint        IDENTITY(1, 1) NOT NULL CONSTRAINT PK_OutboxEventsSeq PRIMARY KEY,
    EventId      bigint        NOT NULL CONSTRAINT UQ_OutboxEventsEventId UNIQUE,
    Subject      nvarchar(200) NOT NULL,
    Body         nvarchar(max) NOT NULL,
    CreatedAtUtc datetime2(7)  NOT NULL,
    Late         bit           NOT NULL CONSTRAINT DF_OutboxEventsLate DEFAULT (0)
);

-- The relay's backlog (the rows after its cursor, and the oldest one's time) is read from this
-- narrow index, not the Body the clustered key carries in-row (as 004 did by EventId).
CREATE INDEX IX_OutboxEvents_Seq ON dbo.OutboxEventsByCommit (Seq) INCLUDE (CreatedAtUtc);

INSERT INTO dbo.OutboxEventsByCommit (EventId, Subject, Body, CreatedAtUtc)
-- TABLOCKX, HOLDLOCK: no older worker may commit an outbox row between the copy and the DROP.
SELECT EventId, Subject, Body, CreatedAtUtc FROM dbo.OutboxEvents WITH (TABLOCKX, HOLDLOCK)
ORDER BY EventId;

DROP TABLE dbo.OutboxEvents;

EXEC sp_rename N'dbo.OutboxEventsByCommit', N'OutboxEvents';
INSERT INTO dbo.SchemaMigrations (Version, Name, Checksum, AppliedAtUtc)
VALUES (5, N'late_events', '8788967bd740cfa51eaeaefe0a8f02958a295a2b7624e065a015823913c5ab83', SYSUTCDATETIME());
COMMIT TRANSACTION;
GO

-- 006_outbox_traceparent.sql
BEGIN TRANSACTION;
-- OpenTelemetry (docs/telemetry.md): each outbox row keeps the W3C traceparent of the page that
-- committed it, so the relay's message carries the page's trace across the broker and a
-- restart. NULL when the page was written with telemetry off. A version-00 traceparent is 55
-- ASCII characters. (A nullable column without a default: a metadata-only change.)
ALTER TABLE dbo.OutboxEvents ADD TraceParent varchar(55) NULL;
INSERT INTO dbo.SchemaMigrations (Version, Name, Checksum, AppliedAtUtc)
VALUES (6, N'outbox_traceparent', 'ac1dd0481dc119fb6d473d407ed397252cc3fd11786f799821e28e95998be6d7', SYSUTCDATETIME());
COMMIT TRANSACTION;
GO
