/**
 * The projection of one page of the feed (docs/rules.md §3): given the checkpoint and the raw events of
 * a page, the per-parcel changes, the rejections and the new checkpoint. Pure, no I/O.
 *
 * @module
 */

import {
  isValidId,
  MAX_TYPE_LENGTH,
  type Rejection,
  type ScanEvent,
  validateEvent,
} from "./validate.ts";

/** The event type that sets `PickupTimeUtc` (docs/rules.md §3.7). */
export const PICKUP = "PICKUP";
/** The event type that sets `DeliveryTimeUtc` (docs/rules.md §3.7). */
export const DELIVERY = "DELIVERY";

/**
 * What one page does to one parcel: its last event in the page and its first PICKUP and first
 * DELIVERY in the page. The store merges it with the stored row under the §3.6–3.7 guards:
 * the last-event fields move only to a higher EventId, and a pickup or delivery time only to
 * a lower EventId than the one stored.
 */
export interface ParcelChange {
  /** The parcel. */
  readonly parcelId: number;
  /** EventId of the parcel's highest event in the page. */
  readonly lastEventId: number;
  /** Type of that event (trimmed, upper-case). */
  readonly type: string;
  /** StatusCode of that event (`""` when absent). */
  readonly statusCode: string;
  /** RunId of that event (null when absent). */
  readonly runId: string | null;
  /** CreatedDateTimeUtc of that event, normalised. */
  readonly createdDateTimeUtc: string;
  /** EventId of the parcel's lowest PICKUP in the page, or null. */
  readonly pickupEventId: number | null;
  /** CreatedDateTimeUtc of that PICKUP, or null. */
  readonly pickupTimeUtc: string | null;
  /** EventId of the parcel's lowest DELIVERY in the page, or null. */
  readonly deliveryEventId: number | null;
  /** CreatedDateTimeUtc of that DELIVERY, or null. */
  readonly deliveryTimeUtc: string | null;
}

/** Everything a store must write for one page, in one transaction (docs/rules.md §3.8). */
export interface PageResult {
  /** The checkpoint the page was projected from; the store refuses it if it moved. */
  readonly from: number;
  /** The new checkpoint: the highest EventId above `from`, rejected ones included. */
  readonly to: number;
  /** One change per parcel touched by the page, ordered by ParcelId. */
  readonly changes: readonly ParcelChange[];
  /** Rejected events, in EventId order (those without a usable EventId last). */
  readonly rejections: readonly Rejection[];
  /** The events above the checkpoint that were accepted, normalised, in ascending EventId. */
  readonly events: readonly ScanEvent[];
  /** Valid events above the checkpoint that were applied. */
  readonly applied: number;
  /** Events ignored: at or below the checkpoint, or exact repeats within the page. */
  readonly skipped: number;
  /** True when no event is above the checkpoint: the feed is caught up (docs/rules.md §3.1). */
  readonly empty: boolean;
  /** Late events (docs/rules.md §3.10): what this write records of them; absent when off. */
  readonly late?: LateWrite;
}

/** What a write records of late events, in the page's transaction (docs/rules.md §3.10). */
export interface LateWrite {
  /** The EventIds below the checkpoint this write applies or rejects: late events found. */
  readonly found: readonly number[];
  /** The open holes after this write, as `encodeHoles` writes them. */
  readonly holes: string;
  /** The settled mark after this write. */
  readonly settled: number;
}

interface Candidate {
  readonly eventId: number;
  readonly raw: unknown;
  readonly event: ScanEvent | null;
  readonly rejection: Rejection | null;
}

/**
 * Reduce a parcel's events of one page, in ascending EventId order, to one change
 * (docs/rules.md §3.6–3.7).
 */
function foldParcel(previous: ParcelChange | undefined, event: ScanEvent): ParcelChange {
  const isPickup = event.type === PICKUP;
  const isDelivery = event.type === DELIVERY;
  return {
    parcelId: event.parcelId,
    lastEventId: event.eventId,
    type: event.type,
    statusCode: event.statusCode,
    runId: event.runId,
    createdDateTimeUtc: event.createdDateTimeUtc,
    pickupEventId: previous?.pickupEventId ?? (isPickup ? event.eventId : null),
    pickupTimeUtc: previous?.pickupTimeUtc ?? (isPickup ? event.createdDateTimeUtc : null),
    deliveryEventId: previous?.deliveryEventId ?? (isDelivery ? event.eventId : null),
    deliveryTimeUtc: previous?.deliveryTimeUtc ?? (isDelivery ? event.createdDateTimeUtc : null),
  };
}

/**
 * Whether a page leaves nothing to store: no event above the checkpoint and no rejection (the
 * feed is caught up). The one place that decides a page need not be written.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { projectPage, writesNothing } from "./project.ts";
 * assert.equal(writesNothing(projectPage(7, [])), true);
 * ```
 */
export function writesNothing(result: PageResult): boolean {
  return result.empty && result.rejections.length === 0 && result.events.length === 0 &&
    result.late === undefined;
}

/**
 * Project the late events of a page read again (docs/rules.md §3.10): only the events at or
 * below the checkpoint that `isOpen` says were never seen (and those without a usable EventId,
 * which the stores keep once), as if they had come in order. The checkpoint does not move; the
 * result's `late.found` is left for the caller, which adds the holes and settled mark.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { projectLate } from "./project.ts";
 * const event = { EventId: 41, ParcelId: 7, Type: "PICKUP", CreatedDateTimeUtc: "2021-05-11T21:11:34Z" };
 * assert.equal(projectLate(100, [event], (id) => id === 41).applied, 1);
 * ```
 */
