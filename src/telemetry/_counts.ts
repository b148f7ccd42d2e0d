/**
 * What the worker has handed to Deno's exporter: its own spans and log records, counted as they
 * are made (a few additions per page), so that the export watch can say how much a collector
 * that is down has cost.
 *
 * @module
 */

const counts = { spans: 0, logs: 0 };

/** One span (or more) handed over. */
export function countSpans(n = 1): void {
  counts.spans += n;
}

/** One log record handed over. */
export function countLog(): void {
  counts.logs++;
}

/** The totals so far. */
export function handedOver(): { readonly spans: number; readonly logs: number } {
  return { ...counts };
}
