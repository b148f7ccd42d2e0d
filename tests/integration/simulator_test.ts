import { getLogger } from "@logtape/logtape";
import { assertEquals, assertOk } from "../helpers/assert.ts";
import { feedShape } from "../../src/simulator/model.ts";
import {
  type FaultRates,
  NO_FAULTS,
  type Simulator,
  startSimulator,
} from "../../src/simulator/server.ts";

function simulator(
  events: number,
  faults: Partial<FaultRates> = {},
  extra: { rate?: number; maxLimit?: number; seed?: number } = {},
): Simulator {
  return startSimulator({
    host: "127.0.0.1",
    port: 0,
    shape: feedShape({ seed: extra.seed ?? 1, events }),
    rate: extra.rate ?? 0,
    maxLimit: extra.maxLimit ?? 1000,
    faults: { ...NO_FAULTS, ...faults },
    logger: getLogger(["test"]),
  });
}

async function page(
  sim: Simulator,
  query: string,
): Promise<{ status: number; ids: number[]; text: string }> {
  const response = await fetch(`${sim.url}${query}`);
  const text = await response.text();
  if (response.status !== 200) return { status: response.status, ids: [], text };
  const body = JSON.parse(text) as { ScanEvents: { EventId: number }[] };
  return { status: 200, ids: body.ScanEvents.map((e) => e.EventId), text };
}

Deno.test("FromEventId is inclusive and defaults to 1; Limit defaults to 100", async () => {
  const sim = simulator(1000);
  try {
    const first = await page(sim, "");
    assertEquals([first.ids.length, first.ids[0], first.ids.at(-1)], [100, 1, 100]);
    assertEquals((await page(sim, "?FromEventId=250&Limit=3")).ids, [250, 251, 252]);
    assertEquals((await page(sim, "?FromEventId=499&Limit=4")).ids, [499, 500, 503, 504]);
    assertEquals((await page(sim, "?FromEventId=501&Limit=2")).ids, [503, 504]);
  } finally {
    await sim.shutdown();
  }
});

Deno.test("Limit is capped by --max-limit, and past the end the page is empty", async () => {
  const sim = simulator(600, {}, { maxLimit: 50 });
  try {
    assertEquals((await page(sim, "?FromEventId=1&Limit=5000")).ids.length, 50);
    assertEquals((await page(sim, "?FromEventId=600&Limit=10")).ids, [600, 601, 602]);
    assertEquals(await page(sim, "?FromEventId=603&Limit=10"), {
      status: 200,
      ids: [],
      text: '{"ScanEvents":[]}',
    });
  } finally {
    await sim.shutdown();
  }
});

Deno.test("bad query values get 400, other paths 404", async () => {
  const sim = simulator(10);
  try {
    assertEquals((await page(sim, "?FromEventId=abc")).status, 400);
    assertEquals((await page(sim, "?Limit=0")).status, 400);
    const response = await fetch(sim.url.replace("/v1/scans/scanevents", "/v2/other"));
    await response.body?.cancel();
    assertEquals(response.status, 404);
  } finally {
    await sim.shutdown();
  }
});

Deno.test("the same seed serves the same bytes", async () => {
  const a = simulator(5000, {}, { seed: 77 });
  const b = simulator(5000, {}, { seed: 77 });
  try {
    const query = "?FromEventId=1234&Limit=1000";
    assertEquals((await page(a, query)).text, (await page(b, query)).text);
  } finally {
    await a.shutdown();
    await b.shutdown();
  }
});

Deno.test("a 10-million-event backlog is served from the first request", async () => {
  const sim = simulator(10_000_000);
  try {
    const tail = await page(sim, "?FromEventId=10039990&Limit=1000");
    assertEquals(tail.ids.at(-1), 10_039_998);
    assertEquals(tail.ids.length, 9);
  } finally {
    await sim.shutdown();
  }
});

Deno.test("--rate grows the feed after the backlog", async () => {
  const sim = simulator(10, {}, { rate: 2000 });
  try {
    // 2000 events/s: more than 50 within 25 ms; waited for, up to 5 s on a slow machine.
    const deadline = Date.now() + 5000;
    while (sim.available() <= 50 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assertOk(sim.available() > 50, `available ${sim.available()}`);
    assertOk((await page(sim, "?FromEventId=11&Limit=1000")).ids.length > 0);
  } finally {
    await sim.shutdown();
  }
});

Deno.test("--fail-rate answers 503", async () => {
  const sim = simulator(100, { failRate: 1 });
  try {
    assertEquals((await page(sim, "")).status, 503);
    assertEquals(sim.stats.faults.fail, 1);
  } finally {
    await sim.shutdown();
  }
});

Deno.test("--garbage-rate answers 200 with a body that is not JSON", async () => {
  const sim = simulator(100, { garbageRate: 1 });
  try {
    const result = await page(sim, "").catch((e) => e);
    assertOk(result instanceof SyntaxError, String(result));
  } finally {
    await sim.shutdown();
  }
});

Deno.test("--reset-rate drops the connection mid-body", async () => {
  const sim = simulator(100, { resetRate: 1 });
  try {
    const response = await fetch(sim.url);
    assertEquals(response.status, 200);
    const error = await response.text().then(() => null, (e) => e);
    assertOk(error instanceof Error, "the body must fail to arrive");
    assertEquals(sim.stats.faults.reset, 1);
  } finally {
    await sim.shutdown();
  }
});

Deno.test("--slow-rate delays responses by --slow-ms", async () => {
  const sim = simulator(100, { slowRate: 1, slowMs: 300 });
  try {
    const started = performance.now();
    assertEquals((await page(sim, "?Limit=1")).ids, [1]);
    assertOk(performance.now() - started >= 290);
  } finally {
    await sim.shutdown();
  }
});

Deno.test("--throttle-rate answers 429 with Retry-After", async () => {
  const sim = simulator(100, { throttleRate: 1 });
  try {
    const response = await fetch(sim.url);
    await response.body?.cancel();
    assertEquals([response.status, response.headers.get("retry-after")], [429, "1"]);
  } finally {
    await sim.shutdown();
  }
});

Deno.test("fault rates hit about their share of requests", async () => {
  const sim = simulator(100, { failRate: 0.3 });
  try {
    const statuses = [];
    for (let i = 0; i < 100; i++) statuses.push((await page(sim, "?Limit=1")).status);
    const failed = statuses.filter((s) => s === 503).length;
    assertOk(failed > 15 && failed < 45, `failed ${failed} of 100`);
  } finally {
    await sim.shutdown();
  }
});
