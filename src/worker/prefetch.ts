/**
 * Pages fetched one ahead: while the loop writes page N, page N+1 is already being fetched and
 * projected. As soon as a full page's last EventId is known, the page after it is asked for;
 * then the page is projected with the projection the loop hands in.
 *
 * @example The loop's use: take the page at checkpoint + 1, already projected
 * ```ts
 * import assert from "node:assert/strict";
 * import { Prefetcher } from "./prefetch.ts";
 *
 * const asked: number[] = [];
 * const pages = new Prefetcher({
 *   source: {
 *     fetchPage(from: number) {
 *       asked.push(from);
 *       const events = from === 1 ? [{ EventId: 1 }, { EventId: 2 }] : [];
 *       return Promise.resolve({ from, events, full: events.length === 2, attempts: 1, ms: 0 });
 *     },
 *   },
 *   signal: new AbortController().signal,
 *   project: (fetched) => fetched.events.length, // the loop projects with projectPage
 * });
 * const first = await pages.take(1);
 * assert.equal(first.result, 2);
 * assert.deepEqual(asked, [1, 3]); // page 1 was full: page 3 was asked for before it was projected
 * await pages.cancel();
 * ```
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { pageEnd } from "../domain/project.ts";
import { FetchAbortedError, type FetchedPage, type PageSource } from "../source.ts";
import { PageTrace } from "../telemetry/mod.ts";

/** A fetched page and what the loop's projection made of it. */
export interface ProjectedPage<R> {
  /** The page as the source returned it. */
  readonly fetched: FetchedPage;
  /** Its projection onto the checkpoint `fetched.from - 1`. */
  readonly result: R;
  /** Milliseconds the projection took. */
  readonly projectMs: number;
  /** Milliseconds the loop waited for the page once it asked for it. */
  readonly waitMs: number;
  /** The page's span, from its request to its commit (docs/telemetry.md). */
  readonly trace?: PageTrace;
}

/**
 * Event-loop turns given to a new request before the page in hand is projected and
 * (synchronously, for SQLite) written: Deno sends a request only while its event loop turns, and
 * a request still waiting when the write starts leaves after it, so the API's time adds to the
 * worker's instead of overlapping it. Two turns are enough, four keep a margin of two for a
 * slower machine, at microseconds each. Measured 2026-12-02 with `deno run --allow-net
 * scripts/request_turns.ts --tries 50` (a warm connection, then a 30 ms synchronous write):
 * requests sent before the write with 0, 1, 2, 3, 4 turns: 0, 0, 50, 50, 50 of 50. The bench
 * (`deno task bench --events 100000 --store sqlite --skip-limit --skip-naive --skip-nats`, 2
 * against 4 in turn, three rounds) put them within noise: 102k/88k, 116k/139k, 150k/162k events/s.
 */
export const REQUEST_TURNS = 4;

/** Resolve after `turns` turns of the event loop, in which pending I/O is driven. */
export async function turnEventLoop(turns: number): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** What a {@link Prefetcher} needs. */
export interface PrefetcherOptions<R> {
  /** Where pages come from. */
  readonly source: PageSource;
  /** Aborts every fetch on shutdown. */
  readonly signal: AbortSignal;
  /** The projection of a fetched page onto the checkpoint before it (`fetched.from - 1`). */
  readonly project: (fetched: FetchedPage) => R;
}

/** A page being fetched (and then projected), and the one asked for after it. */
class InFlight<R> {
  /** Aborts this fetch alone (a page fetched ahead that is not wanted). */
  readonly controller = new AbortController();
  /** The page and its projection, once both are done. */
  ready!: Promise<Omit<ProjectedPage<R>, "waitMs">>;
  /** Where the next page starts: known once this page has arrived and is full. */
  nextFrom: number | null = null;
  /** The loop holds this page: the next one may be asked for. */
  taken = false;
  /** The following page, once asked for. */
  next: InFlight<R> | null = null;
  /** The page's span: its request runs beneath it. */
  readonly trace: PageTrace;

