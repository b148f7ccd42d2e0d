import { assertEquals } from "../helpers/assert.ts";
import { COURIER, minute, scanEvent } from "../helpers/events.ts";
import { pageEnd, projectPage } from "../../src/domain/project.ts";
import { feedShape, hash, pageEvents } from "../../src/simulator/model.ts";

/** A courier's event at `m` minutes after 10:00. */
const ev = (eventId: number, parcelId: number, type: string, m = 0, extra = {}) =>
  scanEvent(eventId, parcelId, type, minute(m), { ...COURIER, ...extra });

Deno.test("an empty page is empty and keeps the checkpoint", () => {
  assertEquals(projectPage(10, []), {
    from: 10,
    to: 10,
    changes: [],
    rejections: [],
    events: [],
    applied: 0,
    skipped: 0,
    empty: true,
  });
});

Deno.test("one PICKUP creates the parcel's change with its pickup time", () => {
  assertEquals(projectPage(0, [ev(1, 7, "PICKUP", 5)]), {
    from: 0,
    to: 1,
    changes: [{
      parcelId: 7,
      lastEventId: 1,
      type: "PICKUP",
      statusCode: "",
      runId: "R1",
      createdDateTimeUtc: "2021-05-11T10:05:00.1234567Z",
      pickupEventId: 1,
      pickupTimeUtc: "2021-05-11T10:05:00.1234567Z",
      deliveryEventId: null,
      deliveryTimeUtc: null,
    }],
    rejections: [],
    events: [{
      eventId: 1,
      parcelId: 7,
      type: "PICKUP",
      statusCode: "",
      runId: "R1",
      createdDateTimeUtc: "2021-05-11T10:05:00.1234567Z",
    }],
    applied: 1,
    skipped: 0,
    empty: false,
  });
});

Deno.test("the accepted events are kept in EventId order: no repeat, no rejected one", () => {
  const result = projectPage(2, [
    ev(5, 7, "STATUS"),
    ev(3, 8, "PICKUP"),
    ev(2, 8, "PICKUP"),
    ev(4, 9, ""),
    ev(5, 7, "STATUS"),
    ev(6, 7, "DELIVERY"),
  ]);
  assertEquals(result.events.map((e) => [e.eventId, e.type]), [
    [3, "PICKUP"],
    [5, "STATUS"],
    [6, "DELIVERY"],
  ]);
  assertEquals(result.applied, 3);
});

Deno.test("a page is reduced to one change per parcel, with its last event", () => {
  const result = projectPage(0, [
    ev(1, 7, "PICKUP", 1),
    ev(2, 8, "PICKUP", 2),
    ev(3, 7, "STATUS", 3, { StatusCode: "ARRIVED" }),
    ev(4, 7, "DELIVERY", 4, { User: { RunId: 9 } }),
  ]);
  assertEquals(result.changes.length, 2);
  assertEquals(result.changes[0], {
    parcelId: 7,
    lastEventId: 4,
    type: "DELIVERY",
    statusCode: "",
    runId: "9",
    createdDateTimeUtc: "2021-05-11T10:04:00.1234567Z",
    pickupEventId: 1,
    pickupTimeUtc: "2021-05-11T10:01:00.1234567Z",
    deliveryEventId: 4,
    deliveryTimeUtc: "2021-05-11T10:04:00.1234567Z",
  });
  assertEquals(result.changes[1]?.parcelId, 8);
  assertEquals(result.to, 4);
  assertEquals(result.applied, 4);
});

Deno.test("the last event is the highest EventId, not the latest timestamp", () => {
  const result = projectPage(0, [ev(1, 7, "STATUS", 50), ev(2, 7, "LATE", 10)]);
  assertEquals(result.changes[0]?.type, "LATE");
  assertEquals(result.changes[0]?.createdDateTimeUtc, "2021-05-11T10:10:00.1234567Z");
});

