/**
 * A NATS_STREAM that cannot hold the worker's subjects is a configuration mistake, not a
 * failure to retry: through the CLI against a private NATS server, `run` (publishing or reading
 * the stream) and `tail` exit 2 with one line naming NATS_STREAM.
 */
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { assertEquals, assertOk } from "../helpers/assert.ts";
import { type CliOptions, type CliResult, kill, spawnCli } from "../helpers/cli.ts";
import { createStream, NATS_IGNORE, type PrivateNats, startNats } from "../helpers/nats_server.ts";
import { startSimulator } from "../helpers/simulator.ts";
import { tempDatabase } from "../helpers/tables.ts";

/** A test with a private broker and a temporary SQLite database. */
function streamTest(
  name: string,
  body: (server: PrivateNats, env: Record<string, string>) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: NATS_IGNORE,
    async fn() {
      const server = await startNats();
      const db = tempDatabase("scan-worker-stream-config-");
      try {
        await body(server, {
          NATS_URL: server.url,
          DATABASE_URL: db.url,
          RETRY_BASE_MS: "20",
          RETRY_MAX_MS: "200",
        });
      } finally {
        await server.destroy();
        Deno.removeSync(db.dir, { recursive: true });
      }
    },
  });
}

/** Exit 2 with one line on stderr, naming NATS_STREAM; nothing retried. */
function assertNamesNatsStream(result: CliResult, detail: string): void {
  assertEquals(result.code, 2, `${result.stderr}\n${result.stdout.slice(-2000)}`);
  // tail logs to stderr: its JSON log lines aside, one line.
  const lines = result.stderr.trim().split("\n").filter((line) => !line.startsWith("{"));
  assertEquals(lines.length, 1, result.stderr);
  assertOk(lines[0]?.startsWith("scan-worker: invalid NATS_STREAM: "), lines[0]);
  assertOk(lines[0]?.includes(detail), lines[0]);
  assertOk(!result.stdout.includes("could not publish"), "not retried as a publish failure");
}

/** Run the CLI, killed after 60 s: a mistake retried for ever fails the test instead of hanging it. */
async function runCli(args: string[], options: CliOptions): Promise<CliResult> {
  const running = spawnCli(args, options);
  const timer = setTimeout(() => kill(running.process, "SIGKILL"), 60_000);
  try {
    return await running.done;
  } finally {
    clearTimeout(timer);
  }
}

/** The names of the streams on the server. */
async function streamNames(url: string): Promise<string[]> {
  const nc = await connect({ servers: url.replace("nats://", "") });
  try {
    const names: string[] = [];
    for await (const name of (await jetstreamManager(nc)).streams.names()) names.push(name);
    return names.sort();
  } finally {
    await nc.close();
  }
}

streamTest(
  "NATS_STREAM=OTHER where SCAN_EVENTS holds scan.v1.events.>: run, run --source nats (also in a group) and tail exit 2",
  async (server, env) => {
    await createStream(server.url, 60_000); // SCAN_EVENTS, scan.v1.events.>
    const sim = await startSimulator(["--events", "300", "--seed", "31"]);
    try {
      const wrong = { ...env, NATS_STREAM: "OTHER" };
      const run = await runCli(["run", "--drain"], { env: { ...wrong, SCAN_API_URL: sim.url } });
      assertNamesNatsStream(
        run,
        "SCAN_EVENTS already holds scan.v1.events.> (JetStream error 10065)",
      );
      assertOk(run.stderr.includes("set NATS_STREAM to SCAN_EVENTS"), run.stderr);
    } finally {
      await sim.stop();
    }
    const downstream = await runCli(["run", "--source", "nats", "--drain"], {
      env: { ...env, NATS_STREAM: "OTHER" },
    });
    assertNamesNatsStream(downstream, "SCAN_EVENTS already holds");
    const member = await runCli(["run", "--source", "nats", "--group", "ledger", "--drain"], {
      env: { ...env, NATS_STREAM: "OTHER" },
    });
    assertNamesNatsStream(member, "SCAN_EVENTS already holds");
    const tail = await runCli(["tail", "--from", "1"], {
      env: { NATS_URL: server.url, NATS_STREAM: "OTHER" },
    });
    assertNamesNatsStream(tail, "SCAN_EVENTS already holds");
    assertEquals(await streamNames(server.url), ["SCAN_EVENTS"]);
  },
);

streamTest(
  "NATS_STREAM naming a stream of other subjects: run exits 2, and makes no stream of its own",
  async (server, env) => {
    const nc = await connect({ servers: server.url.replace("nats://", "") });
    try {
      await (await jetstreamManager(nc)).streams.add({ name: "ORDERS", subjects: ["orders.>"] });
    } finally {
      await nc.close();
    }
    const sim = await startSimulator(["--events", "300", "--seed", "32"]);
    try {
      const run = await runCli(["run", "--drain"], {
        env: { ...env, NATS_STREAM: "ORDERS", SCAN_API_URL: sim.url },
      });
      assertNamesNatsStream(run, "the stream ORDERS holds orders.>, not scan.v1.events.>");
    } finally {
      await sim.stop();
    }
    assertEquals(await streamNames(server.url), ["ORDERS"]);
  },
);
