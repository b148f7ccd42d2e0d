/**
 * The loop's write step: a projected page into the store in one transaction, inside the page's
 * span, then told to the metrics, the progress lines and the late-event watch; a failed write
 * counted, logged, and given the backoff before its retry. Fatal store errors are thrown.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { type PageResult, writesNothing } from "../domain/project.ts";
import { backoffDelay, type BackoffPolicy } from "../retry.ts";
import { PageTrace } from "../telemetry/mod.ts";
import { type FeedStore, isFatalStoreError, type PageWrite } from "../store/store.ts";
import type { LoopEvents } from "./events.ts";
import type { LateWatch } from "./late.ts";
import type { ProjectedPage } from "./prefetch.ts";
import type { Progress } from "./progress.ts";

/** The span of a page that came without one (a test's page): never recorded. */
const NO_TRACE = PageTrace.none();

/** What the write step needs. */
export interface PageWriterOptions {
  /** Where pages are written. */
  readonly store: FeedStore;
  /** Retry spacing after a failed write. */
  readonly backoff: BackoffPolicy;
  /** Where failures are logged. */
  readonly logger: Logger;
  /** Metrics and health hooks. */
  readonly events?: LoopEvents;
  /** The progress lines. */
  readonly progress: Progress;
  /** The late-event watch, told of each commit (null when late events are off). */
  readonly late: LateWatch | null;
}

/** Writes the loop's pages, and counts the failures in a row. */
export class PageWriter {
  readonly #options: PageWriterOptions;
  /** Failed writes in a row. */
  #failures = 0;
  #retryInMs = 0;

  /** @param options the store, the backoff and who is told of each write. */
  constructor(options: PageWriterOptions) {
    this.#options = options;
  }

  /** How long to wait before trying again after the last failed write. */
  get retryInMs(): number {
    return this.#retryInMs;
  }

  /**
   * Write a page (shutdown does not cut it short: it commits or rolls back whole); what it
   * stored, or null when it failed and is to be tried again after {@link retryInMs}.
   */
  async write(page: ProjectedPage<PageResult>): Promise<PageWrite | null> {
    const { store, events, progress } = this.#options;
    const { result, trace = NO_TRACE } = page;
    const started = performance.now();
    let write: PageWrite = { rejected: [], outboxed: 0 };
    try {
      if (!writesNothing(result)) write = await trace.write(() => store.applyPage(result));
    } catch (error) {
      trace.failed(error);
      if (isFatalStoreError(error)) throw error;
      this.#failed(result, error);
      return null;
    }
    this.#failures = 0;
    this.#options.late?.committed(result, write);
    const writeMs = performance.now() - started;
    trace.run(() => { // its log lines belong to the page's trace
      events?.pageWritten(result, write, page.projectMs + writeMs);
      progress.written(page, write, writeMs);
    });
    trace.applied({
      fromEventId: result.from + 1,
      toEventId: result.to,
      events: page.fetched.events.length,
      accepted: result.events.length,
      rejected: result.rejections.length,
    });
    return write;
  }

  /** A write failed: count it, and say when it is tried again. */
  #failed(result: PageResult, error: unknown): void {
    const { events, logger, backoff } = this.#options;
    events?.writeFailed(error);
    events?.retry("store");
    this.#failures++;
    this.#retryInMs = backoffDelay(this.#failures, backoff);
    logger.error(
      "Writing page {from}..{to} failed (attempt {attempt}): {error}; retrying in {delayMs} ms",
      {
        from: result.from + 1,
        to: result.to,
        attempt: this.#failures,
        error: String(error),
        delayMs: this.#retryInMs,
      },
    );
  }
}
