/**
 * Pages fetched one ahead: while the loop writes page N, page N+1 is already being fetched and
 * projected. A page is projected as soon as its body is parsed; the next one is asked for as
 * soon as this one's last EventId is known.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import type { FetchedPage } from "../api/client.ts";
import { pageEnd, type PageResult, projectPage } from "../domain/project.ts";
import { PageTrace } from "../telemetry/mod.ts";

/** Something that fetches pages: the API client, or a fake in tests. */
export interface PageSource {
  /** Fetch the page starting at `from` (inclusive); throws FetchAbortedError on abort. */
  fetchPage(from: number, signal: AbortSignal): Promise<FetchedPage>;
}

/** A fetched page and its projection. */
export interface Projected {
  readonly page: FetchedPage;
  readonly result: PageResult;
  /** Milliseconds the projection took. */
  readonly projectMs: number;
  /** Milliseconds the loop waited for the page once it asked for it. */
  readonly waitMs: number;
  /** The page's span, from its request to its commit (telemetry). */
  readonly trace?: PageTrace;
}

/**
 * Event-loop turns that get a new request onto the wire in Deno 2.9 (measured: one is not
 * enough, two are; without them the request waits for the next page's write to finish, and
 * the API's time adds to the worker's instead of overlapping it). Each turn costs microseconds.
 */
const REQUEST_TURNS = 4;

/** Resolve after `turns` turns of the event loop, in which pending I/O is driven. */
async function turnEventLoop(turns: number): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** A page being fetched (and projected), and the one asked for after it. */
interface InFlight {
  /** The `FromEventId` asked for. */
  readonly from: number;
  /** The page and its projection onto `from - 1`. */
  readonly projected: Promise<Omit<Projected, "waitMs">>;
  /** The following page, once asked for. */
  next: InFlight | null;
  /** The loop holds this page now: the next one may be asked for. */
  take(): void;
  /** Abort this fetch and the ones after it; resolves once they have settled. */
  cancel(): Promise<void>;
}

/**
 * The pages of a feed, fetched at most one ahead of the one the loop holds. Asking for a page
 * other than the one fetched ahead (the checkpoint did not move as expected) cancels that one.
 */
export class Prefetcher {
  readonly #source: PageSource;
  readonly #signal: AbortSignal;
  /** The page the loop takes next: fetched, or being fetched, while the current one is written. */
  #ahead: InFlight | null = null;

  /** @param source where pages come from; @param signal aborts every fetch on shutdown. */
  constructor(source: PageSource, signal: AbortSignal) {
    this.#source = source;
    this.#signal = signal;
  }

  /**
   * The page at `from` (the checkpoint + 1) and its projection onto `from - 1`.
   * @throws FetchAbortedError on shutdown.
   */
  async take(from: number): Promise<Projected> {
    const prefetched = this.#ahead?.from === from ? this.#ahead : null;
    if (this.#ahead !== null && prefetched === null) await this.#ahead.cancel();
    const current = prefetched ?? this.#start(from);
    this.#ahead = current; // cancelled by cancel() if shutdown comes first
    current.take();
    const started = performance.now();
    const projected = await current.projected;
    this.#ahead = current.next;
    return { ...projected, waitMs: performance.now() - started };
  }

  /** Cancel what is fetched ahead; resolves once it has settled. */
  async cancel(): Promise<void> {
    await this.#ahead?.cancel();
    this.#ahead = null;
  }

  /**
   * Start fetching the page at `from`. A full page means more is waiting: once the loop has
   * taken this page, the next one is asked for as soon as this one's last EventId is known,
   * before it is projected and written. So the API prepares page N+1 while the worker projects
   * and writes page N, and at most one page waits ahead of the one the loop holds.
   */
  #start(from: number): InFlight {
    const controller = new AbortController();
    let nextFrom: number | null = null;
    let taken = false;
    let cancelled = false;
    const startNext = () => {
      if (
        taken && nextFrom !== null && entry.next === null && !cancelled && !this.#signal.aborted
      ) {
        entry.next = this.#start(nextFrom);
      }
    };
    const trace = new PageTrace(from); // the request's span goes beneath the page's
    const fetched = trace.run(() =>
      this.#source.fetchPage(from, AbortSignal.any([this.#signal, controller.signal]))
    );
    fetched.catch((error) => trace.failed(error));
    const entry: InFlight = {
      from,
      next: null,
      projected: fetched.then(async (page) => {
        if (page.upstream !== undefined) trace.fromStream(page.upstream);
        if (page.full) {
          const end = pageEnd(from - 1, page.events);
          if (end > from - 1) nextFrom = end + 1;
          startNext();
          // The runtime sends a request only while its event loop turns: let it turn, so the
          // next page is on its way before this one is projected and (synchronously, for
          // SQLite) written.
          if (entry.next !== null) await turnEventLoop(REQUEST_TURNS);
        }
        const started = performance.now();
        const result = projectPage(from - 1, page.events, page.typeLength);
        return { page, result, projectMs: performance.now() - started, trace };
      }),
      take: () => {
        taken = true;
        startNext();
      },
      cancel: async () => {
        cancelled = true;
        controller.abort();
        await entry.projected.then((taken) => taken.trace?.end(), () => {});
        await entry.next?.cancel();
      },
    };
    entry.projected.catch(() => {}); // awaited by the loop, or cancelled
    return entry;
  }
}
