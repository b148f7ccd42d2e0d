import { configure, getLogger, type LogRecord, reset } from "@logtape/logtape";
import { assertEquals } from "../helpers/assert.ts";
import { scanEvent } from "../helpers/events.ts";
import { projectPage } from "../../src/domain/project.ts";
import { Progress } from "../../src/worker/progress.ts";
import type { LoopPage } from "../../src/worker/loop.ts";

const records: LogRecord[] = [];
await configure({
  reset: true,
  sinks: { memory: (record) => records.push(record) },
  loggers: [
    { category: ["progress"], sinks: ["memory"], lowestLevel: "debug" },
    { category: ["logtape", "meta"], sinks: [], lowestLevel: "error" },
  ],
});

/** A page of `count` events from `from`, each created at 10:00 on 2021-05-11. */
function page(from: number, count: number, full: boolean): LoopPage {
  const events = Array.from({ length: count }, (_, i) => scanEvent(from + i, 1 + i % 5));
  return {
    fetched: { from, events, full, attempts: 1, ms: 1 },
    result: projectPage(from - 1, events),
    projectMs: 0,
    waitMs: 0,
  };
}

/** The info lines logged while `work` runs. */
function infoLines(work: () => void): LogRecord[] {
  records.length = 0;
  work();
  return records.filter((r) => r.level === "info");
}

const NOON = Date.parse("2021-05-11T12:00:00Z");

Deno.test("a live feed says it is caught up once per interval, every poll at debug", () => {
  const clock = { now: NOON };
  const progress = new Progress(getLogger(["progress"]), 10_000, () => clock.now);
  const lines = infoLines(() => {
    for (let poll = 0; poll < 10; poll++) {
      clock.now += 2_000;
      const p = page(1 + poll * 3, 3, false);
      progress.written(p, { rejected: [], outboxed: 0 }, 1);
      progress.caughtUp(p.result.to);
    }
  });
  // Polls every 2 s: the first one that catches up says so (at 2 s); then one summary once
  // 10 s have passed (at 12 s, of the five polls since); the other eight polls at debug.
  assertEquals(lines.length, 2);
  assertEquals(lines.map((l) => l.properties.applied), [3, 15]);
  assertEquals(
    records.filter((r) => r.level === "debug" && String(r.rawMessage).startsWith("Caught up"))
      .length,
    8,
  );
});

Deno.test("catching up gives the rate and the lag of the newest applied event", () => {
  const clock = { now: NOON };
  const progress = new Progress(getLogger(["progress"]), 10_000, () => clock.now);
  const lines = infoLines(() => {
    for (let i = 0; i < 6; i++) {
      clock.now += 2_500;
      const p = page(1 + i * 100, 100, true);
      progress.written(p, { rejected: [], outboxed: 0 }, 1);
      progress.tick(p.result.to);
    }
  });
  assertEquals(lines.length, 1);
  assertEquals(lines[0]?.properties.eventsPerSecond, 40);
  assertEquals(lines[0]?.properties.lagSeconds, 2 * 3600 + 10);
  assertEquals(String(lines[0]?.rawMessage).startsWith("Catching up:"), true);
});

Deno.test("only the rejections that were stored are reported and counted", () => {
  const progress = new Progress(getLogger(["progress"]), 10_000);
  const p = page(1, 2, false);
  const rejection = {
    eventId: null,
    reason: "event must be a JSON object, got a string",
    payload: '"x"',
  };
  records.length = 0;
  progress.written(p, { rejected: [rejection], outboxed: 0 }, 1);
  progress.written(p, { rejected: [], outboxed: 0 }, 1);
  assertEquals(records.filter((r) => r.level === "warning").length, 1);
  assertEquals(progress.totals.rejected, 1);
});

Deno.test("each page's debug line says where its time went: decode, parse, project, write", () => {
  const progress = new Progress(getLogger(["progress"]), 10_000, () => NOON);
  const p = page(1, 4, true);
  records.length = 0;
  progress.written(
    {
      ...p,
      fetched: { ...p.fetched, ms: 9.6, stages: { decodeMs: 0.123, parseMs: 2.345 } },
      projectMs: 1.006,
      waitMs: 0.04,
    },
    { rejected: [], outboxed: 0 },
    3.5,
  );
  const line = records.find((r) => String(r.rawMessage).startsWith("Page "));
  assertEquals(line?.level, "debug");
  const { fetchMs, waitMs, ms, decodeMs, parseMs, projectMs, writeMs } = line?.properties ?? {};
  assertEquals(
    { fetchMs, waitMs, ms, decodeMs, parseMs, projectMs, writeMs },
    {
      fetchMs: 10,
      waitMs: 0.04,
      ms: 5,
      decodeMs: 0.12,
      parseMs: 2.35,
      projectMs: 1.01,
      writeMs: 3.5,
    },
  );
});