export function projectLate(
  checkpoint: number,
  rawEvents: readonly unknown[],
  isOpen: (eventId: number) => boolean,
  typeLength: number = MAX_TYPE_LENGTH,
): PageResult {
  const picked = rawEvents.filter((raw) => {
    const eventId = typeof raw === "object" && raw !== null && !Array.isArray(raw)
      ? (raw as Record<string, unknown>).EventId
      : undefined;
    if (!isValidId(eventId)) return true;
    return eventId <= checkpoint && isOpen(eventId);
  });
  const result = projectPage(0, picked, typeLength);
  return {
    ...result,
    from: checkpoint,
    to: checkpoint,
    skipped: result.skipped + rawEvents.length - picked.length,
    empty: true,
  };
}

/**
 * The checkpoint a page leads to, without validating it: the highest usable EventId above
 * `checkpoint` (a positive safe integer, on an object), or `checkpoint` when there is none.
 * Always equal to `projectPage(checkpoint, rawEvents).to`; cheap enough to ask for the next
 * page before this one is projected.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pageEnd } from "./project.ts";
 * assert.equal(pageEnd(5, [{ EventId: 7 }, { EventId: "9" }, { EventId: 6 }]), 7);
 * ```
 */
export function pageEnd(checkpoint: number, rawEvents: readonly unknown[]): number {
  let end = checkpoint;
  for (const raw of rawEvents) {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) continue;
    const eventId = (raw as Record<string, unknown>).EventId;
    if (isValidId(eventId) && eventId > end) end = eventId;
  }
  return end;
}

/**
 * Project one page of raw events onto the checkpoint (docs/rules.md §3.1–3.9); `typeLength` is
 * the longest Type accepted (see `validateEvent`).
 *
 * - Events with `EventId <= checkpoint` are ignored; the rest are taken in ascending EventId
 *   order, whatever order they arrived in.
 * - Each event is validated; invalid ones become rejections. Invalid events with no usable
 *   EventId are always returned as rejections (the store keeps one row per distinct payload).
 * - An EventId seen twice in the page: an exact repeat is skipped; a different event under
 *   the same EventId is rejected (once per distinct payload), so nothing is dropped silently.
 * - The new checkpoint is the highest EventId above the checkpoint, rejected ones included.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { projectPage } from "./project.ts";
 * const event = { EventId: 1, ParcelId: 7, Type: "PICKUP", CreatedDateTimeUtc: "2021-05-11T21:11:34Z" };
 * const result = projectPage(0, [event]);
 * assert.equal(result.to, 1);
 * assert.equal(result.applied, 1);
 * ```
 */
export function projectPage(
  checkpoint: number,
  rawEvents: readonly unknown[],
  typeLength: number = MAX_TYPE_LENGTH,
): PageResult {
  const { candidates, idless, skipped } = validatePage(checkpoint, rawEvents, typeLength);
  const parcels = new Map<number, ParcelChange>();
  const rejections: Rejection[] = [];
  const accepted: ScanEvent[] = [];
  let repeats = 0;
  let to = checkpoint;
  let first: Candidate | undefined;
  /** The payloads seen under the current EventId, once it repeats: each is kept or rejected once. */
  let seen: Set<string> | null = null;
  for (const candidate of candidates) {
    if (first !== undefined && first.eventId === candidate.eventId) {
      const payload = JSON.stringify(candidate.raw);
      seen ??= new Set([JSON.stringify(first.raw)]);
      if (seen.has(payload)) {
        repeats++;
      } else {
        seen.add(payload);
        rejections.push({
          eventId: candidate.eventId,
          reason:
            `duplicate EventId ${candidate.eventId} in the page, different from its first occurrence`,
          payload,
        });
      }
      continue;
    }
    first = candidate;
    seen = null;
    to = candidate.eventId;
    if (candidate.event !== null) {
      const event = candidate.event;
      parcels.set(event.parcelId, foldParcel(parcels.get(event.parcelId), event));
      accepted.push(event);
    } else if (candidate.rejection !== null) {
      rejections.push(candidate.rejection);
    }
  }
  return {
    from: checkpoint,
    to,
    changes: [...parcels.values()].sort((a, b) => a.parcelId - b.parcelId),
    rejections: [...rejections, ...idless],
    events: accepted,
    applied: accepted.length,
    skipped: skipped + repeats,
    empty: candidates.length === 0,
  };
}

/**
 * Validate a page's raw events: those above the checkpoint in ascending EventId order (repeats
 * in arrival order), the rejections without a usable EventId (each payload once), and how many
 * were at or below the checkpoint.
 */
function validatePage(
  checkpoint: number,
  rawEvents: readonly unknown[],
  typeLength: number,
): { candidates: Candidate[]; idless: Rejection[]; skipped: number } {
  const candidates: Candidate[] = [];
  const idless: Rejection[] = [];
  let skipped = 0;
  for (const raw of rawEvents) {
    const validation = validateEvent(raw, typeLength);
    const eventId = validation.ok ? validation.event.eventId : validation.rejection.eventId;
    if (eventId === null) {
      // Identical payloads without a usable EventId are one rejection (the stores keep one row).
      if (!validation.ok && !idless.some((r) => r.payload === validation.rejection.payload)) {
        idless.push(validation.rejection);
      }
      continue;
    }
    if (eventId <= checkpoint) {
      skipped++;
      continue;
    }
    candidates.push(
      validation.ok
        ? { eventId, raw, event: validation.event, rejection: null }
        : { eventId, raw, event: null, rejection: validation.rejection },
    );
  }
  // Array.prototype.sort is stable: repeats of an EventId keep their arrival order.
  candidates.sort((a, b) => a.eventId - b.eventId);
  return { candidates, idless, skipped };
}
