/**
 * The simulator's feed model: every event of the feed derived from the seed and its position
 * alone, so any page of a backlog of any size is computed on demand in O(page) time and O(1)
 * memory. Pure, no I/O. Tests use the model's truth (canonical fields, malformed kind) as an
 * oracle independent of the worker's processor.
 *
 * Geometry: the feed is a sequence of slots 1, 2, 3…; slot s has EventId s plus a gap of two
 * ids after every 500 slots. Parcels live in cohorts of `cohortSize` parcels and `stepsPerParcel`
 * steps: within a cohort every parcel's step k comes before any parcel's step k+1, the parcels of
 * one step in a seeded order. So a parcel's events are spread over the feed, interleaved with
 * its cohort's, in lifecycle order.
 *
 * @module
 */

import { civilFromDays, daysFromCivil } from "../domain/timestamps.ts";

/** The shape of a simulated feed. */
export interface FeedShape {
  /** Everything random derives from it. */
  readonly seed: number;
  /** Slots (events) of the backlog. */
  readonly events: number;
  /** Events per parcel lifecycle (PICKUP … DELIVERY), at least 2. */
  readonly stepsPerParcel: number;
  /** Parcels whose lifecycles interleave (a power of two, at most 256). */
  readonly cohortSize: number;
  /** Share of events replaced by malformed ones (0–1). */
  readonly malformedRate: number;
}

/** One event of the simulated feed, with the model's truth beside what goes on the wire. */
export interface SimEvent {
  /** Position in the feed (1-based). */
  readonly slot: number;
  /** Its EventId. */
  readonly eventId: number;
  /** Its parcel. */
  readonly parcelId: number;
  /** Step in the parcel's lifecycle (0 = first). */
  readonly step: number;
  /** The type as the worker must store it (trimmed, upper-case). */
  readonly canonicalType: string;
  /** StatusCode as the worker must store it. */
  readonly statusCode: string;
  /** RunId as the worker must store it. */
  readonly runId: string;
  /** CreatedDateTimeUtc as the worker must store it (UTC, 7 digits). */
  readonly createdUtc: string;
  /** Null for a valid event, else which rule it breaks. */
  readonly malformed: MalformedKind | null;
  /** The JSON object sent (or, for the "not an object" kind, the value sent). */
  readonly raw: unknown;
}

/** The ways a simulated event can break docs/rules.md §3.2. */
export const MALFORMED_KINDS = [
  "EventId as string",
  "EventId fractional",
  "ParcelId negative",
  "ParcelId missing",
  "Type empty",
  "Type too long",
  "Type not a string",
  "date impossible",
  "date without zone",
  "date missing",
  "StatusCode object",
  "RunId too long",
  "not an object",
] as const;

/** A way a simulated event breaks docs/rules.md §3.2. */
export type MalformedKind = typeof MALFORMED_KINDS[number];

/** Slots in a run of consecutive EventIds. */
export const SLOTS_PER_BLOCK = 500;
/** EventIds skipped after each run. */
export const GAP_PER_BLOCK = 2;
/** ParcelIds start above this. */
export const PARCEL_BASE = 5000;

const CARRIERS = ["NC", "PH", "CP", "NW"] as const;
const STATUS_CODES = [
  "ARRIVED_AT_DEPOT",
  "SORTED",
  "IN_TRANSIT",
  "OUT_FOR_DELIVERY",
  "DELAYED",
  "ADDRESS_QUERY",
  "",
] as const;
const UNKNOWN_TYPES = ["CUSTOMS_HOLD", "RETURN_TO_SENDER", "Damaged"] as const;
/** 2021-05-01T00:00:00Z in seconds since the epoch. */
const FEED_START_SECONDS = daysFromCivil(2021, 5, 1) * 86_400;

