/**
 * The broker's side of a trace: one `publish <stream>` span per batch the relay publishes, and
 * one `process <stream>` span per batch a consumer applies, each linked to the pages that
 * committed the batch's events (each message carries its page's traceparent).
 *
 * @module
 */

import { context, SpanKind, trace } from "@opentelemetry/api";
import { linksOf } from "./_context.ts";
import { countSpans } from "./_counts.ts";
import { failed } from "./_page.ts";
import { tracer } from "./_tracer.ts";

/**
 * Run `work` (publishing a batch of `traceparents.length` messages to `stream`) under a
 * `publish <stream>` span with the messaging attributes, linked to the batch's pages.
 * The span ends when `work` settles, with its error if it failed.
 */
export function tracePublish<T>(
  stream: string,
  traceparents: readonly (string | null | undefined)[],
  work: () => Promise<T>,
): Promise<T> {
  return traceBatch("publish", stream, traceparents, work);
}

/**
 * Run `work` (applying a batch of `traceparents.length` messages read from `stream`, e.g. a
 * group member's batch) under a `process <stream>` span with the messaging attributes, linked to
 * the upstream pages its messages carry. (The ordered reader's pages get theirs from the loop:
 * `PageTrace.fromStream`.)
 */
export function traceProcess<T>(
  stream: string,
  traceparents: readonly (string | null | undefined)[],
  work: () => Promise<T>,
): Promise<T> {
  return traceBatch("process", stream, traceparents, work);
}

/** A batch's span around `work`, ended when it settles (with its error if it failed). */
async function traceBatch<T>(
  operation: "publish" | "process",
  stream: string,
  traceparents: readonly (string | null | undefined)[],
  work: () => Promise<T>,
): Promise<T> {
  const span = tracer().startSpan(`${operation} ${stream}`, {
    kind: operation === "publish" ? SpanKind.PRODUCER : SpanKind.CONSUMER,
    attributes: {
      "messaging.system": "nats",
      "messaging.operation.type": operation === "publish" ? "send" : "process",
      "messaging.destination.name": stream,
      "messaging.batch.message_count": traceparents.length,
    },
    links: linksOf(traceparents),
  });
  if (span.isRecording()) countSpans();
  try {
    return await context.with(trace.setSpan(context.active(), span), work);
  } catch (error) {
    failed(span, error);
    throw error;
  } finally {
    span.end();
  }
}
