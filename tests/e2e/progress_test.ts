import { assertOk } from "../helpers/assert.ts";
import { startMain } from "../helpers/cli.ts";
import { startSimulator } from "../helpers/simulator.ts";
import { tempDatabase } from "../helpers/tables.ts";

/** An info line that says the feed is caught up (the summary, or the short form). */
function caughtUpInfo(line: Record<string, unknown>): boolean {
  return line.level === "INFO" && String(line.message).startsWith("Caught up at checkpoint");
}

Deno.test("a live feed bringing more than a page per poll says 'Caught up' once per LOG_PROGRESS_MS, not every poll", async () => {
  const db = tempDatabase("scan-worker-progress-");
  // 1500 events/s polled every 100 ms with Limit=100: a full page and a short one per poll.
  const simulator = await startSimulator(["--port", "0", "--events", "200", "--rate", "1500"]);
  const worker = startMain(["run"], {
    env: {
      SCAN_API_URL: simulator.url,
      SCAN_API_LIMIT: "100",
      DATABASE_URL: db.url,
      POLL_INTERVAL_MS: "100",
      LOG_PROGRESS_MS: "1000",
      LOG_LEVEL: "debug",
    },
  });
  try {
    let seen = 0;
    await worker.waitForLog((line) => caughtUpInfo(line) && ++seen === 3, 60_000);
  } finally {
    worker.signal("SIGINT");
    await worker.done;
    await simulator.stop();
    await Deno.remove(db.dir, { recursive: true });
  }
  const logs = (await worker.done).logs;
  const infos = logs.flatMap((line, i) => (caughtUpInfo(line) ? [i] : []));
  const [second, third] = [infos[1] ?? 0, infos[2] ?? 0];
  const pagesBetween =
    logs.slice(second, third).filter((line) => String(line.message).startsWith("Page ")).length;
  // Every poll writes about two pages: one line a second holds several polls' pages (every
  // poll at info would hold two).
  assertOk(pagesBetween >= 6, `${pagesBetween} pages between two 'Caught up' info lines`);
});
