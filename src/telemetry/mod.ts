/**
 * OpenTelemetry for the worker, on Deno's built-in export (`OTEL_DENO=true` and the standard
 * `OTEL_EXPORTER_OTLP_*` and `OTEL_SERVICE_NAME` variables): the `scan.page` span of each page
 * with its request and write beneath it, the relay's `publish` spans, a downstream worker's
 * `process` spans linked to the upstream pages, the W3C traceparent that carries a page across
 * the outbox and the broker, and the log records as OpenTelemetry logs. Off by default; every
 * call here is then a no-op. See docs/telemetry.md.
 *
 * @example
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 * import { PageTrace } from "./mod.ts";
 * const page = new PageTrace(101);
 * const written = await page.write(() => Promise.resolve("written"));
 * page.applied({ fromEventId: 101, toEventId: 200, events: 100, accepted: 98, rejected: 2 });
 * assertEquals(written, "written");
 * ```
 *
 * @module
 */

export {
  activeTraceparent,
  linksOf,
  MAX_LINKS,
  pageTraceparent,
  spanContextOf,
  traceparentOf,
  withPageTraceparent,
} from "./_context.ts";
export { type PageFigures, PageTrace } from "./_page.ts";
export { traceProcess, tracePublish } from "./_broker.ts";
export { type ConsoleMode, consoleMode, logsExported, openTelemetryLogSink } from "./_logs.ts";
export { SCOPE, telemetryOn, tracer } from "./_tracer.ts";
export { handedOver } from "./_counts.ts";
export {
  type DroppedTotals,
  type ExportTarget,
  exportTarget,
  ExportWatch,
  type ExportWatchOptions,
  urlForLog,
} from "./_watch.ts";
