import { getLogger } from "@logtape/logtape";
import { assertEquals, assertRejects } from "../helpers/assert.ts";
import { type AttemptFailure, type ClientOptions, ScanApiClient } from "../../src/api/client.ts";
import { FetchAbortedError } from "../../src/source.ts";

const encoder = new TextEncoder();

/** A raw TCP HTTP server whose first connection is dropped halfway through the body. */
function droppingServer(): { url: string; connections: () => number; close: () => Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let count = 0;
  const handle = async (conn: Deno.Conn, index: number) => {
    const buffer = new Uint8Array(4096);
    await conn.read(buffer);
    const body = '{"ScanEvents": [{"EventId": 1, "ParcelId": 2}]}';
    const head = `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n` +
      `content-length: ${body.length}\r\n\r\n`;
    const text = index === 0 ? head + body.slice(0, 20) : head + body;
    await conn.write(encoder.encode(text));
    conn.close();
  };
  const serving = (async () => {
    const handlers: Promise<void>[] = [];
    try {
      for await (const conn of listener) handlers.push(handle(conn, count++));
    } catch {
      // The listener was closed.
    }
    await Promise.allSettled(handlers);
  })();
  const { port } = listener.addr as Deno.NetAddr;
  return {
    url: `http://127.0.0.1:${port}/v1/scans/scanevents`,
    connections: () => count,
    close: async () => {
      listener.close();
      await serving;
    },
  };
}

/** A client of `url` with the tests' settings, and `more`. */
function clientWith(url: string, more: Partial<ClientOptions> = {}): ScanApiClient {
  return new ScanApiClient({
    url,
    limit: 50,
    token: null,
    timeoutMs: 2000,
    maxBodyBytes: 1024 * 1024,
    backoff: { baseMs: 1, capMs: 5 },
    logger: getLogger(["test"]),
    ...more,
  });
}

function client(url: string, failures: AttemptFailure[], timeoutMs = 2000): ScanApiClient {
  return clientWith(url, { timeoutMs, onRetry: (failure) => failures.push(failure) });
}

Deno.test("the page URL carries FromEventId and Limit", () => {
  const c = client("http://api.example/v1/scans/scanevents", []);
  assertEquals(
    c.pageUrl(83270),
    "http://api.example/v1/scans/scanevents?FromEventId=83270&Limit=50",
  );
});

Deno.test("a connection dropped mid-body is retried and the page then arrives", async () => {
  const server = droppingServer();
  const failures: AttemptFailure[] = [];
  try {
    const page = await client(server.url, failures).fetchPage(1, new AbortController().signal);
    assertEquals(page.events, [{ EventId: 1, ParcelId: 2 }]);
    assertEquals(page.attempts, 2);
    assertEquals(failures.length, 1);
    assertEquals(failures[0]?.status, null);
    assertEquals(failures[0]?.problem.startsWith("request failed: "), true);
  } finally {
    await server.close();
  }
});

Deno.test("fetchPage gives up only when its signal aborts", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("no", { status: 503 }),
  );
  const failures: AttemptFailure[] = [];
  const controller = new AbortController();
  try {
    const c = client(`http://127.0.0.1:${server.addr.port}/x`, failures);
    const fetching = c.fetchPage(7, controller.signal);
    while (failures.length < 5) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    await assertRejects(fetching, FetchAbortedError, /FromEventId=7/);
    assertEquals(failures.every((f) => f.status === 503 && f.from === 7 && !f.permanent), true);
  } finally {
    await server.shutdown();
  }
});

Deno.test("a request cancelled by the worker is not counted as an API outcome", async () => {
  // The server answers only once told to: the first request is in flight when it is cancelled.
  const release = Promise.withResolvers<void>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async () => {
      await release.promise;
      return Response.json({ ScanEvents: [] });
    },
  );
  const outcomes: string[] = [];
  const controller = new AbortController();
  try {
    const c = clientWith(`http://127.0.0.1:${server.addr.port}/x`, {
      events: { request: (outcome) => outcomes.push(outcome), retry: () => {} },
    });
    const cancelled = c.fetchPage(1, controller.signal);
    await new Promise((r) => setTimeout(r, 50));
    controller.abort();
    await assertRejects(cancelled, FetchAbortedError);
    release.resolve();
    await c.fetchPage(1, new AbortController().signal);
    assertEquals(outcomes, ["ok"]);
  } finally {
    release.resolve();
    await server.shutdown();
  }
});

Deno.test("each retry is reported with its wait: Retry-After when the API gives one, else the backoff", async () => {
  const answers = [
    () => new Response("busy", { status: 503, headers: { "retry-after": "0" } }),
    () => new Response("broken", { status: 500 }),
    () => Response.json({ ScanEvents: [] }),
  ];
  let served = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => (answers[served++] ?? answers[2] as () => Response)(),
  );
  const outcomes: string[] = [];
  const waits: number[] = [];
  try {
    const c = clientWith(`http://127.0.0.1:${server.addr.port}/x`, {
      backoff: { baseMs: 20, capMs: 40 },
      events: {
        request: (outcome) => outcomes.push(outcome),
        retry: (_kind, delayMs) => waits.push(delayMs),
      },
    });
    const page = await c.fetchPage(1, new AbortController().signal);
    assertEquals([page.attempts, outcomes], [3, ["http_5xx", "http_5xx", "ok"]]);
    assertEquals(waits.length, 2);
    assertEquals(waits[0], 0, "the API's Retry-After: 0");
    assertEquals((waits[1] ?? -1) >= 0 && (waits[1] ?? 99) <= 40, true, `backoff ${waits[1]}`);
  } finally {
    await server.shutdown();
  }
});

/** The first failed attempt of fetching `url`: its outcome label and its problem. */
async function firstFailure(url: string): Promise<{ outcome: string; problem: string }> {
  const outcomes: string[] = [];
  const failures: AttemptFailure[] = [];
  const controller = new AbortController();
  const c = clientWith(url, {
    timeoutMs: 5000,
    onRetry: (failure) => {
      failures.push(failure);
      controller.abort();
    },
    events: { request: (outcome) => outcomes.push(outcome), retry: () => {} },
  });
  await assertRejects(c.fetchPage(1, controller.signal), FetchAbortedError);
  return { outcome: failures[0]?.outcome ?? "", problem: failures[0]?.problem ?? "" };
}

Deno.test("a failed request names its cause: DNS, refused, TLS, reset", async () => {
  const dns = await firstFailure("http://nohost.invalid/v1/scans/scanevents");
  assertEquals(dns.outcome, "dns");
  assertEquals(dns.problem.startsWith("request failed: DNS lookup failed ("), true, dns.problem);

  const free = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (free.addr as Deno.NetAddr).port;
  free.close();
  const refused = await firstFailure(`http://127.0.0.1:${port}/x`);
  assertEquals(refused.outcome, "refused");
  assertEquals(refused.problem.startsWith("request failed: connection refused ("), true);

  const plain = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => Response.json({ ScanEvents: [] }),
  );
  try {
    const tls = await firstFailure(`https://127.0.0.1:${plain.addr.port}/x`);
    assertEquals(tls.outcome, "tls");
    assertEquals(tls.problem.startsWith("request failed: TLS failed (is the URL's scheme"), true);
  } finally {
    await plain.shutdown();
  }

  const dropping = droppingServer();
  try {
    const reset = await firstFailure(dropping.url);
    assertEquals(reset.outcome, "reset", reset.problem);
  } finally {
    await dropping.close();
  }
});