Deno.test("a second PICKUP does not move PickupTimeUtc", () => {
  const result = projectPage(0, [ev(1, 7, "PICKUP", 1), ev(2, 7, "PICKUP", 2)]);
  assertEquals(result.changes[0]?.pickupEventId, 1);
  assertEquals(result.changes[0]?.pickupTimeUtc, "2021-05-11T10:01:00.1234567Z");
  assertEquals(result.changes[0]?.lastEventId, 2);
});

Deno.test("a second DELIVERY does not move DeliveryTimeUtc", () => {
  const result = projectPage(0, [ev(5, 7, "DELIVERY", 1), ev(6, 7, "DELIVERY", 2)]);
  assertEquals(result.changes[0]?.deliveryEventId, 5);
  assertEquals(result.changes[0]?.deliveryTimeUtc, "2021-05-11T10:01:00.1234567Z");
});

Deno.test("a page out of order is applied in ascending EventId order", () => {
  const result = projectPage(0, [
    ev(3, 7, "DELIVERY", 3),
    ev(1, 7, "PICKUP", 1),
    ev(2, 7, "PICKUP", 2),
  ]);
  assertEquals(result.changes[0]?.lastEventId, 3);
  assertEquals(result.changes[0]?.type, "DELIVERY");
  assertEquals(result.changes[0]?.pickupEventId, 1);
  assertEquals(result.to, 3);
});

Deno.test("mixed-case types count as PICKUP and DELIVERY", () => {
  const result = projectPage(0, [ev(1, 7, " pickup", 1), ev(2, 7, "Delivery ", 2)]);
  assertEquals(result.changes[0]?.pickupTimeUtc, "2021-05-11T10:01:00.1234567Z");
  assertEquals(result.changes[0]?.deliveryTimeUtc, "2021-05-11T10:02:00.1234567Z");
  assertEquals(result.changes[0]?.type, "DELIVERY");
});

Deno.test("an unknown type becomes the last event but sets no time", () => {
  const result = projectPage(0, [ev(1, 7, "PICKUP", 1), ev(2, 7, "Customs_Hold", 2)]);
  assertEquals(result.changes[0]?.type, "CUSTOMS_HOLD");
  assertEquals(result.changes[0]?.deliveryTimeUtc, null);
});

Deno.test("events at or below the checkpoint are ignored", () => {
  const result = projectPage(10, [ev(9, 7, "PICKUP"), ev(10, 7, "STATUS"), ev(11, 8, "PICKUP")]);
  assertEquals(result.changes.map((c) => c.parcelId), [8]);
  assertEquals(result.skipped, 2);
  assertEquals(result.to, 11);
});

Deno.test("a page with nothing above the checkpoint counts as empty", () => {
  const result = projectPage(10, [ev(1, 7, "PICKUP"), ev(10, 7, "STATUS")]);
  assertEquals(result.empty, true);
  assertEquals(result.to, 10);
  assertEquals(result.changes, []);
  assertEquals(result.skipped, 2);
});

Deno.test("an exact repeat of an event within the page is skipped", () => {
  const result = projectPage(0, [ev(1, 7, "PICKUP"), ev(1, 7, "PICKUP")]);
  assertEquals(result.applied, 1);
  assertEquals(result.skipped, 1);
  assertEquals(result.rejections, []);
});

Deno.test("a different event under a repeated EventId is rejected, the first one kept", () => {
  const second = ev(1, 8, "DELIVERY");
  const result = projectPage(0, [ev(1, 7, "PICKUP"), second]);
  assertEquals(result.changes.map((c) => c.parcelId), [7]);
  assertEquals(result.rejections, [{
    eventId: 1,
    reason: "duplicate EventId 1 in the page, different from its first occurrence",
    payload: JSON.stringify(second),
  }]);
});

Deno.test("a different event repeated under one EventId is rejected once, the repeat skipped", () => {
  const second = ev(1, 8, "DELIVERY");
  const third = ev(1, 9, "STATUS");
  const result = projectPage(0, [ev(1, 7, "PICKUP"), second, second, third, second]);
  assertEquals(result.changes.map((c) => c.parcelId), [7]);
  assertEquals(result.rejections.map((r) => r.payload), [
    JSON.stringify(second),
    JSON.stringify(third),
  ]);
  assertEquals([result.applied, result.skipped], [1, 2]);
});

