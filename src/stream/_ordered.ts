/**
 * The stream as a page source (`run --source nats`): a downstream worker reads the accepted
 * events from JetStream instead of the Scan Event API, page by page from its own checkpoint,
 * and applies them with the same rules, checkpoint and lock into its own database.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import type { Consumer } from "@nats-io/jetstream";
import { FetchAbortedError, type FetchedPage, type PageSource } from "../source.ts";
import { type EventBody, rawEventOf } from "../domain/message.ts";
import { MAX_STORED_TYPE_LENGTH } from "../domain/validate.ts";
import { ConfigError } from "../errors.ts";
import { errorLine, type NatsLink, seqOfEventId } from "../nats/mod.ts";
import { backoffDelay, type BackoffPolicy, sleep } from "../retry.ts";

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
}

/** The stream, read forward from where the worker's checkpoint says. */
export class StreamSource implements PageSource {
  readonly #options: StreamSourceOptions;
  #link: NatsLink | null = null;
  #consumer: Consumer | null = null;
  /** The EventId the consumer is positioned at: the next page must start here. */
  #next = -1;

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
        const events = await this.#read(from, signal);
        if (events === null) throw new FetchAbortedError(from);
        return {
          from,
          events,
          full: events.length >= this.#options.limit,
          typeLength: MAX_STORED_TYPE_LENGTH,
          attempts: attempt,
          ms: performance.now() - started,
        };
      } catch (error) {
        if (error instanceof FetchAbortedError || signal.aborted) throw new FetchAbortedError(from);
        if (error instanceof ConfigError) throw error;
        this.#consumer = null; // position again
        const delayMs = backoffDelay(attempt, this.#options.backoff);
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
    this.#consumer = null;
    await this.#link?.close();
    this.#link = null;
  }

  async #read(from: number, signal: AbortSignal): Promise<unknown[] | null> {
    this.#link ??= await this.#options.connect(signal);
    const link = this.#link;
    if (link === null) return null;
    if (this.#consumer === null || this.#next !== from) {
      const seq = await seqOfEventId(link, from);
      this.#consumer = await link.js.consumers.get(link.stream, { opt_start_seq: seq });
      this.#next = from;
    }
    const events: unknown[] = [];
    const messages = await this.#consumer.fetch({
      max_messages: this.#options.limit,
      expires: this.#options.waitMs ?? 1000,
    });
    for await (const message of messages) {
      const body = message.json<EventBody>();
      events.push(rawEventOf(body));
      this.#next = body.EventId + 1;
      if (message.info.pending === 0) break; // the stream's end: do not wait for more
    }
    return events;
  }
}
