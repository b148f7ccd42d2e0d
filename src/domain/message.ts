/**
 * The downstream message of an accepted event (docs/rules.md §7): its subject, its body (and the
 * raw event a body reads back as), and the message id that makes publishing it idempotent. Pure,
 * no I/O.
 *
 * @module
 */

import type { ScanEvent } from "./validate.ts";

/** The subjects of every message, as a stream subject filter. */
export const SUBJECTS = "scan.v1.events.>";

/** The subject prefix; the full subject adds the type token and the parcel. */
const PREFIX = "scan.v1.events";

/**
 * A Type as a subject token: every character outside `A–Z 0–9 _ -` becomes `_` (a stored Type
 * is upper case, so only other characters are replaced: `.`, `*`, `>` and spaces would break
 * the subject).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(typeToken("CUSTOMS HOLD"), "CUSTOMS_HOLD");
 * assert.equal(typeToken("A.B>*"), "A_B__");
 * ```
 */
export function typeToken(type: string): string {
  return type.replace(/[^A-Z0-9_-]/g, "_");
}

/**
 * The subject of an event: `scan.v1.events.<TypeToken>.<ParcelId>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(subjectOf({ type: "PICKUP", parcelId: 5002 }), "scan.v1.events.PICKUP.5002");
 * ```
 */
export function subjectOf(event: Pick<ScanEvent, "type" | "parcelId">): string {
  return `${PREFIX}.${typeToken(event.type)}.${event.parcelId}`;
}

/**
 * The subject filter for a type and a parcel, either left open.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(subjectFilter("pickup", null), "scan.v1.events.PICKUP.*");
 * assert.equal(subjectFilter(null, 7), "scan.v1.events.*.7");
 * ```
 */
export function subjectFilter(type: string | null, parcelId: number | null): string {
  const token = type === null ? "*" : typeToken(type.trim().toUpperCase());
  return `${PREFIX}.${token}.${parcelId === null ? "*" : parcelId}`;
}

/** The body of a message: the event as stored, normalised (rules §3.4–3.6). */
export interface EventBody {
  readonly EventId: number;
  readonly ParcelId: number;
  readonly Type: string;
  readonly CreatedDateTimeUtc: string;
  readonly StatusCode: string;
  readonly RunId: string | null;
}

/**
 * The body of an event's message, as JSON with its keys in this order ({@link rawEventOf} reads
 * it back).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const body = bodyOf({
 *   eventId: 1,
 *   parcelId: 7,
 *   type: "PICKUP",
 *   createdDateTimeUtc: "2021-05-11T21:11:34.1506147Z",
 *   statusCode: "",
 *   runId: "100",
 * });
 * assert.equal(
 *   body,
 *   '{"EventId":1,"ParcelId":7,"Type":"PICKUP","CreatedDateTimeUtc":"2021-05-11T21:11:34.1506147Z","StatusCode":"","RunId":"100"}',
 * );
 * ```
 */
export function bodyOf(event: ScanEvent): string {
  const body: EventBody = {
    EventId: event.eventId,
    ParcelId: event.parcelId,
    Type: event.type,
    CreatedDateTimeUtc: event.createdDateTimeUtc,
    StatusCode: event.statusCode,
    RunId: event.runId,
  };
  return JSON.stringify(body);
}

/**
 * A message's body as the raw event the API would have sent: its RunId back under `User`, so
 * that validating it gives the event {@link bodyOf} was made from (a downstream worker reads
 * the stream with the same rules as the API).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const body = JSON.parse('{"EventId":1,"ParcelId":7,"Type":"PICKUP","CreatedDateTimeUtc":"2021-05-11T21:11:34.1506147Z","StatusCode":"","RunId":"100"}');
 * assert.deepEqual(rawEventOf(body), {
 *   EventId: 1,
 *   ParcelId: 7,
 *   Type: "PICKUP",
 *   CreatedDateTimeUtc: "2021-05-11T21:11:34.1506147Z",
 *   StatusCode: "",
 *   User: { RunId: "100" },
 * });
 * ```
 */
