/**
 * `tail` reads and documents only the settings it uses (NATS_URL, NATS_CREDS_FILE, NATS_STREAM,
 * NATS_STREAM_MAX_AGE, logging): the worker's settings, even invalid, do not stop it.
 */
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { assertEquals, assertIncludes, assertOk } from "../helpers/assert.ts";
import { runMain, startMain } from "../helpers/cli.ts";
import { createStream, NATS_IGNORE, startNats } from "../helpers/nats_server.ts";
import { messageId } from "../../src/domain/message.ts";

Deno.test("tail --help lists only the settings tail reads, and NATS_URL as tail uses it", async () => {
  const help = await runMain(["tail", "--help"]);
  assertEquals(help.code, 0);
  for (const variable of ["NATS_URL", "NATS_CREDS_FILE", "NATS_STREAM", "LOG_LEVEL"]) {
    assertIncludes(help.stdout, ` ${variable} `);
  }
  for (
    const other of [
      "RETRY_BASE_MS",
      "RETRY_MAX_MS",
      "LOCK_RETRY_MS",
      "LOG_PROGRESS_MS",
      "POLL_INTERVAL_MS",
      "METRICS_PORT",
      "OUTBOX_MAX_ROWS",
      "DATABASE_URL",
      "SCAN_API_URL",
      "publish accepted events",
    ]
  ) {
    assertOk(!help.stdout.includes(other), `tail --help mentions ${other}:\n${help.stdout}`);
  }
  assertIncludes(help.stdout, "the NATS server whose stream is read");
});

Deno.test("reset's help lists no page size: it reads one event", async () => {
  const help = await runMain(["reset", "--help"]);
  assertEquals(help.code, 0);
  assertIncludes(help.stdout, " SCAN_API_URL ");
  assertOk(!help.stdout.includes("SCAN_API_LIMIT"), help.stdout);
});

Deno.test({
  name: "tail runs with the worker's settings invalid: it does not read them",
  ignore: NATS_IGNORE,
  async fn() {
    const server = await startNats();
    try {
      await createStream(server.url, 60_000);
      const nc = await connect({ servers: server.url.replace("nats://", "") });
      const body =
        '{"EventId":7,"ParcelId":5002,"Type":"PICKUP","CreatedDateTimeUtc":"2024-01-01T00:00:00.0000000Z","StatusCode":"","RunId":null}';
      await jetstream(nc).publish("scan.v1.events.PICKUP.5002", body, { msgID: messageId(7) });
      await nc.close();
      const tail = startMain(["tail", "--from", "1", "--json"], {
        env: {
          NATS_URL: server.url,
          OUTBOX_MAX_ROWS: "abc",
          RETRY_BASE_MS: "soon",
          LOCK_RETRY_MS: "-1",
          SCAN_API_LIMIT: "lots",
          DATABASE_URL: "oracle://nowhere",
        },
      });
      await tail.waitForLine((line) => line === body);
      tail.signal("SIGTERM");
      const result = await tail.done;
      assertEquals(result.code, 0, result.stderr);
    } finally {
      await server.destroy();
    }
  },
});
