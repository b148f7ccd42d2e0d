-- The outbox (docs/rules.md §7): each page's accepted events wait here, written in the page's own
-- transaction, until the relay has published them to NATS JetStream; then they are pruned. The
-- relay's cursor, the last EventId the stream holds, is the WorkerStates row 'scan-events:nats'.
CREATE TABLE OutboxEvents (
    EventId      INTEGER NOT NULL PRIMARY KEY,
    Subject      TEXT    NOT NULL,
    Body         TEXT    NOT NULL,
    CreatedAtUtc TEXT    NOT NULL
) STRICT;

INSERT INTO WorkerStates (Id, LastProcessedEventId, UpdatedAtUtc)
VALUES ('scan-events:nats', 0, strftime('%Y-%m-%dT%H:%M:%f', 'now') || '0000Z');
