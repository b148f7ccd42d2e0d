/**
 * Network failures of the API client by cause: the metric label and the words for the log.
 * For the client's files alone (the label type is offered by mod.ts).
 *
 * @module
 */

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
 *
 * @example A refused connection, as Deno reports it
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeNetworkError } from "./_network.ts";
 *
 * const refused = new TypeError("fetch failed", {
 *   cause: new Error(
 *     "client error (Connect): tcp connect error: Connection refused (os error 111)",
 *   ),
 * });
 * assert.deepEqual(describeNetworkError(refused), {
 *   outcome: "refused",
 *   problem:
 *     "request failed: connection refused (tcp connect error: Connection refused (os error 111))",
 * });
 * ```
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
