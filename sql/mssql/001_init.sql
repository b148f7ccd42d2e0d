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