export function rawEventOf(body: EventBody): Record<string, unknown> {
  if (hasBodyKeys(body)) {
    // The same object as below, built as one literal: a rest and a spread per message cost
    // half of a downstream page's parse (docs/performance.md).
    return {
      EventId: body.EventId,
      ParcelId: body.ParcelId,
      Type: body.Type,
      CreatedDateTimeUtc: body.CreatedDateTimeUtc,
      StatusCode: body.StatusCode,
      User: { RunId: body.RunId },
    };
  }
  const { RunId, ...rest } = body;
  return { ...rest, User: { RunId } };
}

/** The keys of a body as {@link bodyOf} writes them, in its order. */
const BODY_KEYS = ["EventId", "ParcelId", "Type", "CreatedDateTimeUtc", "StatusCode", "RunId"];

/** Whether `body` has exactly {@link BODY_KEYS}, in that order. */
function hasBodyKeys(body: object): boolean {
  let i = 0;
  for (const key in body) if (key !== BODY_KEYS[i++]) return false;
  return i === BODY_KEYS.length;
}

/**
 * A message's body text as the raw event the validation reads ({@link rawEventOf} of the parsed
 * object); a body that is not a JSON object is passed on as its text, to be rejected.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(rawEventOfText('{"EventId":1,"RunId":null}'), { EventId: 1, User: { RunId: null } });
 * assert.equal(rawEventOfText("[1]"), "[1]");
 * assert.equal(rawEventOfText("not json"), "not json");
 * ```
 */
export function rawEventOfText(text: string): unknown {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return text;
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) return text;
  return rawEventOf(body as EventBody);
}

/**
 * Whether the stream subject filter `filter` matches every subject `subjects` matches (`*` one
 * token, `>` one or more at the end): a stream holding `filter` holds every message of
 * `subjects`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(filterCovers("scan.v1.events.>", "scan.v1.events.>"), true);
 * assert.equal(filterCovers("scan.>", "scan.v1.events.>"), true);
 * assert.equal(filterCovers("scan.v1.events.*", "scan.v1.events.>"), false);
 * assert.equal(filterCovers("orders.>", "scan.v1.events.>"), false);
 * ```
 */
export function filterCovers(filter: string, subjects: string): boolean {
  const wide = filter.split(".");
  const narrow = subjects.split(".");
  for (let i = 0;; i++) {
    const a = wide[i];
    const b = narrow[i];
    if (a === undefined || b === undefined) return a === b;
    if (a === ">") return true;
    if (b === ">" || (a !== "*" && a !== b)) return false;
  }
}

/**
 * The message id of an event: the broker drops a second message with the same id within its
 * duplicate window.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(messageId(83269), "scan-event-83269");
 * ```
 */
export function messageId(eventId: number): string {
  return `scan-event-${eventId}`;
}

/**
 * The EventId a message id names, or null when it is not one of ours.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(eventIdOf("scan-event-83269"), 83269);
 * assert.equal(eventIdOf("order-12"), null);
 * ```
 */
export function eventIdOf(id: string | null | undefined): number | null {
  const match = /^scan-event-([1-9]\d{0,15})$/.exec(id ?? "");
  const eventId = match ? Number(match[1]) : Number.NaN;
  return Number.isSafeInteger(eventId) ? eventId : null;
}

/**
 * The header that carries the W3C trace context of the page that committed a message's event
 * (its `scan.page` span), when the upstream worker exports OpenTelemetry.
 */
export const TRACEPARENT_HEADER = "traceparent";

/** One accepted event as it waits in the outbox: what the relay publishes. */
export interface OutboxRow {
  /** The event (the outbox's key, and the order of publishing). */
  readonly eventId: number;
  /** Its subject. */
  readonly subject: string;
  /** Its body, JSON. */
  readonly body: string;
  /** The W3C traceparent of the page that committed it (null when telemetry was off). */
  readonly traceparent?: string | null;
}

/**
 * The outbox rows of a page's accepted events.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const [row] = outboxRows([{
 *   eventId: 3,
 *   parcelId: 9,
 *   type: "DELIVERY",
 *   createdDateTimeUtc: "2021-05-11T10:00:00.0000000Z",
 *   statusCode: "",
 *   runId: null,
 * }]);
 * assert.equal(row?.eventId, 3);
 * assert.equal(row?.subject, "scan.v1.events.DELIVERY.9");
 * ```
 */
export function outboxRows(events: readonly ScanEvent[]): OutboxRow[] {
  return events.map((event) => ({
    eventId: event.eventId,
    subject: subjectOf(event),
    body: bodyOf(event),
  }));
}
