import { assertEquals, assertOk } from "../helpers/assert.ts";
import { props, runMain } from "../helpers/cli.ts";
import { serveFeed } from "../helpers/feed_server.ts";
import { readTables } from "../helpers/tables.ts";
import { sleep } from "../../src/retry.ts";
import { FIXTURE_FEED, FIXTURE_TABLES } from "./fixture.ts";

Deno.test("5xx bursts, a stall, a non-JSON 200, a 404 and a 429 are survived exactly", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "scan-worker-faults-" });
  const faults: ((closing: AbortSignal) => Response | Promise<Response>)[] = [
    () => new Response("down", { status: 503 }),
    () => new Response("down", { status: 500 }),
    () => new Response("bad gateway", { status: 502 }),
    async (closing) => {
      await sleep(3000, closing);
      return Response.json({ ScanEvents: [] });
    },
    () => new Response("<html>maintenance</html>", { status: 200 }),
    () => Response.json({ Events: [] }),
    () => new Response("not here", { status: 404 }),
    () => new Response("slow down", { status: 429, headers: { "retry-after": "1" } }),
  ];
  const feed = serveFeed(FIXTURE_FEED, {
    // The faults hit the second page's first requests, so progress before them must be kept.
    fault: (_req, index, closing) => (index >= 1 ? faults[index - 1]?.(closing) ?? null : null),
  });
  try {
    const result = await runMain(["run", "--drain"], {
      env: {
        SCAN_API_URL: feed.url,
        SCAN_API_LIMIT: "3",
        DATABASE_URL: `sqlite:${dir}/scan.db`,
        SCAN_API_TIMEOUT_MS: "300",
        RETRY_BASE_MS: "10",
        RETRY_MAX_MS: "100",
      },
    });
    assertEquals(result.code, 0, result.stdout + result.stderr);
    assertEquals(readTables(`${dir}/scan.db`), FIXTURE_TABLES);
    // Every retry asked for the same page: checkpoint + 1 after the first page.
    assertEquals(feed.requests.slice(1, 10).map((r) => r.from), Array(9).fill(4));

    const failures = result.logs.filter((l) =>
      String(l.message).startsWith("Scan API request failed")
    );
    assertEquals(failures.map((l) => props(l).attempt), [1, 2, 3, 4, 5, 6, 7, 8]);
    assertEquals(failures.map((l) => props(l).status), [503, 500, 502, null, 200, 200, 404, 429]);
    assertEquals(props(failures[3] ?? {}).problem, "no complete response within 300 ms");
    assertOk(String(props(failures[4] ?? {}).problem).startsWith("body is not JSON"));
    assertEquals(props(failures[5] ?? {}).problem, "body has no ScanEvents");
    assertEquals(failures[6]?.level, "ERROR");
    assertEquals(props(failures[6] ?? {}).delayMs, 100);
    assertEquals(props(failures[7] ?? {}).delayMs, 1000);
    assertOk(failures.slice(0, 6).every((l) => l.level === "WARN"));
  } finally {
    await feed.close();
    Deno.removeSync(dir, { recursive: true });
  }
});