  /** @param from the `FromEventId` asked for. */
  constructor(readonly from: number) {
    this.trace = new PageTrace(from);
  }

  /** Abort this fetch and the ones after it; resolves once they have settled. */
  async cancel(): Promise<void> {
    this.controller.abort();
    await this.ready.then(() => this.trace.end(), () => {});
    await this.next?.cancel();
  }
}

/**
 * The pages of a feed, fetched at most one ahead of the one the loop holds. Asking for a page
 * other than the one fetched ahead (the checkpoint did not move as expected) cancels that one.
 */
export class Prefetcher<R> {
  readonly #options: PrefetcherOptions<R>;
  /** The page the loop takes next: fetched, or being fetched, while the current one is written. */
  #ahead: InFlight<R> | null = null;
  /** How many times {@link cancel} was called: a take() that waited meanwhile starts nothing. */
  #cancels = 0;

  /** @param options the source, the shutdown signal and the projection. */
  constructor(options: PrefetcherOptions<R>) {
    this.#options = options;
  }

  /**
   * The page at `from` (the checkpoint + 1) and its projection.
   * @throws FetchAbortedError on shutdown, or when {@link cancel} is called meanwhile.
   */
  async take(from: number): Promise<ProjectedPage<R>> {
    const prefetched = this.#ahead?.from === from ? this.#ahead : null;
    if (this.#ahead !== null && prefetched === null) {
      const cancels = this.#cancels;
      await this.#ahead.cancel();
      if (this.#cancels !== cancels) throw new FetchAbortedError(from); // cancel() meanwhile
    }
    const current = prefetched ?? this.#start(from);
    this.#ahead = current; // cancelled by cancel() if shutdown comes first
    current.taken = true;
    this.#askForNext(current);
    const started = performance.now();
    const page = await current.ready;
    if (this.#ahead === current) this.#ahead = current.next; // not when cancelled meanwhile
    return { ...page, waitMs: performance.now() - started };
  }

  /** Cancel what is fetched ahead; resolves once it has settled. */
  async cancel(): Promise<void> {
    this.#cancels++;
    await this.#ahead?.cancel();
    this.#ahead = null;
  }

  /** Start fetching the page at `from`; it is projected once it has arrived. */
  #start(from: number): InFlight<R> {
    const entry = new InFlight<R>(from);
    const signal = AbortSignal.any([this.#options.signal, entry.controller.signal]);
    const fetched = entry.trace.run(() => this.#options.source.fetchPage(from, signal));
    fetched.catch((error) => entry.trace.failed(error));
    entry.ready = fetched.then((page) => this.#arrived(entry, page));
    entry.ready.catch(() => {}); // awaited by the loop, or cancelled
    return entry;
  }

  /**
   * A page has arrived. A full page means more is waiting: the next one is asked for (if the
   * loop already holds this one) before this one is projected, and the event loop turns (as
   * many times as the source's `requestTurns` says) so the request is on the wire while this
   * page is projected and written.
   */
  async #arrived(
    entry: InFlight<R>,
    fetched: FetchedPage,
  ): Promise<Omit<ProjectedPage<R>, "waitMs">> {
    if (fetched.upstream !== undefined) entry.trace.fromStream(fetched.upstream);
    if (fetched.full) {
      const end = pageEnd(entry.from - 1, fetched.events);
      if (end >= entry.from) entry.nextFrom = end + 1;
      this.#askForNext(entry);
      const turns = this.#options.source.requestTurns ?? REQUEST_TURNS;
      if (entry.next !== null && turns > 0) await turnEventLoop(turns);
    }
    const started = performance.now();
    const result = this.#options.project(fetched);
    return { fetched, result, projectMs: performance.now() - started, trace: entry.trace };
  }

  /** Ask for the page after `entry` once both are true: the loop holds it, and it is full. */
  #askForNext(entry: InFlight<R>): void {
    const stopped = entry.controller.signal.aborted || this.#options.signal.aborted;
    if (entry.taken && entry.nextFrom !== null && entry.next === null && !stopped) {
      entry.next = this.#start(entry.nextFrom);
    }
  }
}
