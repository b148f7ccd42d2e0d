import { assertEquals, assertOk } from "../helpers/assert.ts";
import {
  eventAt,
  eventIdOfSlot,
  feedShape,
  firstSlotFrom,
  MALFORMED_KINDS,
  pageEvents,
  parcelOfSlot,
  wireText,
} from "../../src/simulator/model.ts";
import { normaliseTimestamp } from "../../src/domain/timestamps.ts";

Deno.test("EventIds skip two ids after every 500 slots", () => {
  assertEquals([1, 500, 501, 1000, 1001].map(eventIdOfSlot), [1, 500, 503, 1002, 1005]);
});

Deno.test("FromEventId maps to the first slot at or after it, gaps included", () => {
  assertEquals([0, 1, 500, 501, 502, 503, 1002, 1003].map(firstSlotFrom), [
    1,
    1,
    500,
    501,
    501,
    501,
    1000,
    1001,
  ]);
  for (let slot = 1; slot <= 3000; slot++) assertEquals(firstSlotFrom(eventIdOfSlot(slot)), slot);
});

Deno.test("every parcel step appears exactly once, in lifecycle order", () => {
  const shape = feedShape({ seed: 3, events: 20_000, parcels: 2000 });
  assertEquals([shape.stepsPerParcel, shape.cohortSize], [10, 256]);
  const lastStep = new Map<number, number>();
  for (let slot = 1; slot <= 20_000; slot++) {
    const { parcelId, step } = parcelOfSlot(shape, slot);
    assertEquals(step, (lastStep.get(parcelId) ?? -1) + 1, `parcel ${parcelId} at slot ${slot}`);
    lastStep.set(parcelId, step);
  }
  assertOk(lastStep.size >= 2000 && lastStep.size <= 2000 + 256);
});

Deno.test("the same seed gives the same events, another seed different ones", () => {
  const a = feedShape({ seed: 42, events: 1000, malformedRate: 0.05 });
  const b = feedShape({ seed: 43, events: 1000, malformedRate: 0.05 });
  const page = (shape: typeof a) =>
    JSON.stringify(pageEvents(shape, 1, 500, 1000).map((e) => e.raw));
  assertEquals(page(a), page({ ...a }));
  assertOk(page(a) !== page(b));
});

Deno.test("lifecycles start with PICKUP; most end with DELIVERY; some are picked up twice", () => {
  const shape = feedShape({ seed: 5, events: 80_000, parcels: 10_000 });
  const byParcel = new Map<number, string[]>();
  for (let slot = 1; slot <= 80_000; slot++) {
    const e = eventAt(shape, slot);
    byParcel.set(e.parcelId, [...byParcel.get(e.parcelId) ?? [], e.canonicalType]);
  }
  const complete = [...byParcel.values()].filter((types) => types.length === 8);
  assertOk(complete.every((types) => types[0] === "PICKUP"));
  const delivered = complete.filter((types) => types.at(-1) === "DELIVERY").length /
    complete.length;
  assertOk(delivered > 0.8 && delivered < 0.95, `delivered share ${delivered}`);
  assertOk(complete.some((types) => types[1] === "PICKUP"));
  assertOk(
    complete.some((types) => types.some((t) => !["PICKUP", "STATUS", "DELIVERY"].includes(t))),
  );
});

Deno.test("wire timestamps are valid ISO-8601 and normalise to the model's UTC text", () => {
  const shape = feedShape({ seed: 9, events: 5000 });
  const styles = new Set<string>();
  for (let slot = 1; slot <= 5000; slot++) {
    const e = eventAt(shape, slot);
    const text = String((e.raw as Record<string, unknown>).CreatedDateTimeUtc);
    assertEquals(normaliseTimestamp(text), e.createdUtc, text);
    styles.add(text.endsWith("Z") ? (text.includes(" ") ? "space" : "Z") : "offset");
  }
  assertEquals([...styles].sort(), ["Z", "offset", "space"]);
});

Deno.test("the wire carries Device and User objects and the carriers NC, PH, CP, NW", () => {
  const shape = feedShape({ seed: 1, events: 2000 });
  const carriers = new Set<unknown>();
  for (const e of pageEvents(shape, 1, 2000, 2000)) {
    const raw = e.raw as { Device: { DeviceId: number }; User: { CarrierId: string } };
    assertEquals(typeof raw.Device.DeviceId, "number");
    carriers.add(raw.User.CarrierId);
  }
  assertEquals([...carriers].sort(), ["CP", "NC", "NW", "PH"]);
});

Deno.test("the malformed rate breaks about that share of events, in every kind", () => {
  const shape = feedShape({ seed: 11, events: 20_000, malformedRate: 0.1 });
  const kinds = new Set<string>();
  let broken = 0;
  for (let slot = 1; slot <= 20_000; slot++) {
    const e = eventAt(shape, slot);
    if (e.malformed !== null) {
      broken++;
      kinds.add(e.malformed);
    }
  }
  assertOk(broken > 1800 && broken < 2200, `broken ${broken}`);
  assertEquals(kinds.size, MALFORMED_KINDS.length);
});

Deno.test("a page past the end of the backlog is empty", () => {
  const shape = feedShape({ seed: 1, events: 100 });
  assertEquals(pageEvents(shape, 101, 10, 100), []);
  assertEquals(pageEvents(shape, 95, 10, 100).map((e) => e.eventId), [95, 96, 97, 98, 99, 100]);
});

Deno.test("wireText writes exactly what JSON.stringify writes, malformed events included", () => {
  const shape = feedShape({ seed: 11, events: 30_000, parcels: 3_000, malformedRate: 0.05 });
  let malformed = 0;
  for (const e of pageEvents(shape, 1, 30_000, shape.events)) {
    assertEquals(wireText(e), JSON.stringify(e.raw));
    if (e.malformed !== null) malformed++;
  }
  assertEquals(malformed > 1000, true);
});
