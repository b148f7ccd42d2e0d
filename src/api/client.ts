/**
 * The Scan Event API client: one page per call, with a per-request timeout, and retries with
 * backoff that never give up while the worker runs (docs/rules.md §2).
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import type { Upstream } from "../telemetry/mod.ts";
import { backoffDelay, type BackoffPolicy, parseRetryAfter, sleep } from "../retry.ts";
import { parsePageBody } from "./wire.ts";

/** How an API request ended, as a metric label. */
export type RequestOutcome =
  | "ok"
  | "http_4xx"
  | "http_429"
  | "http_5xx"
  | "timeout"
  | "dns"
  | "refused"
  | "reset"
  | "tls"
  | "network"
  | "bad_body"
  | "too_large";

/** Network failures by cause: what the runtime's message says, and the label it gets. */
const NETWORK_CAUSES: readonly [RegExp, RequestOutcome, string][] = [
  [/dns error|failed to lookup address|Name or service not known/i, "dns", "DNS lookup failed"],
  [/Connection refused/i, "refused", "connection refused"],
  [
    /connection closed before message completed|Connection reset|broken pipe|error reading a body|unexpected end of file|IncompleteMessage/i,
    "reset",
    "connection reset or closed by the server",
  ],
  [
    /certificate|tls|ssl|handshake|InvalidContentType|corrupt message|UnknownIssuer/i,
    "tls",
    "TLS failed (is the URL's scheme right: https against a plain-HTTP server, or the reverse?)",
  ],
  [/timed out|os error 110/i, "timeout", "connection timed out"],
  [
    /No route to host|Network is unreachable|os error 113|os error 101/i,
    "network",
    "host unreachable",
  ],
];

/**
 * Name the cause of a failed `fetch`: the runtime reports every network failure as "fetch
 * failed", with the reason in its `cause`.
 * @example describeNetworkError(fetchError) // { outcome: "refused", problem: "request failed: connection refused (tcp connect error: Connection refused (os error 111))" }
 */
export function describeNetworkError(error: unknown): { outcome: RequestOutcome; problem: string } {
  const cause = (error as { cause?: unknown })?.cause;
  const full = (cause instanceof Error ? cause.message : "") || String((error as Error)?.message);
  // "error sending request for url (…): client error (Connect): tcp connect error: …" → the reason.
  const detail = full.replace(/^[\s\S]*client error \([^)]*\):\s*/, "");
  for (const [pattern, outcome, what] of NETWORK_CAUSES) {
    if (pattern.test(full)) return { outcome, problem: `request failed: ${what} (${detail})` };
  }
  return { outcome: "network", problem: `request failed: ${detail}` };
}

/** What the client reports as it goes (metrics, health); whoever watches implements it. */
export interface ClientEvents {
  /** An API request ended (each attempt), after `ms`. */
  request(outcome: RequestOutcome, ms: number): void;
  /** A failed API request will be retried. */
  retry(kind: "api"): void;
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
  /** Read from the stream: the stream and each message's upstream page (telemetry). */
  readonly upstream?: Upstream;
}

/** Where a response body's time went, once its bytes had arrived. */
export interface BodyStages {
  /** UTF-8 bytes to text. */
  readonly decodeMs: number;
  /** Text to JSON, and the check that it is a page. */
  readonly parseMs: number;
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

/** Raised by {@link ScanApiClient.fetchPage} when its signal aborts (shutdown). */
export class FetchAbortedError extends Error {
  /** @param from the page that was being fetched. */
  constructor(from: number) {
    super(`fetch of FromEventId=${from} interrupted by shutdown`);
    this.name = "FetchAbortedError";
  }
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

/** Statuses worth retrying soon: timeouts, throttling, server errors. */
function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** The HTTP client of the Scan Event API. */
export class ScanApiClient {
  readonly #options: ClientOptions;

  /** @param options URL, limit, token, timeout, backoff, logger. */
  constructor(options: ClientOptions) {
    this.#options = options;
  }

  /**
   * The request URL for a page.
   * @example new ScanApiClient({ url: "http://h/v1/scans/scanevents", limit: 100, … }).pageUrl(5)
   * // "http://h/v1/scans/scanevents?FromEventId=5&Limit=100"
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
      this.#options.events?.retry("api");
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
        const retryAfter = parseRetryAfter(response.headers.get("retry-after"), Date.now());
        const detail = text.slice(0, 120).replace(/\s+/g, " ").trim();
        const problem = `HTTP ${response.status}${detail ? ` (${detail})` : ""}`;
        const outcome = response.status === 429
          ? "http_429"
          : response.status >= 500
          ? "http_5xx"
          : "http_4xx";
        return fail(
          outcome,
          problem,
          response.status,
          retryAfter,
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
