-- OpenTelemetry (docs/telemetry.md): each outbox row keeps the W3C traceparent of the page that
-- committed it, so the relay's message carries the page's trace across the broker and a
-- restart. NULL when the page was written with telemetry off. A version-00 traceparent is 55
-- ASCII characters. (A nullable column without a default: a metadata-only change.)
ALTER TABLE dbo.OutboxEvents ADD TraceParent varchar(55) NULL;
