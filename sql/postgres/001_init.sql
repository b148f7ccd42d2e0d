-- scan-worker schema for PostgreSQL (SPEC §4): the same tables in snake_case.
-- Times are timestamptz (microseconds: the worker rounds the feed's seven digits half up).

CREATE TABLE worker_states (
    id                      text        NOT NULL PRIMARY KEY,
    last_processed_event_id bigint      NOT NULL CHECK (last_processed_event_id >= 0),
    updated_at_utc          timestamptz NOT NULL
);

INSERT INTO worker_states (id, last_processed_event_id, updated_at_utc)
VALUES ('scan-events', 0, now());

-- pickup_event_id and delivery_event_id record which event set each time, so "the first
-- PICKUP / DELIVERY (lowest EventId)" holds whatever order pages are applied in (SPEC §3.7).
CREATE TABLE parcel_states (
    parcel_id             bigint      NOT NULL PRIMARY KEY,
    last_event_id         bigint      NOT NULL,
    type                  text        NOT NULL,
    status_code           text        NOT NULL,
    run_id                text        NULL,
    created_date_time_utc timestamptz NOT NULL,
    pickup_event_id       bigint      NULL,
    pickup_time_utc       timestamptz NULL,
    delivery_event_id     bigint      NULL,
    delivery_time_utc     timestamptz NULL,
    updated_at_utc        timestamptz NOT NULL
);

-- payload is the event's JSON text, kept verbatim (jsonb would reorder and normalise it).
CREATE TABLE rejected_events (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        bigint      NULL,
    reason          text        NOT NULL,
    payload         text        NOT NULL,
    rejected_at_utc timestamptz NOT NULL
);

CREATE INDEX ix_rejected_events_event_id ON rejected_events (event_id);
