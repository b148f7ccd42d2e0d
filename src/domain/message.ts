/**
 * The downstream message of an accepted event (docs/rules.md §7): its subject, its body, and the
 * message id that makes publishing it idempotent. Pure, no I/O.
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
 * @example typeToken("CUSTOMS HOLD") // "CUSTOMS_HOLD"
 */
export function typeToken(type: string): string {
  return type.replace(/[^A-Z0-9_-]/g, "_");
}

/**
 * The subject of an event: `scan.v1.events.<TypeToken>.<ParcelId>`.
 * @example subjectOf({ type: "PICKUP", parcelId: 5002, … }) // "scan.v1.events.PICKUP.5002"
 */
export function subjectOf(event: Pick<ScanEvent, "type" | "parcelId">): string {
  return `${PREFIX}.${typeToken(event.type)}.${event.parcelId}`;
}

/**
 * The subject filter for a type and a parcel, either left open.
 * @example subjectFilter("pickup", null) // "scan.v1.events.PICKUP.*"
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
 * The body of an event's message, as JSON with its keys in this order.
 * @example bodyOf(event) // '{"EventId":1,"ParcelId":7,"Type":"PICKUP","CreatedDateTimeUtc":"2021-05-11T21:11:34.1506147Z","StatusCode":"","RunId":"100"}'
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
 * The message id of an event: the broker drops a second message with the same id within its
 * duplicate window.
 * @example messageId(83269) // "scan-event-83269"
 */
export function messageId(eventId: number): string {
  return `scan-event-${eventId}`;
}

/**
 * The EventId a message id names, or null when it is not one of ours.
 * @example eventIdOf("scan-event-83269") // 83269
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

/** The outbox rows of a page's accepted events. */
export function outboxRows(events: readonly ScanEvent[]): OutboxRow[] {
  return events.map((event) => ({
    eventId: event.eventId,
    subject: subjectOf(event),
    body: bodyOf(event),
  }));
}
