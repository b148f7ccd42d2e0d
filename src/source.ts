/**
 * The seam every page source meets: the Scan Event API client, the stream reader of a
 * downstream worker, or a fake in tests. The loop asks a {@link PageSource} for the page at its
 * checkpoint + 1 and gets a {@link FetchedPage} of raw events, not yet validated.
 *
 * @example A source of fixed pages, as a test writes one
 * ```ts
 * import assert from "node:assert/strict";
 * import { FetchAbortedError, type FetchedPage, type PageSource } from "./source.ts";
 *
 * const events = [{ EventId: 1 }, { EventId: 2 }, { EventId: 3 }];
 * const source: PageSource = {
 *   fetchPage(from: number, signal: AbortSignal): Promise<FetchedPage> {
 *     if (signal.aborted) return Promise.reject(new FetchAbortedError(from));
 *     const page = events.filter((e) => e.EventId >= from).slice(0, 2);
 *     return Promise.resolve({ from, events: page, full: page.length >= 2, attempts: 1, ms: 0 });
 *   },
 * };
 * const page = await source.fetchPage(2, new AbortController().signal);
 * assert.deepStrictEqual([page.events.length, page.full], [2, true]);
 * ```
 *
 * @module
 */

/** Something that fetches pages of the feed. */
export interface PageSource {
  /** Fetch the page starting at `from` (inclusive); throws {@link FetchAbortedError} on abort. */
  fetchPage(from: number, signal: AbortSignal): Promise<FetchedPage>;
  /**
   * Turns of the event loop a page asked for needs before its request has left the process: the
   * loop gives them, once a full page has arrived and the next one is asked for, before it
   * projects and writes the page (`REQUEST_TURNS` in `worker/prefetch.ts` when absent: an HTTP
   * request). 0 for a source that reads its pages from memory on a later turn by itself (the
   * stream source): turns given to it would only run that read before the write.
   */
  readonly requestTurns?: number;
  /** Let go of what the source holds (a broker connection); the loop's owner calls it at the end. */
  close?(): Promise<void>;
}

/** A page as fetched: its raw events, not yet validated. */
export interface FetchedPage {
  /** The `FromEventId` asked for. */
  readonly from: number;
  /** The raw events of the body, in the order received. */
  readonly events: readonly unknown[];
  /** As many events as `Limit` asked for (or more): more are waiting. */
  readonly full: boolean;
  /**
   * The longest Type its events may carry: 50 from the API; the stored length from a stream of
   * events an upstream scan-worker accepted (upper-casing can triple a Type).
   */
  readonly typeLength?: number;
  /** Attempts it took (1 = first try). */
  readonly attempts: number;
  /** Milliseconds from the first attempt to the parsed body. */
  readonly ms: number;
  /** Milliseconds of the last attempt spent decoding the body to text and parsing it. */
  readonly stages?: BodyStages;
  /** Read from the stream: where its events came from, for the page's trace (docs/telemetry.md). */
  readonly upstream?: Upstream;
}

/** The stream a page was read from, and the upstream page each of its messages came from. */
export interface Upstream {
  /** The stream's name (`SCAN_EVENTS`). */
  readonly stream: string;
  /** Each message's `traceparent` header, in order (null when it had none). */
  readonly traceparents: readonly (string | null)[];
}

/** Where a response body's time went, once its bytes had arrived. */
export interface BodyStages {
  /** UTF-8 bytes to text. */
  readonly decodeMs: number;
  /** Text to JSON, and the check that it is a page. */
  readonly parseMs: number;
  /** From a stream: taking the messages from the broker's client, before decoding them. */
  readonly receiveMs?: number;
}

/**
 * Raised by {@link PageSource.fetchPage} when its signal aborts (shutdown, or a page fetched
 * ahead that is no longer wanted).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FetchAbortedError } from "./source.ts";
 *
 * assert.equal(new FetchAbortedError(7).message, "fetch of FromEventId=7 cancelled");
 * ```
 */
export class FetchAbortedError extends Error {
  /** @param from the page that was being fetched. */
  constructor(from: number) {
    super(`fetch of FromEventId=${from} cancelled`);
    this.name = "FetchAbortedError";
  }
}
