/**
 * The span of one page: `scan.page` from the request that fetched it (Deno's own `fetch` span
 * runs beneath it) to its write's commit (a `scan.page.write` span beneath it), with the page's
 * figures as attributes. A page read from the stream becomes `process <stream>`, linked to the
 * upstream pages its messages came from.
 *
 * @module
 */

import {
  type Context,
  context,
  INVALID_SPAN_CONTEXT,
  type Span,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import { linksOf, traceparentOf, withPageTraceparent } from "./_context.ts";
import { countSpans } from "./_counts.ts";
import { tracer } from "./_tracer.ts";

/** Where a page read from the stream came from: the stream, and each message's traceparent. */
export interface Upstream {
  /** The stream's name (`SCAN_EVENTS`). */
  readonly stream: string;
  /** Each message's `traceparent` header, in order (null when it had none). */
  readonly traceparents: readonly (string | null)[];
}

/** A page's figures, as its span's attributes. */
export interface PageFigures {
  /** The first EventId asked for. */
  readonly fromEventId: number;
  /** The checkpoint the page moved to. */
  readonly toEventId: number;
  /** Events in the page. */
  readonly events: number;
  /** Events accepted (applied). */
  readonly accepted: number;
  /** Events rejected. */
  readonly rejected: number;
}

/** The span of one page, from its fetch to its commit. */
export class PageTrace {
  readonly #span: Span;
  readonly #context: Context;
  readonly #traceparent: string | null;
  #ended = false;

  /**
   * Start the span of the page fetched from `from` (not yet active: see {@link run}); with
   * null, a span that is never recorded.
   */
  constructor(from: number | null) {
    this.#span = from === null
      ? trace.wrapSpanContext(INVALID_SPAN_CONTEXT)
      : tracer().startSpan("scan.page", { attributes: { "scan.page.from_event_id": from } });
    if (this.#span.isRecording()) countSpans();
    this.#traceparent = traceparentOf(this.#span.spanContext());
    // A span without a valid context is never made active: Deno's fetch refuses to run under one
    // ("invalid trace id").
    this.#context = this.#traceparent === null
      ? context.active()
      : trace.setSpan(context.active(), this.#span);
  }

  /** A page span that is never recorded (for pages that come without one). */
  static none(): PageTrace {
    return new PageTrace(null);
  }

  /** The page's W3C traceparent (null with telemetry off). */
  get traceparent(): string | null {
    return this.#traceparent;
  }

  /** Run `work` with this page's span active (its requests and log records belong to it). */
  run<T>(work: () => T): T {
    return context.with(this.#context, work);
  }

  /** The page came from the stream: the span is the batch's `process` span, linked upstream. */
  fromStream(upstream: Upstream): void {
    this.#span.updateName(`process ${upstream.stream}`);
    this.#span.setAttributes({
      "messaging.system": "nats",
      "messaging.operation.type": "process",
      "messaging.destination.name": upstream.stream,
      "messaging.batch.message_count": upstream.traceparents.length,
    });
    this.#span.addLinks(linksOf(upstream.traceparents));
  }

  /**
   * Run the page's write under a `scan.page.write` span, with the page's traceparent for the
   * outbox rows it writes. Ends that span when the write settles, with its error if it failed.
   */
  async write<T>(work: () => Promise<T>): Promise<T> {
    const span = tracer().startSpan("scan.page.write", {}, this.#context);
    if (span.isRecording()) countSpans();
    try {
      return await context.with(
        trace.setSpan(this.#context, span),
        () => withPageTraceparent(this.#traceparent, work),
      );
    } catch (error) {
      failed(span, error);
      throw error;
    } finally {
      span.end();
    }
  }

  /** The page is written (or had nothing to write): its figures, and the span ends. */
  applied(figures: PageFigures): void {
    if (this.#ended) return;
    this.#span.setAttributes({
      "scan.page.from_event_id": figures.fromEventId,
      "scan.page.to_event_id": figures.toEventId,
      "scan.page.events": figures.events,
      "scan.page.accepted": figures.accepted,
      "scan.page.rejected": figures.rejected,
    });
    this.end();
  }

  /** The page could not be fetched or written: the span ends with the error. */
  failed(error: unknown): void {
    if (this.#ended) return;
    failed(this.#span, error);
    this.end();
  }

  /** End the span (a page fetched ahead and then dropped, on shutdown). */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#span.end();
  }
}

/** Mark `span` as failed with `error`. */
export function failed(span: Span, error: unknown): void {
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: String((error as Error)?.message ?? error),
  });
  if (error instanceof Error) span.recordException(error);
}
