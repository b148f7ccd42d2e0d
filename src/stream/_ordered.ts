/**
 * The stream as a page source (`run --source nats`): a downstream worker reads the accepted
 * events from JetStream instead of the Scan Event API, page by page from its own checkpoint,
 * and applies them with the same rules, checkpoint and lock into its own database.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import {
  type BodyStages,
  FetchAbortedError,
  type FetchedPage,
  type PageSource,
  type Upstream,
} from "../source.ts";
import { MAX_STORED_TYPE_LENGTH } from "../domain/validate.ts";
import { ConfigError } from "../errors.ts";
import { deletedBetween, errorLine, type NatsLink, seqOfEventId } from "../nats/mod.ts";
import { backoffDelay, type BackoffPolicy, sleep } from "../retry.ts";
import { telemetryOn } from "../telemetry/mod.ts";
import { turnEventLoop } from "../worker/prefetch.ts";
import { parseBodies } from "./_bodies.ts";
import { StreamPull } from "./_pull.ts";

/** What the stream source reports as it goes (health); whoever watches implements it. */
export interface StreamSourceEvents {
  /** A read of the stream ended: "ok" (a page, or none more within the wait), or "stream" (failed). */
  read(outcome: "ok" | "stream"): void;
  /**
   * Reading failed and is tried again after `delayMs` (a failed connection attempt is reported
   * by the `connect` it is given, as `LinkEvents.connectFailed`).
   */
  retry(kind: "stream", delayMs: number): void;
}

/** What the stream source needs. */
export interface StreamSourceOptions {
  /** Connects to the broker (retrying until it does); null when the signal aborts first. */
  readonly connect: (signal: AbortSignal) => Promise<NatsLink | null>;
  /** Events per page at most. */
  readonly limit: number;
  /** How long a page waits for events when the stream has no more (1000 ms). */
  readonly waitMs?: number;
  /** Retry spacing after a failure. */
  readonly backoff: BackoffPolicy;
  /** Where it logs. */
  readonly logger: Logger;
  /**
   * Read each message's `traceparent` header, to link a page's trace to its upstream pages
   * (by default when telemetry is on: parsing every message's headers costs).
   */
  readonly traceparents?: boolean;
  /** Health hooks. */
  readonly events?: StreamSourceEvents;
}

/** Pages' worth of messages asked for ahead of the page being taken. */
const PAGES_AHEAD = 3;

/** The stream, read forward from where the worker's checkpoint says. */
export class StreamSource implements PageSource {
  /**
   * No turns of the event loop for a page asked for: the read starts on the next turn by itself
   * (when {@link fetchPage} reads it), and turns given before the page in hand is written would
   * run it first.
   */
  readonly requestTurns = 0;
  readonly #options: StreamSourceOptions;
  #link: NatsLink | null = null;
  #pull: StreamPull | null = null;
  /** The EventId the pull is positioned at: the next page must start here. */
  #next = -1;
  /** The stream sequence the pull was positioned at, until its first message is checked (0). */
  #startSeq = 0;
  #stream = "";

  /** @param options the broker, the page size, waits and logging. */
  constructor(options: StreamSourceOptions) {
    this.#options = options;
  }

  /**
   * The stream's events from EventId `from` on, at most `limit`; fewer (or none) when the
   * stream has no more within the wait.
   * @throws FetchAbortedError when `signal` aborts; ConfigError when NATS_STREAM names a stream
   * that cannot hold the worker's subjects (not retried).
   */
  async fetchPage(from: number, signal: AbortSignal): Promise<FetchedPage> {
    const started = performance.now();
    for (let attempt = 1;; attempt++) {
      if (signal.aborted) throw new FetchAbortedError(from);
      try {
        const read = await this.#read(from, signal);
        if (read === null) throw new FetchAbortedError(from);
        const { events, upstream, stages } = read;
        this.#options.events?.read("ok");
        return {
          from,
          events,
          upstream,
          full: events.length >= this.#options.limit,
          typeLength: MAX_STORED_TYPE_LENGTH,
          attempts: attempt,
          ms: performance.now() - started,
          stages,
        };
      } catch (error) {
        if (error instanceof FetchAbortedError || signal.aborted) throw new FetchAbortedError(from);
        if (error instanceof ConfigError) throw error;
        await this.#dropPull(); // position again
        const delayMs = backoffDelay(attempt, this.#options.backoff);
        this.#options.events?.read("stream");
        this.#options.events?.retry("stream", delayMs);
        this.#options.logger.warn(
          "Reading the stream from EventId {from} failed (attempt {attempt}): {error}; retrying in {delayMs} ms",
          { from, attempt, error: errorLine(error), delayMs },
        );
        if (!await sleep(delayMs, signal)) throw new FetchAbortedError(from);
      }
    }
  }

