-- Late events (docs/rules.md §3.10) and the outbox in commit order (§7).
-- The feed's row keeps, in each page's transaction, the EventIds below the checkpoint not seen
-- yet (LateHoles: [[lo, hi, sinceMs], …]) and the settled mark (SettledEventId).
ALTER TABLE WorkerStates ADD COLUMN SettledEventId INTEGER NULL;
ALTER TABLE WorkerStates ADD COLUMN LateHoles TEXT NULL;
-- The relay's row: OutboxSeq is the outbox position of the last row the stream holds (its
-- cursor); LastProcessedEventId the highest EventId published (a replay stays out of the outbox).
ALTER TABLE WorkerStates ADD COLUMN OutboxSeq INTEGER NULL;

-- The outbox gets a commit-order key, Seq: a late event's row comes after the page that found
-- it, whatever its EventId; Late marks such a row (its message says so, so a reader can find its
-- place in the stream by EventId past it). Rows waiting from before keep their EventId order.
CREATE TABLE OutboxEventsByCommit (
    Seq          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    EventId      INTEGER NOT NULL UNIQUE,
    Subject      TEXT    NOT NULL,
    Body         TEXT    NOT NULL,
    CreatedAtUtc TEXT    NOT NULL,
    Late         INTEGER NOT NULL DEFAULT 0 CHECK (Late IN (0, 1))
) STRICT;

INSERT INTO OutboxEventsByCommit (EventId, Subject, Body, CreatedAtUtc)
SELECT EventId, Subject, Body, CreatedAtUtc FROM OutboxEvents ORDER BY EventId;

DROP TABLE OutboxEvents;
ALTER TABLE OutboxEventsByCommit RENAME TO OutboxEvents;

UPDATE WorkerStates SET OutboxSeq = 0 WHERE Id = 'scan-events:nats';
