-- The outbox (docs/rules.md §7): each page's accepted events wait here, written by the page's own
-- statement, until the relay has published them to NATS JetStream; then they are pruned. The
-- relay's cursor, the last EventId the stream holds, is the worker_states row 'scan-events:nats'.
CREATE TABLE outbox_events (
    event_id       bigint      NOT NULL PRIMARY KEY,
    subject        text        NOT NULL,
    body           text        NOT NULL,
    created_at_utc timestamptz NOT NULL
);

INSERT INTO worker_states (id, last_processed_event_id, updated_at_utc)
VALUES ('scan-events:nats', 0, now());
