/**
 * The worker loop: read the checkpoint, fetch `checkpoint + 1`, project, write the page in one
 * transaction, repeat. A full page goes straight on; a short or empty page waits the poll
 * interval. Shutdown stops new requests and lets the page in flight commit or roll back.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { FetchAbortedError, type FetchedPage } from "../api/client.ts";
import { type PageResult, projectPage } from "../domain/project.ts";
import { MigrationError, SchemaMissingError, type Store } from "../store/store.ts";
import { backoffDelay, type BackoffPolicy, sleep } from "./backoff.ts";

/** Something that fetches pages: the API client, or a fake in tests. */
export interface PageSource {
  /** Fetch the page starting at `from` (inclusive); throws FetchAbortedError on abort. */
  fetchPage(from: number, signal: AbortSignal): Promise<FetchedPage>;
}

/** What the loop needs. */
export interface LoopOptions {
  /** Where pages are written. */
  readonly store: Store;
  /** Where pages come from. */
  readonly source: PageSource;
  /** The `Limit` asked for: a page this long means more is waiting. */
  readonly limit: number;
  /** Wait after a short or empty page. */
  readonly pollIntervalMs: number;
  /** Stop with "drained" at the first empty page. */
  readonly drain: boolean;
  /** Aborts on shutdown. */
  readonly signal: AbortSignal;
  /** Retry spacing after a store error. */
  readonly backoff: BackoffPolicy;
  /** Where the loop logs. */
  readonly logger: Logger;
  /** Called after each page is written (for metrics and tests). */
  readonly onPage?: (result: PageResult, page: FetchedPage, ms: number) => void;
}

/** How the loop ended, and what it did. */
export interface LoopSummary {
  /** "drained" (caught up with --drain) or "stopped" (signal). */
  readonly reason: "drained" | "stopped";
  /** The checkpoint at the end. */
  readonly checkpoint: number;
  /** Pages written. */
  readonly pages: number;
  /** Valid events applied. */
  readonly applied: number;
  /** Events rejected. */
  readonly rejected: number;
}

/** Errors after which retrying cannot help: the schema is missing or does not match. */
function isFatal(error: unknown): boolean {
  return error instanceof SchemaMissingError || error instanceof MigrationError;
}

/**
 * Run the loop until the signal aborts, or with `drain` until the feed is caught up.
 * Store errors are logged and the page is retried whole from a re-read checkpoint; schema
 * errors end the loop by throwing.
 */
export async function runLoop(options: LoopOptions): Promise<LoopSummary> {
  const { store, source, limit, pollIntervalMs, drain, signal, logger } = options;
  let pages = 0, applied = 0, rejected = 0, failures = 0;
  let checkpoint = await store.readCheckpoint();
  logger.info("Starting at checkpoint {checkpoint}", { checkpoint });

  const summary = (reason: LoopSummary["reason"]): LoopSummary => ({
    reason,
    checkpoint,
    pages,
    applied,
    rejected,
  });

  while (!signal.aborted) {
    let page: FetchedPage;
    try {
      page = await source.fetchPage(checkpoint + 1, signal);
    } catch (error) {
      if (error instanceof FetchAbortedError) break;
      throw error;
    }

    const started = performance.now();
    const result = projectPage(checkpoint, page.events);
    try {
      // Not interrupted by the signal: the page in flight commits or rolls back as a whole.
      if (!result.empty || result.rejections.length > 0) await store.applyPage(result);
      failures = 0;
    } catch (error) {
      if (isFatal(error)) throw error;
      failures++;
      const delayMs = backoffDelay(failures, options.backoff);
      logger.error(
        "Writing page {from}..{to} failed (attempt {attempt}): {error}; retrying in {delayMs} ms",
        { from: result.from, to: result.to, attempt: failures, error: String(error), delayMs },
      );
      if (!await sleep(delayMs, signal)) break;
      try {
        checkpoint = await store.readCheckpoint();
      } catch (readError) {
        if (isFatal(readError)) throw readError;
        // The next apply fails again and is retried with a longer wait.
      }
      continue;
    }
    const ms = performance.now() - started;

    for (const rejection of result.rejections) {
      logger.warn("Rejected event {eventId}: {reason}", {
        eventId: rejection.eventId,
        reason: rejection.reason,
        payload: rejection.payload.slice(0, 500),
      });
    }
    options.onPage?.(result, page, ms);
    rejected += result.rejections.length;

    if (result.empty) {
      if (drain) return summary("drained");
      logger.debug("Caught up at checkpoint {checkpoint}; next poll in {pollIntervalMs} ms", {
        checkpoint,
        pollIntervalMs,
      });
      if (!await sleep(pollIntervalMs, signal)) break;
      continue;
    }

    checkpoint = result.to;
    pages++;
    applied += result.applied;
    logger.info(
      "Page {from}..{to}: {applied} applied, {rejected} rejected, {skipped} skipped, {parcels} parcels written in {ms} ms",
      {
        from: result.from + 1,
        to: result.to,
        applied: result.applied,
        rejected: result.rejections.length,
        skipped: result.skipped,
        parcels: result.changes.length,
        events: page.events.length,
        fetchMs: Math.round(page.ms),
        ms: Math.round(ms),
      },
    );
    if (page.events.length < limit && !drain) {
      if (!await sleep(pollIntervalMs, signal)) break;
    }
  }
  return summary("stopped");
}