Deno.test("a rejected event moves the checkpoint past it", () => {
  const result = projectPage(0, [ev(1, 7, "PICKUP"), ev(2, 7, "")]);
  assertEquals(result.to, 2);
  assertEquals(result.rejections.map((r) => [r.eventId, r.reason]), [[2, "Type is empty"]]);
  assertEquals(result.changes[0]?.lastEventId, 1);
});

Deno.test("a page of only rejected events still moves the checkpoint", () => {
  const result = projectPage(5, [ev(6, 7, "PICKUP", 0, { ParcelId: "x" })]);
  assertEquals(result.empty, false);
  assertEquals(result.to, 6);
  assertEquals(result.changes, []);
  assertEquals(result.rejections.length, 1);
});

Deno.test("a rejected event at or below the checkpoint is ignored, not rejected again", () => {
  const result = projectPage(5, [ev(4, 7, "")]);
  assertEquals(result.rejections, []);
  assertEquals(result.skipped, 1);
});

Deno.test("an event without a usable EventId is rejected but does not move the checkpoint", () => {
  const result = projectPage(5, [{ EventId: "6", ParcelId: 7 }, ev(7, 7, "PICKUP")]);
  assertEquals(result.to, 7);
  assertEquals(result.rejections.map((r) => r.eventId), [null]);
  const alone = projectPage(5, [null]);
  assertEquals(alone.empty, true);
  assertEquals(alone.to, 5);
  assertEquals(alone.rejections.map((r) => r.reason), ["event must be a JSON object, got null"]);
});

Deno.test("projecting the same page from the new checkpoint changes nothing", () => {
  const page = [ev(1, 7, "PICKUP"), ev(2, 8, "PICKUP"), ev(3, 7, "")];
  const first = projectPage(0, page);
  const second = projectPage(first.to, page);
  assertEquals(second.empty, true);
  assertEquals(second.changes, []);
  assertEquals(second.rejections, []);
});

Deno.test("rejections come in EventId order, those without an EventId last", () => {
  const result = projectPage(0, [ev(3, 7, ""), "junk", ev(2, 7, "")]);
  assertEquals(result.rejections.map((r) => r.eventId), [2, 3, null]);
});

Deno.test("changes are ordered by ParcelId", () => {
  const result = projectPage(0, [ev(1, 30, "PICKUP"), ev(2, 10, "PICKUP"), ev(3, 20, "PICKUP")]);
  assertEquals(result.changes.map((c) => c.parcelId), [10, 20, 30]);
});

Deno.test("identical events without a usable EventId in one page are one rejection", () => {
  const result = projectPage(0, ["junk", "junk", { EventId: "1" }]);
  assertEquals(result.rejections.map((r) => r.payload), ['"junk"', '{"EventId":"1"}']);
});

Deno.test("pageEnd is the checkpoint projectPage leads to, on malformed and shuffled pages", () => {
  const shape = feedShape({ seed: 7, events: 20_000, parcels: 2_000, malformedRate: 0.2 });
  const odd: unknown[] = [null, 3, "x", [9], { EventId: "12" }, { EventId: 1.5 }, { EventId: -4 }];
  for (let from = 1, round = 0; from < 20_000; from += 997, round++) {
    const raw = pageEvents(shape, from, 300, shape.events).map((e) => e.raw);
    // Shuffle, repeat some events and mix in values without a usable EventId.
    const page = [...raw, ...raw.slice(0, 5), ...odd].sort((a, b) =>
      hash(round, JSON.stringify(a).length) - hash(round, JSON.stringify(b).length)
    );
    for (const checkpoint of [0, from - 1, from + 150, from + 10_000]) {
      assertEquals(pageEnd(checkpoint, page), projectPage(checkpoint, page).to);
    }
  }
  assertEquals(pageEnd(5, odd), 5);
  assertEquals(pageEnd(5, [{ EventId: 7 }, { EventId: "9" }, { EventId: 6 }]), 7);
});
