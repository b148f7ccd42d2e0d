import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { COURIER, minute, scanEvent } from "../helpers/events.ts";
import {
  addHoles,
  clipHoles,
  decodeHoles,
  encodeHoles,
  expireHoles,
  fillHoles,
  type Hole,
  holeOf,
  holesOfPage,
  MAX_HOLES,
  rereadFrom,
  settleCovered,
  settledMark,
  usableIds,
} from "../../src/domain/late.ts";
import { projectLate, projectPage, writesNothing } from "../../src/domain/project.ts";

const h = (lo: number, hi: number, sinceMs = 0): Hole => ({ lo, hi, sinceMs });
const ev = (eventId: number, parcelId: number, type: string, m = 0) =>
  scanEvent(eventId, parcelId, type, minute(m), { ...COURIER });

Deno.test("a page with every EventId from the checkpoint up opens no hole", () => {
  assertEquals(holesOfPage(10, 13, [11, 12, 13], 5), []);
});

Deno.test("a page opens a hole for each run of EventIds it stepped over, stamped with its time", () => {
  assertEquals(holesOfPage(10, 20, [20, 12, 11, 15], 5), [h(13, 14, 5), h(16, 19, 5)]);
});

Deno.test("a page's first EventIds missing are a hole from the checkpoint + 1", () => {
  assertEquals(holesOfPage(0, 4, [3, 4], 1), [h(1, 2, 1)]);
});

Deno.test("EventIds outside the page's range and repeats open nothing", () => {
  assertEquals(holesOfPage(10, 12, [5, 11, 11, 12, 40], 1), []);
});

Deno.test("an empty page (the checkpoint does not move) opens no hole", () => {
  assertEquals(holesOfPage(10, 10, [], 1), []);
});

Deno.test("a page's holes are the same whatever the order of its EventIds, duplicates included", () => {
  const pages: number[][] = [
    [11, 12, 15, 19, 20],
    [3, 11, 12, 15, 19, 20, 25],
    [20, 19, 15, 12, 11],
    [11, 11, 12, 15, 15, 20],
    [12, 11, 15, 20, 19, 9, 30],
    [],
    [10],
    [21],
  ];
  for (const seen of pages) {
    const expected: { lo: number; hi: number; sinceMs: number }[] = [];
    const inPage = new Set(seen.filter((id) => id > 10 && id <= 20));
    let lo = 0;
    for (let id = 11; id <= 21; id++) {
      const open = id <= 20 && !inPage.has(id);
      if (open && lo === 0) lo = id;
      if (!open && lo !== 0) {
        expected.push({ lo, hi: id - 1, sinceMs: 3 });
        lo = 0;
      }
    }
    assertEquals(holesOfPage(10, 20, seen, 3), expected, JSON.stringify(seen));
  }
});

Deno.test("holes of newer pages are added after the open ones", () => {
  assertEquals(addHoles([h(3, 3)], [h(9, 9, 2)]), { holes: [h(3, 3), h(9, 9, 2)], dropped: 0 });
});

Deno.test("beyond the limit the lowest holes are given up, counted in EventIds", () => {
  assertEquals(addHoles([h(1, 2), h(5, 5)], [h(9, 9)], 2), {
    holes: [h(5, 5), h(9, 9)],
    dropped: 2,
  });
  const many = Array.from({ length: MAX_HOLES + 5 }, (_, i) => h(i * 2 + 1, i * 2 + 1));
  assertEquals(addHoles([], many).holes.length, MAX_HOLES);
});

Deno.test("holeOf finds the hole holding an EventId, at its edges too, and null between", () => {
  const holes = [h(3, 5), h(9, 9), h(20, 30)];
  assertEquals(holeOf(holes, 3), h(3, 5));
  assertEquals(holeOf(holes, 5), h(3, 5));
  assertEquals(holeOf(holes, 9), h(9, 9));
  assertEquals(holeOf(holes, 25), h(20, 30));
  assertEquals([2, 6, 8, 10, 19, 31].map((id) => holeOf(holes, id)), [
    null,
    null,
    null,
    null,
    null,
    null,
  ]);
  assertEquals(holeOf([], 1), null);
});

Deno.test("a late event found splits its hole; one at an edge shrinks it; a lone one closes it", () => {
  assertEquals(fillHoles([h(3, 7, 1)], [5]), [h(3, 4, 1), h(6, 7, 1)]);
  assertEquals(fillHoles([h(3, 7, 1)], [3, 7]), [h(4, 6, 1)]);
  assertEquals(fillHoles([h(3, 3, 1), h(9, 9, 2)], [3]), [h(9, 9, 2)]);
  assertEquals(fillHoles([h(3, 7, 1)], [3, 4, 5, 6, 7]), []);
});

Deno.test("found EventIds outside every hole change nothing", () => {
  assertEquals(fillHoles([h(3, 4), h(9, 9)], [1, 5, 8, 10]), [h(3, 4), h(9, 9)]);
  assertEquals(fillHoles([h(3, 4)], []), [h(3, 4)]);
});

Deno.test("a re-read a whole window after a hole opened settles the part of it the page covered", () => {
  assertEquals(settleCovered([h(3, 3, 0), h(7, 12, 0)], 1, 9, 1000, 1000), {
    holes: [h(10, 12, 0)],
    settled: 4,
  });
});

