/**
 * Validation of one raw feed event (docs/rules.md §3.2–3.4): a raw JSON value becomes either a valid
 * {@link ScanEvent} or a {@link Rejection} with a precise reason. Pure, no I/O.
 *
 * @module
 */

import { normaliseTimestamp } from "./timestamps.ts";

/** A scan event that passed validation, with its fields normalised as the stores keep them. */
export interface ScanEvent {
  /** Unique, increasing id of the event in the feed (1..2^53-1). */
  readonly eventId: number;
  /** The parcel the event belongs to (1..2^53-1). */
  readonly parcelId: number;
  /** The event type, trimmed and upper-cased (docs/rules.md §3.4), e.g. `PICKUP`. */
  readonly type: string;
  /** The status code as text; `""` when absent or null (docs/rules.md §3.6). */
  readonly statusCode: string;
  /** `User.RunId` as text (numbers in decimal); null when absent (docs/rules.md §3.6). */
  readonly runId: string | null;
  /** `CreatedDateTimeUtc` normalised to UTC with seven fraction digits (docs/rules.md §3.5). */
  readonly createdDateTimeUtc: string;
}

/** An event that failed validation, kept with its reason and raw JSON (docs/rules.md §3.3). */
export interface Rejection {
  /** The event's EventId when it has a usable one, else null. */
  readonly eventId: number | null;
  /** Why the event was rejected, naming the field. */
  readonly reason: string;
  /** The event as JSON text. */
  readonly payload: string;
}

/** The outcome of validating one raw event. */
export type Validation =
  | { readonly ok: true; readonly event: ScanEvent }
  | { readonly ok: false; readonly rejection: Rejection };

/** Longest `Type` after trimming (docs/rules.md §3.2). */
export const MAX_TYPE_LENGTH = 50;
/**
 * Longest `Type` as stored: trimmed to at most {@link MAX_TYPE_LENGTH} characters, then
 * upper-cased, which turns a UTF-16 code unit into at most three (`ﬃ` → `FFI`, `ΐ` → `Ϊ́`; a
 * test checks every code point). Stores with a sized column size it for this.
 */
export const MAX_STORED_TYPE_LENGTH = 3 * MAX_TYPE_LENGTH;
/** Longest `StatusCode` (docs/rules.md §3.2). */
export const MAX_STATUS_CODE_LENGTH = 100;
/** Longest `User.RunId` (docs/rules.md §3.2). */
export const MAX_RUN_ID_LENGTH = 50;

/**
 * Whether a JSON value is an id the feed may carry: an integer JSON number in 1..2^53-1.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isValidId } from "./validate.ts";
 * assert.equal(isValidId(83269), true);
 * assert.equal(isValidId("83269"), false);
 * assert.equal(isValidId(2 ** 53), false);
 * ```
 */
export function isValidId(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 1;
}

/**
 * Write a finite number in plain decimal notation, never in exponent form.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toDecimalText } from "./validate.ts";
 * assert.equal(toDecimalText(1e21), "1000000000000000000000");
 * assert.equal(toDecimalText(1.5e-7), "0.00000015");
 * ```
 */
