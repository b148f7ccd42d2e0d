import { assertEquals } from "../helpers/assert.ts";
import { feedShape, pageEvents } from "../../src/simulator/model.ts";
import { hiddenAt, isLateSlot, NOT_LATE, visibleAtMs } from "../../src/simulator/late.ts";
import { parseSimulateFlags } from "../../src/simulator/options.ts";

const LATE = { every: 5, ms: 1000 };

Deno.test("every N-th slot is late, and no slot when N is 0", () => {
  assertEquals([4, 5, 10, 11].map((s) => isLateSlot(LATE, s)), [false, true, true, false]);
  assertEquals(isLateSlot(NOT_LATE, 5), false);
});

Deno.test("a late slot of the backlog shows M ms after the start; of a growing feed, M ms after its successor", () => {
  assertEquals(visibleAtMs(LATE, 100, 0, 5), 1000);
  assertEquals(visibleAtMs(LATE, 100, 0, 6), 0);
  // 10 a second after a backlog of 100: slot 111 shows at 1100 ms, so late slot 110 at 2100 ms.
  assertEquals(visibleAtMs(LATE, 100, 10, 110), 2100);
  assertEquals(visibleAtMs(LATE, 100, 0, 100), Infinity, "the last slot of a fixed feed");
});

Deno.test("a page skips the hidden late slots and still holds Limit events", () => {
  const shape = feedShape({ seed: 3, events: 50 });
  const ids = (nowMs: number) =>
    pageEvents(shape, 1, 8, 50, hiddenAt(LATE, 50, 0, nowMs)).map((e) => e.eventId);
  assertEquals(ids(0), [1, 2, 3, 4, 6, 7, 8, 9]);
  assertEquals(ids(1000), [1, 2, 3, 4, 5, 6, 7, 8]);
});

Deno.test("simulate --late-every N --late-ms M, validated; off by default", () => {
  assertEquals(parseSimulateFlags({}).late, { every: 0, ms: 8000 });
  assertEquals(parseSimulateFlags({ "late-every": "37", "late-ms": "2500" }).late, {
    every: 37,
    ms: 2500,
  });
});
