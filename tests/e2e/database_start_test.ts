/**
 * A database that is not up yet when the worker starts (a container that starts a moment later):
 * the worker waits for it, within DB_CONNECT_TIMEOUT_MS, and then works; a database that never
 * comes up ends start-up with one line naming the store, DATABASE_URL (masked) and the cause.
 */
import { assertEquals, assertIncludes, assertOk } from "../helpers/assert.ts";
import { props, runMain, startMain } from "../helpers/cli.ts";
import { serveFeed } from "../helpers/feed_server.ts";
import { CLUSTER_SKIP, freePort, startCluster } from "../helpers/pg_cluster.ts";
import { FIXTURE_FEED, FIXTURE_TABLES } from "./fixture.ts";

Deno.test({
  name: "PostgreSQL that starts after the worker: run waits for it, then drains the feed",
  ignore: CLUSTER_SKIP !== null,
  async fn() {
    const cluster = await startCluster();
    const feed = serveFeed(FIXTURE_FEED);
    try {
      await cluster.stop();
      const worker = startMain(["run", "--drain"], {
        env: {
          SCAN_API_URL: feed.url,
          DATABASE_URL: cluster.url(),
          DB_CONNECT_TIMEOUT_MS: "60000",
          LOG_LEVEL: "info",
        },
      });
      // The state: the worker found the server down and says it waits.
      const waiting = await worker.waitForLog(
        (line) => String(line.message).includes("does not answer yet"),
        30_000,
      );
      assertIncludes(String(waiting.message), "ECONNREFUSED");
      await cluster.start();
      const result = await worker.done;
      assertEquals(result.code, 0, result.stdout + result.stderr);
      const status = await runMain(["status", "--json"], { env: { DATABASE_URL: cluster.url() } });
      assertEquals(status.code, 0, status.stderr);
      assertEquals(JSON.parse(status.stdout).checkpoint, FIXTURE_TABLES.checkpoint);
    } finally {
      await feed.close();
      await cluster.destroy();
    }
  },
});

Deno.test("a database that never comes up: one line with the store, the masked URL and the cause, exit 1", async () => {
  const port = freePort();
  const url = `postgres://scan:pw-hidden@127.0.0.1:${port}/scan`;
  const started = performance.now();
  const result = await runMain(["status"], {
    env: { DATABASE_URL: url, DB_CONNECT_TIMEOUT_MS: "1500" },
  });
  const seconds = (performance.now() - started) / 1000;
  assertEquals(result.code, 1, result.stderr);
  const line = JSON.parse(result.stderr.trim().split("\n").at(-1) ?? "{}");
  assertEquals(
    String(props(line).error),
    `PostgreSQL at postgres://scan:***@127.0.0.1:${port}/scan: not reachable within 1500 ms (DB_CONNECT_TIMEOUT_MS): connect ECONNREFUSED 127.0.0.1:${port}`,
  );
  assertOk(!result.stderr.includes("pw-hidden") && !result.stdout.includes("pw-hidden"));
  assertOk(seconds >= 1.2, `gave up after ${seconds.toFixed(1)} s: it did not wait`);
});
