import { assertEquals, assertIncludes, assertOk } from "../helpers/assert.ts";
import { props, runMain, startMain } from "../helpers/cli.ts";
import { entries, serveFeed } from "../helpers/feed_server.ts";
import { readTables, tempDatabase } from "../helpers/tables.ts";
import { FIXTURE_FEED } from "./fixture.ts";

/** A Prometheus text exposition's unlabelled samples, by name (NaN when absent). */
function samples(text: string): (name: string) => number {
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    const match = /^(scan_worker_[a-z_]+) (\S+)$/.exec(line);
    if (match?.[1] !== undefined) values.set(match[1], Number(match[2]));
  }
  return (name) => values.get(name) ?? Number.NaN;
}

async function get(url: string): Promise<{ status: number; text: string }> {
  const response = await fetch(url);
  return { status: response.status, text: await response.text() };
}

async function until(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function feedOf(count: number) {
  return entries(Array.from({ length: count }, (_, i) => ({
    EventId: i + 1,
    ParcelId: 100 + (i % 37),
    Type: i % 37 === i ? "PICKUP" : "STATUS",
    CreatedDateTimeUtc: `2021-05-11T10:00:00.${String(i).padStart(7, "0")}Z`,
  })));
}

Deno.test("/metrics scraped during a drain agrees with the database", async () => {
  const db = tempDatabase("scan-worker-metrics-");
  const feed = serveFeed(feedOf(3000), { delayMs: 20 });
  const worker = startMain(["run", "--metrics-port", "0"], {
    env: {
      SCAN_API_URL: feed.url,
      SCAN_API_LIMIT: "100",
      DATABASE_URL: db.url,
      POLL_INTERVAL_MS: "200",
      LOG_PROGRESS_MS: "200",
    },
  });
  try {
    const listening = await worker.waitForLog((l) =>
      String(l.message).startsWith("Health and metrics on")
    );
    const base = String(props(listening).url);
    assertOk(base.startsWith("http://127.0.0.1:"), base);

    // During the drain: the counters move and never run ahead of the database.
    await worker.waitForLog((l) => String(l.message).startsWith("Catching up"));
    const during = samples((await get(`${base}/metrics`)).text);
    const checkpointThen = readTables(db.path).checkpoint;
    assertOk(
      during("scan_worker_events_applied_total") > 0 &&
        during("scan_worker_events_applied_total") <= checkpointThen,
    );

    await worker.waitForLog((l) => String(l.message).startsWith("Caught up at checkpoint"), 30_000);
    const metrics = await get(`${base}/metrics`);
    assertEquals(metrics.status, 200);
    const after = samples(metrics.text);
    const tables = readTables(db.path);
    assertEquals(tables.checkpoint, 3000);
    assertEquals(after("scan_worker_events_applied_total"), 3000);
    assertEquals(after("scan_worker_events_rejected_total"), tables.rejected.length);
    assertEquals(after("scan_worker_checkpoint_event_id"), tables.checkpoint);
    assertEquals(after("scan_worker_pages_total"), 30);
    assertEquals(after("scan_worker_page_duration_seconds_count"), 30);
    assertEquals(after("scan_worker_feed_lock_held"), 1);
    assertOk(after("scan_worker_newest_event_age_seconds") > 0);
    assertOk(after("scan_worker_last_successful_poll_age_seconds") < 5);
    assertIncludes(metrics.text, 'scan_worker_api_requests_total{outcome="ok"}');
    assertIncludes(metrics.text, "\nprocess_resident_memory_bytes ");

    const health = await get(`${base}/healthz`);
    assertEquals(health.status, 200);
    const ready = await get(`${base}/readyz`);
    assertEquals([ready.status, JSON.parse(ready.text).role], [200, "active"]);
  } finally {
    worker.signal("SIGTERM");
    const result = await worker.done;
    assertEquals(result.code, 0);
    // Catching up is told in progress lines at info, not one line per page.
    assertEquals(result.logs.filter((l) => String(l.message).startsWith("Page ")).length, 0);
    await feed.close();
    Deno.removeSync(db.dir, { recursive: true });
  }
});

Deno.test("/readyz turns 503 while the API is down and 200 when it returns; /healthz stays 200", async () => {
  const db = tempDatabase("scan-worker-ready-");
  let down = false;
  const feed = serveFeed(
    entries(
      FIXTURE_FEED.flatMap((e) =>
        typeof e.raw === "object" && e.raw !== null && "EventId" in e.raw
          ? [e.raw as { EventId: number }]
          : []
      ),
    ),
    {
      fault: () => (down ? new Response("down", { status: 503 }) : null),
    },
  );
  const worker = startMain(["run"], {
    env: {
      SCAN_API_URL: feed.url,
      DATABASE_URL: db.url,
      POLL_INTERVAL_MS: "100",
      RETRY_BASE_MS: "50",
      RETRY_MAX_MS: "200",
      METRICS_PORT: "0",
    },
  });
  try {
    const base = String(
      props(await worker.waitForLog((l) => String(l.message).startsWith("Health and metrics on")))
        .url,
    );
    await until(async () => (await get(`${base}/readyz`)).status === 200, 10_000, "ready");

    down = true;
    await until(async () => (await get(`${base}/readyz`)).status === 503, 10_000, "not ready");
    const notReady = JSON.parse((await get(`${base}/readyz`)).text);
    assertEquals(notReady.reason, "last poll failed (http_5xx)");
    assertEquals((await get(`${base}/healthz`)).status, 200);

    down = false;
    await until(async () => (await get(`${base}/readyz`)).status === 200, 10_000, "ready again");
    assertEquals((await get(`${base}/healthz`)).status, 200);
    assertEquals((await get(`${base}/nothing`)).status, 404);
  } finally {
    worker.signal("SIGTERM");
    assertEquals((await worker.done).code, 0);
    await feed.close();
    Deno.removeSync(db.dir, { recursive: true });
  }
});

Deno.test("without METRICS_PORT no listener is started", async () => {
  const db = tempDatabase("scan-worker-nolistener-");
  const feed = serveFeed(feedOf(10));
  try {
    const result = await runMain(["run", "--drain"], {
      env: { SCAN_API_URL: feed.url, DATABASE_URL: db.url },
    });
    assertEquals(result.code, 0, result.stderr);
    assertEquals(result.logs.filter((l) => String(l.logger).startsWith("scan-worker.http")), []);
    assertEquals(
      result.logs.some((l) => String(l.message).startsWith("Caught up at checkpoint 10")),
      true,
    );
  } finally {
    await feed.close();
    Deno.removeSync(db.dir, { recursive: true });
  }
});

Deno.test("status --json reports the newest event and its age", async () => {
  const db = tempDatabase("scan-worker-status-age-");
  const feed = serveFeed(feedOf(10));
  try {
    const env = { SCAN_API_URL: feed.url, DATABASE_URL: db.url };
    assertEquals((await runMain(["run", "--drain"], { env })).code, 0);
    const report = JSON.parse((await runMain(["status", "--json"], { env })).stdout);
    assertEquals(report.newestEventUtc, "2021-05-11T10:00:00.0000009Z");
    assertOk(report.newestEventAgeSeconds > 100_000_000, String(report.newestEventAgeSeconds));
    assertOk(report.checkpointAgeSeconds >= 0 && report.checkpointAgeSeconds < 60);
  } finally {
    await feed.close();
    Deno.removeSync(db.dir, { recursive: true });
  }
});