/** One murmur3-style mixing round of `value` into `h`. */
function mixIn(h: number, value: number): number {
  h = Math.imul(h ^ (value >>> 0) ^ Math.floor(value / 4_294_967_296), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** A 32-bit hash of up to three integers under a seed. */
export function hash(seed: number, a: number, b = 0, c = 0): number {
  return mixIn(mixIn(mixIn((seed ^ 0x9e3779b9) >>> 0, a), b), c) >>> 0;
}

/** A hash as a number in [0, 1). */
export function unit(h: number): number {
  return h / 4_294_967_296;
}

/**
 * The shape for a backlog of `events` events over about `parcels` parcels.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { feedShape } from "./model.ts";
 * assert.equal(feedShape({ seed: 1, events: 100_000, parcels: 12_500 }).stepsPerParcel, 8);
 * ```
 */
export function feedShape(
  options: { seed: number; events: number; parcels?: number; malformedRate?: number },
): FeedShape {
  const parcels = Math.max(1, options.parcels ?? Math.ceil(options.events / 8));
  const steps = Math.min(40, Math.max(2, Math.round(options.events / parcels)));
  let cohort = 1;
  while (cohort * 2 <= Math.min(256, parcels)) cohort *= 2;
  return {
    seed: options.seed >>> 0,
    events: options.events,
    stepsPerParcel: steps,
    cohortSize: cohort,
    malformedRate: options.malformedRate ?? 0,
  };
}

/**
 * The EventId of a slot (example: {@link firstSlotFrom}).
 */
export function eventIdOfSlot(slot: number): number {
  return slot + GAP_PER_BLOCK * Math.floor((slot - 1) / SLOTS_PER_BLOCK);
}

/**
 * The first slot whose EventId is at least `eventId` (FromEventId is inclusive).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { eventIdOfSlot, firstSlotFrom } from "./model.ts";
 * assert.equal(eventIdOfSlot(501), 503); // EventIds 501 and 502 are a gap
 * assert.equal(firstSlotFrom(501), 501);
 * ```
 */
export function firstSlotFrom(eventId: number): number {
  if (eventId <= 1) return 1;
  const stride = SLOTS_PER_BLOCK + GAP_PER_BLOCK;
  const block = Math.floor((eventId - 1) / stride);
  const offset = eventId - block * stride;
  return offset > SLOTS_PER_BLOCK
    ? (block + 1) * SLOTS_PER_BLOCK + 1
    : block * SLOTS_PER_BLOCK + offset;
}

/** Which parcel and step a slot holds. */
export function parcelOfSlot(shape: FeedShape, slot: number): { parcelId: number; step: number } {
  const { cohortSize: size, stepsPerParcel: steps, seed } = shape;
  const index = slot - 1;
  const cohort = Math.floor(index / (size * steps));
  const inCohort = index % (size * steps);
  const step = Math.floor(inCohort / size);
  // (a·x + b) mod 2^k with odd a is a permutation of the cohort.
  const a = (hash(seed, cohort, step, 1) % size) | 1;
  const b = hash(seed, cohort, step, 2) % size;
  const member = (a * (inCohort % size) + b) % size;
  return { parcelId: PARCEL_BASE + cohort * size + member + 1, step };
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, "0");
}

/** ISO text of whole seconds since the epoch plus a fraction, with a zone offset in minutes. */
function isoText(
  seconds: number,
  fraction: string,
  offsetMinutes: number,
  separator = "T",
): string {
  const local = seconds + offsetMinutes * 60;
  const days = Math.floor(local / 86_400);
  const second = local - days * 86_400;
  const [y, mo, d] = civilFromDays(days);
  const time = `${pad(Math.floor(second / 3600), 2)}:${pad(Math.floor(second % 3600 / 60), 2)}:${
    pad(second % 60, 2)
  }`;
  const zone = offsetMinutes === 0
    ? "Z"
    : `${offsetMinutes < 0 ? "-" : "+"}${pad(Math.floor(Math.abs(offsetMinutes) / 60), 2)}:${
      pad(Math.abs(offsetMinutes) % 60, 2)
    }`;
  return `${pad(y, 4)}-${pad(mo, 2)}-${pad(d, 2)}${separator}${time}${
    fraction ? `.${fraction}` : ""
  }${zone}`;
}

/** The lifecycle type of a parcel's step, before case games. */
function lifecycleType(shape: FeedShape, parcelId: number, step: number): string {
  const traits = hash(shape.seed, parcelId, 0, 7);
  const neverDelivered = traits % 10 === 0;
  const pickedUpTwice = (traits >>> 4) % 20 === 0;
  const last = shape.stepsPerParcel - 1;
  if (step === 0) return "PICKUP";
  if (step === 1 && pickedUpTwice) return "PICKUP";
  if (step === last && !neverDelivered) return "DELIVERY";
  const roll = hash(shape.seed, parcelId, step, 8);
  if (roll % 50 === 0) return UNKNOWN_TYPES[(roll >>> 8) % UNKNOWN_TYPES.length] ?? "CUSTOMS_HOLD";
  return "STATUS";
}

/** Make a type mixed-case or padded now and then; the worker must normalise it. */
function wireType(type: string, roll: number): string {
  switch (roll % 40) {
    case 0:
      return type.charAt(0) + type.slice(1).toLowerCase();
    case 1:
      return type.toLowerCase();
    case 2:
      return ` ${type} `;
    default:
      return type;
  }
}

/** Replace a valid wire event by a malformed one of the given kind. */
function breakEvent(kind: MalformedKind, raw: Record<string, unknown>): unknown {
  const broken: Record<string, unknown> = { ...raw };
  switch (kind) {
    case "EventId as string":
      broken.EventId = String(raw.EventId);
      break;
    case "EventId fractional":
      broken.EventId = Number(raw.EventId) + 0.5;
      break;
    case "ParcelId negative":
      broken.ParcelId = -Number(raw.ParcelId);
      break;
    case "ParcelId missing":
      delete broken.ParcelId;
      break;
    case "Type empty":
      broken.Type = "  ";
      break;
    case "Type too long":
      broken.Type = "STATUS_".repeat(10);
      break;
    case "Type not a string":
      broken.Type = 3;
      break;
    case "date impossible":
      broken.CreatedDateTimeUtc = "2021-02-30T10:00:00.0000000Z";
      break;
    case "date without zone":
      broken.CreatedDateTimeUtc = String(raw.CreatedDateTimeUtc).replace(/(Z|[+-]\d\d:\d\d)$/, "");
      break;
    case "date missing":
      delete broken.CreatedDateTimeUtc;
      break;
    case "StatusCode object":
      broken.StatusCode = { Code: "X" };
      break;
    case "RunId too long":
      broken.User = { ...raw.User as object, RunId: "R".repeat(51) };
      break;
    case "not an object":
      return [raw.EventId, raw.ParcelId];
  }
  return broken;
}

/**
 * The event at a slot, with its truth and its wire form. Deterministic for the shape's seed.
 */
export function eventAt(shape: FeedShape, slot: number): SimEvent {
  const { seed } = shape;
  const eventId = eventIdOfSlot(slot);
  const { parcelId, step } = parcelOfSlot(shape, slot);
  const roll = hash(seed, slot, 0, 3);
  const type = lifecycleType(shape, parcelId, step);

  // Time: about 2.6 s per event, seven fraction digits; some events carry a +12:00/+13:00 or
  // -05:00 offset, a space separator or fewer fraction digits.
  const seconds = FEED_START_SECONDS + Math.floor(slot * 2.6);
  let fraction = pad(hash(seed, slot, 0, 4) % 10_000_000, 7);
  const style = hash(seed, slot, 0, 5) % 100;
  if (style < 3) fraction = fraction.slice(0, 1 + style * 2);
  const offset = style >= 90 ? [720, 780, -300][style % 3] ?? 0 : 0;
  const createdText = isoText(seconds, fraction, offset, style === 50 ? " " : "T");
  // Most events are sent in UTC with seven digits already: then the truth is the wire text.
  const createdUtc = offset === 0 && style !== 50 && fraction.length === 7
    ? createdText
    : isoText(seconds, fraction.padEnd(7, "0"), 0);

  const carrier = CARRIERS[hash(seed, parcelId, 0, 9) % CARRIERS.length] ?? "NC";
  const run = 100 + hash(seed, parcelId, step, 10) % 400;
  const numericRunId = roll % 7 === 0;
  const statusCode = type === "STATUS"
    ? STATUS_CODES[(roll >>> 3) % STATUS_CODES.length] ?? ""
    : "";
  const raw: WireEvent = {
    EventId: eventId,
    ParcelId: parcelId,
    Type: wireType(type, roll >>> 11),
    CreatedDateTimeUtc: createdText,
    StatusCode: statusCode,
    Device: { DeviceTransactionId: eventId, DeviceId: 100 + (roll >>> 17) % 50 },
    User: {
      UserId: `${carrier}${1000 + hash(seed, parcelId, 0, 11) % 9000}`,
      CarrierId: carrier,
      RunId: numericRunId ? run : String(run),
    },
  };

  const malformedRoll = unit(hash(seed, slot, 0, 6));
  const malformed = malformedRoll < shape.malformedRate
    ? MALFORMED_KINDS[hash(seed, slot, 0, 12) % MALFORMED_KINDS.length] ?? null
    : null;
  return {
    slot,
    eventId,
    parcelId,
    step,
    canonicalType: type.toUpperCase(),
    statusCode,
    runId: String(run),
    createdUtc,
    malformed,
    raw: malformed === null ? raw : breakEvent(malformed, raw),
  };
}

/** The wire object of a well-formed simulated event (before any malformation). */
interface WireEvent {
  EventId: number;
  ParcelId: number;
  Type: string;
  CreatedDateTimeUtc: string;
  StatusCode: string;
  Device: { DeviceTransactionId: number; DeviceId: number };
  User: { UserId: string; CarrierId: string; RunId: string | number };
  [field: string]: unknown;
}

/**
 * The JSON text of a simulated event, exactly `JSON.stringify(event.raw)`. Well-formed events
 * are written field by field, which is several times faster than the general stringifier and
 * keeps the simulator from being what a benchmark of the worker measures.
 */
export function wireText(event: SimEvent): string {
  if (event.malformed !== null) return JSON.stringify(event.raw);
  const e = event.raw as WireEvent;
  const { Device: d, User: u } = e;
  return `{"EventId":${e.EventId},"ParcelId":${e.ParcelId},"Type":${
    JSON.stringify(e.Type)
  },"CreatedDateTimeUtc":${JSON.stringify(e.CreatedDateTimeUtc)},"StatusCode":${
    JSON.stringify(e.StatusCode)
  },"Device":{"DeviceTransactionId":${d.DeviceTransactionId},"DeviceId":${d.DeviceId}},"User":{"UserId":${
    JSON.stringify(u.UserId)
  },"CarrierId":${JSON.stringify(u.CarrierId)},"RunId":${JSON.stringify(u.RunId)}}}`;
}

/** The body of a page of simulated events: `{"ScanEvents":[…]}`. */
export function pageText(events: readonly SimEvent[]): string {
  return `{"ScanEvents":[${events.map(wireText).join(",")}]}`;
}

/**
 * The events of the page asked for by `FromEventId` (inclusive) and `limit`, among the first
 * `available` slots, but those `hidden` says are not visible yet (late events).
 */
export function pageEvents(
  shape: FeedShape,
  fromEventId: number,
  limit: number,
  available: number,
  hidden?: (slot: number) => boolean,
): SimEvent[] {
  const first = firstSlotFrom(fromEventId);
  const events: SimEvent[] = [];
  for (let slot = first; slot <= available && events.length < limit; slot++) {
    if (hidden === undefined || !hidden(slot)) events.push(eventAt(shape, slot));
  }
  return events;
}
