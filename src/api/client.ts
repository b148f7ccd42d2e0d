/**
 * The Scan Event API client: one page per call, with a per-request timeout, and retries with
 * backoff that never give up while the worker runs (docs/rules.md §2).
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { backoffDelay, type BackoffPolicy, parseRetryAfter, sleep } from "../retry.ts";
import {
  type BodyStages,
  FetchAbortedError,
  type FetchedPage,
  type PageSource,
} from "../source.ts";
import { describeNetworkError, type RequestOutcome } from "./_network.ts";
import { parsePageBody } from "./wire.ts";

/** What the client reports as it goes (metrics, health); whoever watches implements it. */
export interface ClientEvents {
  /** An API request ended (each attempt), after `ms`. */
  request(outcome: RequestOutcome, ms: number): void;
  /** A failed API request will be retried, after `delayMs`. */
  retry(kind: "api", delayMs: number): void;
}

/** Settings of a {@link ScanApiClient}. */
export interface ClientOptions {
  /** The feed endpoint, without query. */
  readonly url: string;
  /** Events asked for per page (`Limit`). */
  readonly limit: number;
  /** Bearer token, or null. */
  readonly token: string | null;
  /** Per-request timeout, body included. */
  readonly timeoutMs: number;
  /** A larger response body is refused (and the request retried). */
  readonly maxBodyBytes: number;
  /** Retry spacing. */
  readonly backoff: BackoffPolicy;
  /** Where failures are logged. */
  readonly logger: Logger;
  /** Give up after this many failed attempts (FetchFailedError); unset: never give up. */
  readonly attempts?: number;
  /** Called after each failed attempt (for tests). */
  readonly onRetry?: (failure: AttemptFailure) => void;
  /** Metrics and health hooks. */
  readonly events?: ClientEvents;
}

/** Why one attempt failed, and how to wait before the next. */
export interface AttemptFailure {
  /** The `FromEventId` asked for. */
  readonly from: number;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** HTTP status, or null when no response came. */
  readonly status: number | null;
  /** What went wrong, for the log. */
  readonly problem: string;
  /** A wait the server asked for (Retry-After), in ms. */
  readonly retryAfterMs: number | null;
  /** True for errors that retrying soon will not fix (e.g. 404): wait the full cap. */
  readonly permanent: boolean;
  /** The kind of failure, as a metric label. */
  readonly outcome: RequestOutcome;
}

/** Raised by a client with a bounded number of attempts when the last one failed. */
export class FetchFailedError extends Error {
  /** The last attempt's failure. */
  readonly failure: AttemptFailure;

  /** @param failure the last attempt's failure. */
  constructor(failure: AttemptFailure) {
    super(`Scan API request failed (FromEventId=${failure.from}): ${failure.problem}`);
    this.name = "FetchFailedError";
    this.failure = failure;
  }
}

/** Raised while reading a body that is larger than allowed. */
class BodyTooLargeError extends Error {}

/**
 * Read a response body as text, refusing it once it passes `maxBytes` (by its Content-Length,
 * or while streaming when there is none). A UTF-8 byte order mark is dropped.
 */
