-- Indexes for the reads that run while pages are written, so none of them walks a wide table.
-- The outbox backlog (every few seconds while NATS_URL is set) counts the rows after the relay's
-- cursor and reads the oldest one's time: this index holds EventId and CreatedAtUtc only, not the
-- Body the clustered key carries in-row. `status` reads the newest applied event (the row with
-- the highest LastEventId) and counts ParcelStates: both from the narrow LastEventId index.
CREATE INDEX IX_OutboxEvents_EventId ON dbo.OutboxEvents (EventId) INCLUDE (CreatedAtUtc);

CREATE INDEX IX_ParcelStates_LastEventId ON dbo.ParcelStates (LastEventId);
