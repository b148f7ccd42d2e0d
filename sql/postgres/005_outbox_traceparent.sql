-- OpenTelemetry (docs/telemetry.md): each outbox row keeps the W3C traceparent of the page that
-- committed it, so the relay's message carries the page's trace across the broker and a
-- restart. NULL when the page was written with telemetry off. (A nullable column without a
-- default: no table rewrite.)
ALTER TABLE outbox_events ADD COLUMN trace_parent text NULL;
