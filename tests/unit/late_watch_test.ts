/**
 * The late-event watch on its own: how often it warns that runs of unseen EventIds were given up
 * for want of room (a feed with many rejected or unreadable EventIds opens a run on every page).
 */
import { configure, getLogger, type LogRecord } from "@logtape/logtape";
import { assertEquals } from "../helpers/assert.ts";
import { scanEvent } from "../helpers/events.ts";
import { MAX_HOLES } from "../../src/domain/late.ts";
import { projectPage } from "../../src/domain/project.ts";
import { GIVEN_UP_WARN_MS, LateWatch } from "../../src/worker/late.ts";

const records: LogRecord[] = [];
await configure({
  reset: true,
  sinks: { memory: (record) => records.push(record) },
  loggers: [
    { category: ["late"], sinks: ["memory"], lowestLevel: "debug" },
    { category: ["logtape", "meta"], sinks: [], lowestLevel: "error" },
  ],
});

/** A page from `from` holding every other EventId: it opens one run per missing one. */
function sparsePage(from: number, runs: number) {
  const events = Array.from({ length: runs + 1 }, (_, i) => scanEvent(from + 2 * i, 1 + i % 5));
  return {
    fetched: { from, events, full: true, attempts: 1, ms: 1 },
    result: projectPage(from - 1, events),
    projectMs: 0,
    waitMs: 0,
  };
}

Deno.test("runs given up for want of room are warned about once a minute, with the count since", () => {
  records.length = 0;
  const clock = { now: Date.parse("2026-12-03T10:00:00Z") };
  const watch = new LateWatch({
    windowMs: 600_000,
    reread: false,
    pollIntervalMs: 1000,
    logger: getLogger(["late"]),
    now: () => clock.now,
  });
  watch.load(null, 0);
  const warnings = () => records.filter((r) => r.level === "warning");
  const over = 50;
  const runs = MAX_HOLES + over;

  watch.forPage(sparsePage(1, runs));
  assertEquals(warnings().map((r) => r.properties.dropped), [over]);

  clock.now += GIVEN_UP_WARN_MS - 1;
  watch.forPage(sparsePage(1, runs));
  assertEquals(warnings().length, 1, "a second line within the minute");

  clock.now += 1;
  watch.forPage(sparsePage(1, runs));
  assertEquals(warnings().map((r) => r.properties.dropped), [over, 2 * over]);
});