async function readBody(
  response: Response,
  maxBytes: number,
): Promise<{ text: string; decodeMs: number }> {
  const declared = Number(response.headers.get("content-length") ?? "NaN");
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw new BodyTooLargeError(
      `response body of ${declared} bytes is above the limit of ${maxBytes}`,
    );
  }
  if (response.body === null) return { text: "", decodeMs: 0 };
  // A declared length within the limit: one native read (the usual case, and the fast one).
  if (Number.isFinite(declared)) return decode(new Uint8Array(await response.arrayBuffer()));
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > maxBytes) {
      await reader.cancel();
      throw new BodyTooLargeError(`response body is above the limit of ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return decode(bytes);
}

/** UTF-8 to text (a byte order mark dropped), and how long it took. */
function decode(bytes: Uint8Array): { text: string; decodeMs: number } {
  const started = performance.now();
  const text = new TextDecoder().decode(bytes);
  return { text, decodeMs: performance.now() - started };
}

/** A response that is not 2xx: its metric label, the words for the log, the wait it asks for. */
function statusFailure(
  response: Response,
  text: string,
): { outcome: RequestOutcome; problem: string; retryAfterMs: number | null } {
  const { status } = response;
  const detail = text.slice(0, 120).replace(/\s+/g, " ").trim();
  return {
    outcome: status === 429 ? "http_429" : status >= 500 ? "http_5xx" : "http_4xx",
    problem: `HTTP ${status}${detail ? ` (${detail})` : ""}`,
    retryAfterMs: parseRetryAfter(response.headers.get("retry-after"), Date.now()),
  };
}

/** Statuses worth retrying soon: timeouts, throttling, server errors. */
function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** The HTTP client of the Scan Event API. */
export class ScanApiClient implements PageSource {
  readonly #options: ClientOptions;

  /** @param options URL, limit, token, timeout, backoff, logger. */
  constructor(options: ClientOptions) {
    this.#options = options;
  }

  /**
   * The request URL for a page.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { getLogger } from "@logtape/logtape";
   * import { ScanApiClient } from "./client.ts";
   *
   * const client = new ScanApiClient({
   *   url: "http://scan-api.internal/v1/scans/scanevents",
   *   limit: 100,
   *   token: null,
   *   timeoutMs: 15_000,
   *   maxBodyBytes: 64 * 1024 * 1024,
   *   backoff: { baseMs: 500, capMs: 30_000 },
   *   logger: getLogger(["api"]),
   * });
   * assert.equal(
   *   client.pageUrl(5),
   *   "http://scan-api.internal/v1/scans/scanevents?FromEventId=5&Limit=100",
   * );
   * ```
   */
  pageUrl(from: number): string {
    const url = new URL(this.#options.url);
    url.searchParams.set("FromEventId", String(from));
    url.searchParams.set("Limit", String(this.#options.limit));
    return url.href;
  }

  /**
   * Fetch the page starting at `from` (inclusive), retrying until it succeeds (or, with
   * `attempts`, until that many have failed).
   * @throws FetchAbortedError when `signal` aborts; FetchFailedError after `attempts` failures.
   */
  async fetchPage(from: number, signal: AbortSignal): Promise<FetchedPage> {
    const started = performance.now();
    for (let attempt = 1;; attempt++) {
      if (signal.aborted) throw new FetchAbortedError(from);
      const outcome = await this.#attempt(from, attempt, signal);
      if ("events" in outcome) {
        const { events, stages } = outcome;
        const { limit, logger } = this.#options;
        if (events.length > limit) {
          logger.warn(
            "Page from {from} has {events} events, more than Limit={limit}; processing all",
            { from, events: events.length, limit },
          );
        }
        return {
          from,
          events,
          full: events.length >= limit,
          attempts: attempt,
          ms: performance.now() - started,
          stages,
        };
      }
      if (signal.aborted) throw new FetchAbortedError(from);
      if (attempt >= (this.#options.attempts ?? Infinity)) throw new FetchFailedError(outcome);
      const { backoff, logger } = this.#options;
      const delayMs = outcome.retryAfterMs ??
        (outcome.permanent ? backoff.capMs : backoffDelay(attempt, backoff));
      const fields = {
        from,
        attempt,
        status: outcome.status,
        problem: outcome.problem,
        delayMs,
      };
      if (outcome.permanent) {
        logger.error(
          "Scan API request failed (FromEventId={from}, attempt {attempt}): {problem}; retrying in {delayMs} ms",
          fields,
        );
      } else {
        logger.warn(
          "Scan API request failed (FromEventId={from}, attempt {attempt}): {problem}; retrying in {delayMs} ms",
          fields,
        );
      }
      this.#options.onRetry?.(outcome);
      this.#options.events?.retry("api", delayMs);
      if (!await sleep(delayMs, signal)) throw new FetchAbortedError(from);
    }
  }

  /** One request: the page's events, or why it failed. */
  async #attempt(
    from: number,
    attempt: number,
    signal: AbortSignal,
  ): Promise<{ events: readonly unknown[]; stages: BodyStages } | AttemptFailure> {
    const started = performance.now();
    const result = await this.#request(from, attempt, signal);
    // A request cancelled by the worker (shutdown, or a page fetched ahead that is not wanted)
    // says nothing about the API: it is not counted.
    if (!signal.aborted) {
      this.#options.events?.request(
        "events" in result ? "ok" : result.outcome,
        performance.now() - started,
      );
    }
    return result;
  }

  async #request(
    from: number,
    attempt: number,
    signal: AbortSignal,
  ): Promise<{ events: readonly unknown[]; stages: BodyStages } | AttemptFailure> {
    const { token, timeoutMs } = this.#options;
    const fail = (
      outcome: RequestOutcome,
      problem: string,
      status: number | null = null,
      retryAfterMs: number | null = null,
      permanent = false,
    ): AttemptFailure => ({ from, attempt, status, problem, retryAfterMs, permanent, outcome });

    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), timeoutMs);
    const onAbort = () => timeout.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      const headers: Record<string, string> = { accept: "application/json" };
      if (token !== null) headers.authorization = `Bearer ${token}`;
      const response = await fetch(this.pageUrl(from), { headers, signal: timeout.signal });
      const { text, decodeMs } = await readBody(response, this.#options.maxBodyBytes);
      if (!response.ok) {
        const { outcome, problem, retryAfterMs } = statusFailure(response, text);
        return fail(
          outcome,
          problem,
          response.status,
          retryAfterMs,
          !isTransientStatus(response.status),
        );
      }
      const parsing = performance.now();
      const body = parsePageBody(text);
      if (!body.ok) return fail("bad_body", body.problem, response.status);
      return { events: body.events, stages: { decodeMs, parseMs: performance.now() - parsing } };
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        return fail(
          "too_large",
          `${error.message} (SCAN_API_MAX_BODY_BYTES); ask for fewer events with SCAN_API_LIMIT`,
        );
      }
      if (timeout.signal.aborted && !signal.aborted) {
        return fail("timeout", `no complete response within ${timeoutMs} ms`);
      }
      const { outcome, problem } = describeNetworkError(error);
      return fail(outcome, problem);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    }
  }
}