  /** Stop reading and disconnect (the page source's `close()`). */
  async close(): Promise<void> {
    await this.#dropPull();
    await this.#link?.close();
    this.#link = null;
  }

  /** The next events, each one's upstream page (its `traceparent` header); null on abort. */
  async #read(
    from: number,
    signal: AbortSignal,
  ): Promise<{ events: unknown[]; upstream: Upstream; stages: BodyStages } | null> {
    const pull = await this.#position(from, signal);
    if (pull === null) return null;
    const { limit, waitMs = 1000 } = this.#options;
    // A page read ahead is mostly in memory already (the pull asks for several pages ahead), so
    // reading it is CPU alone, about 1.3 ms a page of 1000 to take, parse and project. Started
    // from promise callbacks only, all of that would run before what the caller does next: the
    // worker loop asks for the next page and then writes the page in hand, and PostgreSQL's
    // client sends its statement from a `process.nextTick` callback, so the server waited for
    // the next page's parse and projection on every page. Reading on the next turn of the event
    // loop lets the statement leave first; the next page is then read while the server writes
    // (docs/performance.md, "The downstream reader").
    await turnEventLoop(1);
    const taken = await pull.take(limit, waitMs, signal);
    if (taken === null) return null;
    await this.#checkStart(taken.firstSeq);
    const started = performance.now();
    const events = parseBodies(taken);
    for (const event of events) {
      // A late event comes after higher EventIds (docs/rules.md §3.10): the next page still
      // starts after the highest.
      const eventId = (event as { EventId?: unknown } | null)?.EventId;
      if (typeof eventId === "number" && eventId >= this.#next) this.#next = eventId + 1;
    }
    const stages = {
      decodeMs: 0,
      receiveMs: taken.receiveMs,
      parseMs: performance.now() - started,
    };
    const upstream = { stream: this.#stream, traceparents: taken.traceparents };
    return { events, upstream, stages };
  }

  /** The pull positioned at EventId `from`: the current one, or a new one; null on abort. */
  async #position(from: number, signal: AbortSignal): Promise<StreamPull | null> {
    this.#link ??= await this.#options.connect(signal);
    const link = this.#link;
    if (link === null) return null;
    if (this.#pull !== null && this.#next === from) return this.#pull;
    await this.#dropPull();
    const seq = await seqOfEventId(link, from);
    const { state } = await link.jsm.streams.info(link.stream);
    const pull = new StreamPull(link, {
      batch: this.#options.limit,
      ahead: PAGES_AHEAD,
      traceparents: this.#options.traceparents ?? telemetryOn(),
    });
    await pull.start(seq, Math.max(0, state.last_seq - seq + 1));
    this.#pull = pull;
    this.#stream = link.stream;
    this.#next = from;
    this.#startSeq = seq;
    return pull;
  }

  /**
   * A new pull's first message must be at the sequence it was positioned at, or the stream must
   * hold nothing between (deleted messages): otherwise the broker skipped messages, and the
   * messages taken are dropped with the pull (the page is read again from a new position).
   * @throws Error when messages were skipped.
   */
  async #checkStart(first: number): Promise<void> {
    const start = this.#startSeq;
    const link = this.#link;
    if (start === 0 || first === 0 || link === null) return;
    if (first < start || first > start && !await deletedBetween(link, start, first)) {
      throw new Error(
        `the stream reader was positioned at sequence ${start}, and its first message came at ${first}: the broker did not start there`,
      );
    }
    this.#startSeq = 0;
  }

  async #dropPull(): Promise<void> {
    const pull = this.#pull;
    this.#pull = null;
    await pull?.close();
  }
}
