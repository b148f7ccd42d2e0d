-- Late events (docs/rules.md §3.10) and the outbox in commit order (§7).
-- The feed's row keeps, in each page's statement, the EventIds below the checkpoint not seen
-- yet (late_holes: [[lo, hi, sinceMs], …]) and the settled mark (settled_event_id).
-- The relay's row: outbox_seq is the outbox position of the last row the stream holds (its
-- cursor); last_processed_event_id the highest EventId published (a replay stays out of the outbox).
ALTER TABLE worker_states
    ADD COLUMN settled_event_id bigint NULL,
    ADD COLUMN late_holes text NULL,
    ADD COLUMN outbox_seq bigint NULL;

-- The outbox gets a commit-order key, seq: a late event's row comes after the page that found
-- it, whatever its event_id; late marks such a row (its message says so, so a reader can find
-- its place in the stream by EventId past it). Rows waiting from before are numbered in event_id
-- order.
ALTER TABLE outbox_events
    ADD COLUMN seq bigint NULL,
    ADD COLUMN late boolean NOT NULL DEFAULT false;

UPDATE outbox_events AS o SET seq = n.seq
FROM (SELECT event_id, row_number() OVER (ORDER BY event_id) AS seq FROM outbox_events) AS n
WHERE o.event_id = n.event_id;

CREATE SEQUENCE outbox_events_seq OWNED BY outbox_events.seq;
SELECT setval('outbox_events_seq', coalesce(max(seq), 0) + 1, false) FROM outbox_events;

ALTER TABLE outbox_events
    ALTER COLUMN seq SET DEFAULT nextval('outbox_events_seq'),
    ALTER COLUMN seq SET NOT NULL;

CREATE UNIQUE INDEX ux_outbox_events_seq ON outbox_events (seq);

UPDATE worker_states SET outbox_seq = 0 WHERE id = 'scan-events:nats';
