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
