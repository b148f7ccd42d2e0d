/**
 * The JSON shapes of the Scan Event API (docs/rules.md §2) and the check of a response body.
 * Individual events stay `unknown` here: validating them is the domain's job.
 *
 * @module
 */

/** An event as the API documents it (docs/rules.md §2). Real bodies are checked, not trusted. */
export interface WireScanEvent {
  /** Unique, ascending id. */
  EventId: number;
  /** The parcel. */
  ParcelId: number;
  /** `PICKUP`, `STATUS`, `DELIVERY` or a new type. */
  Type: string;
  /** ISO-8601 time with 7 fraction digits and a zone. */
  CreatedDateTimeUtc: string;
  /** Status code, may be empty. */
  StatusCode?: string | number | null;
  /** The scanning device. */
  Device?: { DeviceTransactionId?: number; DeviceId?: number };
  /** The courier. */
  User?: { UserId?: string; CarrierId?: string; RunId?: string | number | null };
}

/** A page body: `{"ScanEvents": [...]}`. */
export interface WirePage {
  /** The events of the page. */
  ScanEvents: WireScanEvent[];
}

/** The result of reading a body: its raw events, or why it is not a page. */
export type BodyCheck =
  | { readonly ok: true; readonly events: readonly unknown[] }
  | { readonly ok: false; readonly problem: string };

/**
 * Check a 200 response body: JSON, an object, with a `ScanEvents` array.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePageBody } from "./wire.ts";
 *
 * assert.deepEqual(parsePageBody('{"ScanEvents": [{"EventId": 1}]}'), {
 *   ok: true,
 *   events: [{ EventId: 1 }],
 * });
 * assert.equal(parsePageBody("[]").ok, false);
 * ```
 */
export function parsePageBody(text: string): BodyCheck {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    const start = text.slice(0, 80).replace(/\s+/g, " ");
    return { ok: false, problem: `body is not JSON (starts ${JSON.stringify(start)})` };
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { ok: false, problem: "body is not a JSON object" };
  }
  const events = (body as Record<string, unknown>).ScanEvents;
  if (!Array.isArray(events)) {
    return {
      ok: false,
      problem: events === undefined ? "body has no ScanEvents" : "ScanEvents is not an array",
    };
  }
  return { ok: true, events };
}
