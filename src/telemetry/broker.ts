/**
 * The relay's side of a trace: one `publish <stream>` span per batch it publishes, linked to
 * the pages that committed the batch's events (each message carries its page's traceparent).
 *
 * @module
 */

import { context, SpanKind, trace } from "@opentelemetry/api";
import { linksOf } from "./context.ts";
import { countSpans } from "./counts.ts";
import { failed } from "./page.ts";
import { tracer } from "./tracer.ts";

/**
 * Run `work` (publishing a batch of `traceparents.length` messages to `stream`) under a
 * `publish <stream>` span with the messaging attributes, linked to the batch's pages.
 * The span ends when `work` settles, with its error if it failed.
 */
export async function tracePublish<T>(
  stream: string,
  traceparents: readonly (string | null | undefined)[],
  work: () => Promise<T>,
): Promise<T> {
  const span = tracer().startSpan(`publish ${stream}`, {
    kind: SpanKind.PRODUCER,
    attributes: {
      "messaging.system": "nats",
      "messaging.operation.type": "send",
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
