/**
 * Trace context as text: the W3C `traceparent` of a span, read back as a link, and the page a
 * piece of work belongs to. With telemetry off (no `OTEL_DENO=true`) every span is a no-op and
 * every traceparent is null.
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import { isSpanContextValid, type Link, type SpanContext, trace } from "@opentelemetry/api";

/**
 * The traceparent of the page whose write is running (see {@link pageTraceparent}): kept apart
 * from OpenTelemetry's context, so a store reads it the same way whatever the export does.
 */
const PAGE_TRACEPARENT = new AsyncLocalStorage<string>();

/** Links a span keeps at most: a batch of thousands of messages comes from a few dozen pages. */
export const MAX_LINKS = 128;

/** The W3C trace context header's form: version 00, trace id, parent span id, flags. */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * The W3C `traceparent` of a span context, or null when it is not a valid one (telemetry off).
 *
 * @example
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 * const context = { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331", traceFlags: 1 };
 * assertEquals(traceparentOf(context), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
 * ```
 */
export function traceparentOf(spanContext: SpanContext): string | null {
  if (!isSpanContextValid(spanContext)) return null;
  const flags = (spanContext.traceFlags & 0xff).toString(16).padStart(2, "0");
  return `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`;
}

/**
 * The span context a `traceparent` names (remote), or null when the text is not one (absent,
 * another version, all-zero ids).
 *
 * @example
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 * assertEquals(spanContextOf("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")?.spanId, "b7ad6b7169203331");
 * assertEquals(spanContextOf("not a traceparent"), null);
 * ```
 */
export function spanContextOf(traceparent: string | null | undefined): SpanContext | null {
  const match = TRACEPARENT.exec(traceparent ?? "");
  if (match === null) return null;
  const spanContext: SpanContext = {
    traceId: match[1] as string,
    spanId: match[2] as string,
    traceFlags: parseInt(match[3] as string, 16),
    isRemote: true,
  };
  return isSpanContextValid(spanContext) ? spanContext : null;
}

/**
 * Links to the distinct span contexts `traceparents` name, in their first order, at most
 * {@link MAX_LINKS}; texts that are not traceparents are passed over.
 *
 * @example
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 * const page = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
 * assertEquals(linksOf([page, page, null, "junk"]).length, 1);
 * ```
 */
export function linksOf(traceparents: Iterable<string | null | undefined>): Link[] {
  const seen = new Set<string>();
  const links: Link[] = [];
  for (const text of traceparents) {
    if (text === null || text === undefined || seen.has(text)) continue;
    seen.add(text);
    const spanContext = spanContextOf(text);
    if (spanContext === null) continue;
    links.push({ context: spanContext });
    if (links.length === MAX_LINKS) break;
  }
  return links;
}

/** Run `work` (a page's write) with `traceparent` as the page it belongs to. */
export function withPageTraceparent<T>(traceparent: string | null, work: () => T): T {
  if (traceparent === null) return work();
  return PAGE_TRACEPARENT.run(traceparent, work);
}

/**
 * The traceparent of the page whose write is running (the `scan.page` span of the page that
 * commits it), or null outside one or with telemetry off. A store keeps it with each outbox row.
 */
export function pageTraceparent(): string | null {
  return PAGE_TRACEPARENT.getStore() ?? null;
}

/** The traceparent of the span active now, or null. */
export function activeTraceparent(): string | null {
  const span = trace.getActiveSpan();
  return span === undefined ? null : traceparentOf(span.spanContext());
}