Deno.test("caught up right after a catching-up line (nothing since) is still said, once", () => {
  const clock = { now: NOON };
  const progress = new Progress(getLogger(["progress"]), 200, () => clock.now);
  const lines = infoLines(() => {
    const last = page(1, 4, true);
    clock.now += 300; // the interval has passed as the feed's last full page is written
    progress.written(last, { rejected: [], outboxed: 0 }, 1);
    progress.tick(last.result.to);
    progress.caughtUp(last.result.to); // the next page is empty
    progress.caughtUp(last.result.to); // and the next poll too
  });
  assertEquals(lines.map((l) => String(l.rawMessage).split(":")[0]), [
    "Catching up",
    "Caught up at checkpoint {checkpoint}",
  ]);
  assertEquals(lines[1]?.properties.checkpoint, 4);
});

Deno.test("a live feed with a full page in every poll says it is caught up once per interval", () => {
  const clock = { now: NOON };
  const progress = new Progress(getLogger(["progress"]), 10_000, () => clock.now);
  const lines = infoLines(() => {
    // Polls every second, each bringing more than a page: one full page, then a short one.
    for (let poll = 0; poll < 25; poll++) {
      clock.now += 1_000;
      const full = page(1 + poll * 6, 4, true);
      progress.written(full, { rejected: [], outboxed: 0 }, 1);
      progress.tick(full.result.to);
      const short = page(5 + poll * 6, 2, false);
      progress.written(short, { rejected: [], outboxed: 0 }, 1);
      progress.caughtUp(short.result.to);
    }
  });
  // At 1 s (the first time it is caught up), then at 11 s and 21 s: never "Catching up".
  assertEquals(lines.map((l) => String(l.rawMessage).split(" ")[0]), [
    "Caught",
    "Caught",
    "Caught",
  ]);
  assertEquals(lines.map((l) => l.properties.pages), [2, 20, 20]);
});

Deno.test("a backlog that lasts a whole interval after a live feed says catching up, then caught up at once", () => {
  const clock = { now: NOON };
  const progress = new Progress(getLogger(["progress"]), 10_000, () => clock.now);
  const lines = infoLines(() => {
    const live = page(1, 2, false);
    clock.now += 1_000;
    progress.written(live, { rejected: [], outboxed: 0 }, 1);
    progress.caughtUp(live.result.to);
    for (let i = 0; i < 12; i++) {
      clock.now += 1_000;
      const full = page(3 + i * 4, 4, true);
      progress.written(full, { rejected: [], outboxed: 0 }, 1);
      progress.tick(full.result.to);
    }
    const last = page(51, 1, false);
    clock.now += 1_000;
    progress.written(last, { rejected: [], outboxed: 0 }, 1);
    progress.caughtUp(last.result.to);
  });
  // Caught up at 1 s; full pages from 2 s: "Catching up" at 12 s, a whole interval later (11
  // pages); caught up again at 14 s, said at once (2 pages).
  assertEquals(lines.map((l) => String(l.rawMessage).split(" ")[0]), [
    "Caught",
    "Catching",
    "Caught",
  ]);
  assertEquals(lines.map((l) => l.properties.pages), [1, 11, 2]);
});

Deno.test("a burst of full pages after a poll wait longer than the interval is not catching up", () => {
  const clock = { now: NOON };
  const progress = new Progress(getLogger(["progress"]), 4_000, () => clock.now);
  const lines = infoLines(() => {
    // Polls every 5 s; each finds three full pages and a short one, written within 30 ms.
    for (let poll = 0; poll < 4; poll++) {
      if (poll > 0) clock.now += 5_000;
      for (let i = 0; i < 4; i++) {
        clock.now += 10;
        const p = page(1 + (poll * 4 + i) * 4, 4, i < 3);
        progress.written(p, { rejected: [], outboxed: 0 }, 1);
        if (i < 3) progress.tick(p.result.to);
        else progress.caughtUp(p.result.to);
      }
    }
  });
  assertEquals(lines.map((l) => String(l.rawMessage).split(" ")[0]), [
    "Caught",
    "Caught",
    "Caught",
    "Caught",
  ]);
});

Deno.test("progress: logging reset", async () => {
  await reset();
});
