-- scan-worker schema for SQLite (SPEC §4). Timestamps are text in the form of SPEC §3.5:
-- UTC with seven fraction digits, e.g. 2021-05-11T21:11:34.1506147Z.

CREATE TABLE WorkerStates (
    Id                   TEXT    NOT NULL PRIMARY KEY,
    LastProcessedEventId INTEGER NOT NULL CHECK (LastProcessedEventId >= 0),
    UpdatedAtUtc         TEXT    NOT NULL
) STRICT;

INSERT INTO WorkerStates (Id, LastProcessedEventId, UpdatedAtUtc)
VALUES ('scan-events', 0, strftime('%Y-%m-%dT%H:%M:%f', 'now') || '0000Z');

-- PickupEventId and DeliveryEventId record which event set each time, so that "the first
-- PICKUP / DELIVERY (lowest EventId)" holds whatever order pages are applied in (SPEC §3.7).
CREATE TABLE ParcelStates (
    ParcelId           INTEGER NOT NULL PRIMARY KEY,
    LastEventId        INTEGER NOT NULL,
    Type               TEXT    NOT NULL,
    StatusCode         TEXT    NOT NULL,
    RunId              TEXT    NULL,
    CreatedDateTimeUtc TEXT    NOT NULL,
    PickupEventId      INTEGER NULL,
    PickupTimeUtc      TEXT    NULL,
    DeliveryEventId    INTEGER NULL,
    DeliveryTimeUtc    TEXT    NULL,
    UpdatedAtUtc       TEXT    NOT NULL
) STRICT;

CREATE TABLE RejectedEvents (
    Id            INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    EventId       INTEGER NULL,
    Reason        TEXT    NOT NULL,
    Payload       TEXT    NOT NULL,
    RejectedAtUtc TEXT    NOT NULL
) STRICT;

CREATE INDEX IX_RejectedEvents_EventId ON RejectedEvents (EventId);
