-- OpenTelemetry (docs/telemetry.md): each outbox row keeps the W3C traceparent of the page that
-- committed it, so the relay's message carries the page's trace across the broker and a
-- restart. NULL when the page was written with telemetry off.
ALTER TABLE OutboxEvents ADD COLUMN TraceParent TEXT NULL;
