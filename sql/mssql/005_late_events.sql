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
