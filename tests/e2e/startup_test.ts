/**
 * Start-up against a database server that accepts the connection and never answers: connecting
 * is bounded by DB_CONNECT_TIMEOUT_MS, and a signal ends `run` at once, not when the server
 * finally answers.
 */
import { assertEquals, assertIncludes, assertOk } from "../helpers/assert.ts";
import { props, runMain, spawnCli } from "../helpers/cli.ts";

/** A TCP listener that accepts connections and never says a word. */
function silentServer(): { port: number; accepted: () => number; close(): Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connections: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) connections.push(conn);
    } catch {
      // closed
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    accepted: () => connections.length,
    close: async () => {
      listener.close();
      await accepting;
      for (const conn of connections) {
        try {
          conn.close();
        } catch {
          // closed by the client
        }
      }
    },
  };
}

for (
  const [store, url] of [
    ["PostgreSQL", (port: number) => `postgres://scan@127.0.0.1:${port}/scan`],
    ["SQL Server", (port: number) => `mssql://scan:pw@127.0.0.1:${port}/scan?encrypt=false`],
  ] as const
) {
  Deno.test(`${store} that never answers: status gives up after DB_CONNECT_TIMEOUT_MS, exit 1`, async () => {
    const server = silentServer();
    try {
      const started = performance.now();
      const result = await runMain(["status"], {
        env: { DATABASE_URL: url(server.port), DB_CONNECT_TIMEOUT_MS: "800" },
      });
      const seconds = (performance.now() - started) / 1000;
      assertEquals(result.code, 1, result.stderr);
      const line = JSON.parse(result.stderr.trim().split("\n").at(-1) ?? "{}");
      assertIncludes(
        String(props(line).error),
        `${store}: no connection within 800 ms (DB_CONNECT_TIMEOUT_MS) while reading the status`,
      );
      assertOk(seconds < 5, `gave up after ${seconds.toFixed(1)} s`);
      assertOk(server.accepted() >= 1);
    } finally {
      await server.close();
    }
  });
}

Deno.test("SIGTERM while connecting to a silent database ends run within a second, exit 0", async () => {
  const server = silentServer();
  try {
    const worker = spawnCli(["run"], {
      env: { DATABASE_URL: `postgres://scan@127.0.0.1:${server.port}/scan`, LOG_LEVEL: "info" },
    });
    // Wait for the state: the worker is connecting (the listener has its connection).
    for (let i = 0; i < 200 && server.accepted() === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assertOk(server.accepted() >= 1, "the worker never connected");
    const signalled = performance.now();
    worker.process.kill("SIGTERM");
    const result = await worker.done;
    const ms = performance.now() - signalled;
    assertEquals(result.code, 0, result.stdout + result.stderr);
    assertOk(ms < 1000, `ended ${Math.round(ms)} ms after the signal`);
    assertOk(
      result.logs.some((l) => String(l.message).includes("during start-up: exiting")),
      result.stdout,
    );
  } finally {
    await server.close();
  }
});