export function toDecimalText(value: number): string {
  const text = String(value);
  const match = /^(-?)(\d+)(?:\.(\d+))?e([+-]\d+)$/.exec(text);
  if (match === null) return text;
  const [, sign = "", whole = "", fraction = "", exponentText = "0"] = match;
  const digits = whole + fraction;
  const point = whole.length + Number(exponentText);
  if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
  if (point >= digits.length) return sign + digits + "0".repeat(point - digits.length);
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** A string-or-number field as text, or a reason why it cannot be one. */
function textField(
  value: unknown,
  name: string,
  maxLength: number,
): { text: string } | { reason: string } {
  let text: string;
  if (typeof value === "string") text = value;
  else if (typeof value === "number" && Number.isFinite(value)) text = toDecimalText(value);
  else return { reason: `${name} must be a string or a number, got ${jsonKind(value)}` };
  if (text.length > maxLength) {
    return { reason: `${name} is longer than ${maxLength} characters (${text.length})` };
  }
  return { text };
}

/** What kind of JSON value this is, for rejection reasons ("null", "an array", "the number 5"). */
function jsonKind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (typeof value === "string") return `a string`;
  if (typeof value === "number") return `the number ${value}`;
  return `a ${typeof value}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function idReason(value: unknown, name: string): string {
  if (value === undefined) return `${name} is missing`;
  if (typeof value === "number" && Number.isInteger(value)) {
    return `${name} ${value} is outside 1..2^53-1`;
  }
  return `${name} must be an integer JSON number, got ${jsonKind(value)}`;
}

/** Rule 2's CreatedDateTimeUtc: present, a string, an ISO-8601 date-time; normalised (rule 5). */
function createdField(created: unknown): { text: string } | { reason: string } {
  if (created === undefined) return { reason: "CreatedDateTimeUtc is missing" };
  if (typeof created !== "string") {
    return { reason: `CreatedDateTimeUtc must be a string, got ${jsonKind(created)}` };
  }
  const text = normaliseTimestamp(created);
  if (text !== null) return { text };
  const shown = JSON.stringify(created.slice(0, 60));
  return { reason: `CreatedDateTimeUtc ${shown} is not an ISO-8601 date-time` };
}

/**
 * Validate one raw event of a page (docs/rules.md §3.2) and normalise its fields (§3.4–3.6).
 *
 * Reasons name the first failing field, in the order EventId, ParcelId, Type,
 * CreatedDateTimeUtc, StatusCode, User.RunId. Unknown extra fields are ignored.
 *
 * `typeLength` is the longest Type accepted: 50, or, for events already stored and upper-cased
 * by a scan-worker upstream (a downstream worker's), {@link MAX_STORED_TYPE_LENGTH}.
 *
 * One function of a little over 60 lines on purpose: one check per field, top to bottom in the
 * order the reasons name them, so the order can be read off the code.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateEvent } from "./validate.ts";
 * const raw = { EventId: 1, ParcelId: 7, Type: " pickup ", CreatedDateTimeUtc: "2021-05-11T21:11:34Z" };
 * assert.deepEqual(validateEvent(raw), {
 *   ok: true,
 *   event: {
 *     eventId: 1,
 *     parcelId: 7,
 *     type: "PICKUP",
 *     statusCode: "",
 *     runId: null,
 *     createdDateTimeUtc: "2021-05-11T21:11:34.0000000Z",
 *   },
 * });
 * ```
 */
export function validateEvent(raw: unknown, typeLength: number = MAX_TYPE_LENGTH): Validation {
  const reject = (eventId: number | null, reason: string): Validation => ({
    ok: false,
    rejection: { eventId, reason, payload: JSON.stringify(raw) ?? "null" },
  });
  if (!isRecord(raw)) return reject(null, `event must be a JSON object, got ${jsonKind(raw)}`);

  const eventId = raw.EventId;
  if (!isValidId(eventId)) return reject(null, idReason(eventId, "EventId"));
  const parcelId = raw.ParcelId;
  if (!isValidId(parcelId)) return reject(eventId, idReason(parcelId, "ParcelId"));

  const rawType = raw.Type;
  if (rawType === undefined) return reject(eventId, "Type is missing");
  if (typeof rawType !== "string") {
    return reject(eventId, `Type must be a string, got ${jsonKind(rawType)}`);
  }
  const type = rawType.trim();
  if (type.length === 0) return reject(eventId, "Type is empty");
  if (type.length > typeLength) {
    return reject(eventId, `Type is longer than ${typeLength} characters (${type.length})`);
  }

  const created = createdField(raw.CreatedDateTimeUtc);
  if ("reason" in created) return reject(eventId, created.reason);
  const createdDateTimeUtc = created.text;

  let statusCode = "";
  if (raw.StatusCode !== undefined && raw.StatusCode !== null) {
    const field = textField(raw.StatusCode, "StatusCode", MAX_STATUS_CODE_LENGTH);
    if ("reason" in field) return reject(eventId, field.reason);
    statusCode = field.text;
  }

  let runId: string | null = null;
  const user = raw.User;
  if (isRecord(user) && user.RunId !== undefined && user.RunId !== null) {
    const field = textField(user.RunId, "User.RunId", MAX_RUN_ID_LENGTH);
    if ("reason" in field) return reject(eventId, field.reason);
    runId = field.text;
  }

  return {
    ok: true,
    event: {
      eventId,
      parcelId,
      type: type.toUpperCase(),
      statusCode,
      runId,
      createdDateTimeUtc,
    },
  };
}