Deno.test("a re-read within the window settles nothing: the event may still come", () => {
  assertEquals(settleCovered([h(3, 3, 500)], 1, 9, 1000, 1000), {
    holes: [h(3, 3, 500)],
    settled: 0,
  });
});

Deno.test("a re-read settles only the covered part of a hole, both sides kept", () => {
  assertEquals(settleCovered([h(1, 20, 0)], 5, 9, 5000, 1000), {
    holes: [h(1, 4, 0), h(10, 20, 0)],
    settled: 5,
  });
});

Deno.test("holes older than the give-up age are settled; younger ones stay", () => {
  assertEquals(expireHoles([h(3, 4, 0), h(9, 9, 600)], 1000, 500), {
    holes: [h(9, 9, 600)],
    settled: 2,
  });
  assertEquals(expireHoles([h(3, 4, 0)], 499, 500), { holes: [h(3, 4, 0)], settled: 0 });
});

Deno.test("a checkpoint moved back keeps only the holes below it, the one across it cut", () => {
  assertEquals(clipHoles([h(3, 4), h(8, 12), h(20, 20)], 10), [h(3, 4), h(8, 10)]);
  assertEquals(clipHoles([h(3, 4)], 2), []);
});

Deno.test("the settled mark is below the lowest open hole, or the checkpoint", () => {
  assertEquals(settledMark([h(41, 41), h(77, 80)], 100), 40);
  assertEquals(settledMark([], 100), 100);
  assertEquals(settledMark([h(1, 1)], 100), 0);
});

Deno.test("re-reads go round the holes from where the last one stopped", () => {
  const holes = [h(3, 5), h(9, 9), h(40, 42)];
  assertEquals(rereadFrom(holes, 0), 3);
  assertEquals(rereadFrom(holes, 4), 4);
  assertEquals(rereadFrom(holes, 6), 9);
  assertEquals(rereadFrom(holes, 10), 40);
  assertEquals(rereadFrom(holes, 43), 3, "past the last hole: a new round");
  assertEquals(rereadFrom([], 0), null);
});

Deno.test("usable EventIds are positive safe integers on objects, as the projection reads them", () => {
  assertEquals(
    usableIds([{ EventId: 4 }, { EventId: "5" }, { EventId: 1.5 }, { EventId: 0 }, null, [], 7, {
      EventId: 2,
    }]),
    [4, 2],
  );
});

Deno.test("holes are stored as [[lo, hi, sinceMs], …] and read back the same", () => {
  const holes = [h(3, 5, 1_700_000_000_000), h(9, 9, 1_700_000_000_500)];
  assertEquals(encodeHoles(holes), "[[3,5,1700000000000],[9,9,1700000000500]]");
  assertEquals(decodeHoles(encodeHoles(holes)), holes);
  assertEquals(decodeHoles(null), []);
  assertEquals(decodeHoles("[]"), []);
});

Deno.test("stored holes that are not what the worker writes are refused, naming the entry", () => {
  assertThrows(() => decodeHoles("{"), Error, /not JSON/);
  assertThrows(() => decodeHoles('{"a":1}'), Error, /not a list/);
  assertThrows(() => decodeHoles("[[5,3,1]]"), Error, /\[5,3,1\]/);
  assertThrows(() => decodeHoles("[[3,5,1],[4,6,1]]"), Error, /\[4,6,1\]/);
  assertThrows(() => decodeHoles("[[0,1,1]]"), Error, /bad entry/);
  assertThrows(() => decodeHoles('[[1,"2",1]]'), Error, /bad entry/);
});

Deno.test("a late page applies only the events of open holes, the checkpoint unmoved", () => {
  const result = projectLate(
    100,
    [ev(40, 7, "STATUS"), ev(41, 7, "PICKUP", 5), ev(42, 8, "STATUS"), ev(120, 9, "STATUS")],
    (id) => id === 41,
  );
  assertEquals(result.from, 100);
  assertEquals(result.to, 100);
  assertEquals(result.events.map((e) => e.eventId), [41]);
  assertEquals(result.changes.map((c) => [c.parcelId, c.lastEventId, c.pickupEventId]), [[
    7,
    41,
    41,
  ]]);
  assertEquals(result.skipped, 3);
  assertEquals(result.empty, true);
  assertEquals(writesNothing(result), false, "a late event is written");
});

Deno.test("a late malformed event is rejected with its EventId; one without an id is rejected too", () => {
  const result = projectLate(
    100,
    [{ EventId: 41, ParcelId: -1, Type: "PICKUP" }, { EventId: "42" }, ev(50, 7, "STATUS")],
    (id) => id === 41,
  );
  assertEquals(result.events, []);
  assertEquals(result.rejections.map((r) => r.eventId), [41, null]);
});

Deno.test("a late page with nothing open writes nothing", () => {
  const result = projectLate(100, [ev(40, 7, "STATUS")], () => false);
  assertEquals(writesNothing(result), true);
});

Deno.test("a page carrying the late-event record is written even when empty", () => {
  const empty = projectPage(10, []);
  assertEquals(writesNothing(empty), true);
  assertEquals(writesNothing({ ...empty, late: { found: [], holes: "[]", settled: 10 } }), false);
});
