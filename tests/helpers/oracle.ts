/**
 * The expected database for a simulated feed, computed from the simulator's model alone: its
 * truth for each slot (canonical fields, malformed kind), folded per parcel by the rules of
 * docs/rules.md §3 written out again here, independently of the worker's processor.
 *
 * @module
 */

import { eventAt, type FeedShape, type SimEvent } from "../../src/simulator/model.ts";
import type { ParcelStateRow } from "./tables.ts";

/** What the worker must leave behind after draining the first `slots` slots. */
export interface OracleResult {
  checkpoint: number;
  parcels: ParcelStateRow[];
  /** EventIds of the rejections (null where the event has no usable one), ascending, nulls first. */
  rejectedIds: (number | null)[];
  pickedUp: number;
  delivered: number;
  /**
   * The stream's messages after a drain with NATS_URL set: the accepted events' bodies, in
   * EventId order, written out from the model's truth (docs/rules.md §7).
   */
  stream: string[];
}

/** Malformed kinds whose EventId the worker cannot use. */
const IDLESS = new Set(["EventId as string", "EventId fractional", "not an object"]);

/** The expected tables after the first `slots` slots of `shape`'s feed. */
export function oracle(shape: FeedShape, slots: number): OracleResult {
  const parcels = new Map<number, ParcelStateRow>();
  const rejectedIds: (number | null)[] = [];
  const stream: string[] = [];
  let checkpoint = 0;
  for (let slot = 1; slot <= slots; slot++) {
    const e: SimEvent = eventAt(shape, slot);
    if (e.malformed !== null) {
      const id = IDLESS.has(e.malformed) ? null : e.eventId;
      rejectedIds.push(id);
      if (id !== null) checkpoint = id;
      continue;
    }
    checkpoint = e.eventId;
    stream.push(JSON.stringify({
      EventId: e.eventId,
      ParcelId: e.parcelId,
      Type: e.canonicalType,
      CreatedDateTimeUtc: e.createdUtc,
      StatusCode: e.statusCode,
      RunId: e.runId,
    }));
    const row = parcels.get(e.parcelId);
    parcels.set(e.parcelId, {
      ParcelId: e.parcelId,
      LastEventId: e.eventId,
      Type: e.canonicalType,
      StatusCode: e.statusCode,
      RunId: e.runId,
      CreatedDateTimeUtc: e.createdUtc,
      PickupTimeUtc: row?.PickupTimeUtc ?? (e.canonicalType === "PICKUP" ? e.createdUtc : null),
      DeliveryTimeUtc: row?.DeliveryTimeUtc ??
        (e.canonicalType === "DELIVERY" ? e.createdUtc : null),
    });
  }
  const rows = [...parcels.values()].sort((a, b) => a.ParcelId - b.ParcelId);
  return {
    checkpoint,
    parcels: rows,
    rejectedIds: rejectedIds.sort((a, b) => (a ?? 0) - (b ?? 0)),
    pickedUp: rows.filter((r) => r.PickupTimeUtc !== null).length,
    delivered: rows.filter((r) => r.DeliveryTimeUtc !== null).length,
    stream,
  };
}
