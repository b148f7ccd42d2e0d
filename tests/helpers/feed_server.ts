/**
 * An in-test Scan Event API: serves a fixture feed by `FromEventId` and `Limit` (docs/rules.md §2), on
 * loopback, recording every request, with a hook to inject faults.
 *
 * @module
 */

import { sleep } from "../../src/retry.ts";

/** One fixture entry: the EventId the server pages by, and the raw JSON it sends. */
export interface FeedEntry {
  /** Position in the feed (normally the EventId; garbage events borrow their neighbour's). */
  readonly key: number;
  /** What is sent. */
  readonly raw: unknown;
}

/** A request the server saw. */
export interface SeenRequest {
  readonly from: number;
  readonly limit: number;
  readonly authorization: string | null;
}

/**
 * A fault hook: return a Response to send instead of the page, or null to serve it.
 * `closing` aborts when the server closes: stalls should end on it.
 */
export type Fault = (
  request: Request,
  index: number,
  closing: AbortSignal,
) => Response | null | Promise<Response | null>;

/** Options of {@link serveFeed}. */
export interface FeedOptions {
  /** Send each page's events in reverse order (the worker must sort them). */
  readonly reversePages?: boolean;
  /** Delay before each page is sent. */
  readonly delayMs?: number;
  /** Fault injection, called for every request with its 0-based index. */
  readonly fault?: Fault;
}

/** A running in-test feed. */
export interface FeedServer {
  /** The feed URL to give the worker. */
  readonly url: string;
  /** Every request, in order. */
  readonly requests: SeenRequest[];
  /** Stop the server. */
  close(): Promise<void>;
}

/** Wrap plain events (each with a numeric EventId) as fixture entries keyed by their EventId. */
export function entries(events: readonly { EventId: number }[]): FeedEntry[] {
  return events.map((raw) => ({ key: raw.EventId, raw }));
}

/** Start an in-test feed on 127.0.0.1 with an OS-chosen port. */
export function serveFeed(feed: readonly FeedEntry[], options: FeedOptions = {}): FeedServer {
  const requests: SeenRequest[] = [];
  const sorted = [...feed].sort((a, b) => a.key - b.key);
  const closing = new AbortController();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const from = Number(url.searchParams.get("FromEventId") ?? "1");
    const limit = Number(url.searchParams.get("Limit") ?? "100");
    const index = requests.length;
    requests.push({ from, limit, authorization: req.headers.get("authorization") });
    const injected = await options.fault?.(req, index, closing.signal);
    if (injected) return injected;
    if (options.delayMs) await sleep(options.delayMs, closing.signal);
    const page = sorted.filter((e) => e.key >= from).slice(0, limit).map((e) => e.raw);
    if (options.reversePages) page.reverse();
    return Response.json({ ScanEvents: page });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/v1/scans/scanevents`,
    requests,
    close: () => {
      closing.abort();
      return server.shutdown();
    },
  };
}
