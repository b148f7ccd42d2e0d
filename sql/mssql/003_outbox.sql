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
