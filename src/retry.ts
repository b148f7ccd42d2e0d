/**
 * Retrying, for every part of the worker that talks to the outside (the API client, the stores,
 * the loop, the relay): exponential backoff with full jitter, `Retry-After`, an interruptible
 * sleep, and a bounded retry of a call that failed for a passing reason. No I/O of its own.
 *
 * @module
 */

/** How retries are spaced. */
export interface BackoffPolicy {
  /** The first retry waits up to this long. */
  readonly baseMs: number;
  /** No wait is longer than this (except an explicit Retry-After, see {@link retryDelay}). */
  readonly capMs: number;
}

/** The longest `Retry-After` honoured; a larger one is clamped to it. */
export const MAX_RETRY_AFTER_MS = 10 * 60_000;

/**
 * The wait before retry number `attempt` (1 = first retry): a uniformly random time between 0
 * and `min(cap, base · 2^(attempt-1))` ("full jitter").
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * // The third retry waits up to 100 · 2² = 400 ms; a random draw of 0.5 gives half of that.
 * strictEqual(backoffDelay(3, { baseMs: 100, capMs: 1000 }, () => 0.5), 200);
 * strictEqual(backoffDelay(9, { baseMs: 100, capMs: 1000 }, () => 0.5), 500);
 * ```
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

/**
 * Parse a `Retry-After` header: delay-seconds or an HTTP date.
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * strictEqual(parseRetryAfter("7", 0), 7000);
 * strictEqual(parseRetryAfter("Thu, 01 Jan 1970 00:00:30 GMT", 10_000), 20_000);
 * strictEqual(parseRetryAfter("soon", 0), null);
 * ```
 * @returns milliseconds to wait (≥ 0, at most {@link MAX_RETRY_AFTER_MS}), or null when absent
 *   or unreadable.
 */
export function parseRetryAfter(header: string | null, nowMs: number): number | null {
  if (header === null) return null;
  const text = header.trim();
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  else {
    const at = Date.parse(text);
    if (Number.isNaN(at)) return null;
    ms = at - nowMs;
  }
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}

/**
 * Wait `ms`, or less if `signal` aborts first.
 * @returns true when the full time passed, false when interrupted.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** How a server store retries a call that failed for a passing reason. */
export const TRANSIENT_RETRY = { attempts: 5, backoff: { baseMs: 100, capMs: 2000 } } as const;

/**
 * Run `work`; when it fails with an error `isTransient` accepts (a deadlock, a dropped
 * connection), wait with backoff and run it again, at most `attempts` times in all.
 * @throws the last error, or the first one that is not transient.
 */
export async function retryTransient<T>(
  work: () => Promise<T>,
  isTransient: (error: unknown) => boolean,
  policy: { attempts: number; backoff: BackoffPolicy } = TRANSIENT_RETRY,
): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= policy.attempts || !isTransient(error)) throw error;
      await sleep(backoffDelay(attempt, policy.backoff));
    }
  }
}
