/**
 * OpenTelemetry end to end: a worker with `OTEL_DENO=true` exports to an in-test OTLP/HTTP
 * receiver (JSON), upstream (API → SQLite → outbox → a private nats-server) and downstream
 * (`run --source nats`): the page, publish and process spans with their attributes, the request
 * and the write beneath each page, downstream spans linked to upstream pages, log records with
 * their page's trace. A receiver that answers 503 or never answers changes nothing in the
 * tables; with OTEL_DENO unset nothing is sent.
 */
import { assertEquals, assertOk } from "../helpers/assert.ts";
import { NATS_IGNORE, readStream, startNats } from "../helpers/nats_server.ts";
import { oracle } from "../helpers/oracle.ts";
import { type ReceiverMode, startOtlpReceiver } from "../helpers/otlp_receiver.ts";
import { startSimulator } from "../helpers/simulator.ts";
import { readTables, tempDatabase } from "../helpers/tables.ts";
import { cliCommand } from "../../scripts/subprocess.ts";
import { feedShape } from "../../src/simulator/model.ts";

const EVENTS = 3000;
const SEED = 25;
const MALFORMED = 0.01;
const SIMULATOR = [
  "--events",
  String(EVENTS),
  "--seed",
  String(SEED),
  "--malformed-rate",
  String(MALFORMED),
];

/** Variables a subprocess keeps from ours (nothing of the program's or of OpenTelemetry's). */
const KEPT = ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR"];

/** Run `scan-worker args` as a subprocess with exactly `env` (and the runtime's own variables). */
async function scanWorker(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const cwd = Deno.makeTempDirSync({ prefix: "scan-worker-cwd-" });
  try {
    const kept = Object.fromEntries(
      KEPT.flatMap((name) => {
        const value = Deno.env.get(name);
        return value === undefined ? [] : [[name, value]];
      }),
    );
    const output = await cliCommand(args, { env: { ...kept, ...env }, clearEnv: true, cwd })
      .output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } finally {
    Deno.removeSync(cwd, { recursive: true });
  }
}

/** The JSON log lines of a run's stdout. */
function logLines(stdout: string): Record<string, unknown>[] {
  return stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

/** The messages of a run's log lines. */
function logMessages(stdout: string): string[] {
  return logLines(stdout).map((l) => String(l.message));
}

/** The settings that turn Deno's export on, towards `endpoint`, as JSON. */
function otel(endpoint: string, service: string): Record<string, string> {
  return {
    OTEL_DENO: "true",
    OTEL_DENO_CONSOLE: "replace",
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_EXPORTER_OTLP_TIMEOUT: "1000",
    OTEL_SERVICE_NAME: service,
  };
}

/**
 * An upstream drain with NATS_URL, then a downstream `run --source nats --drain` and a group
 * member `run --source nats --group --drain`, each into its own database.
 */
async function pipeline(
  extra: (service: string) => Record<string, string>,
): Promise<{ upstream: string; downstream: string; group: string }> {
  const server = await startNats();
  const sim = await startSimulator(SIMULATOR);
  const up = tempDatabase("scan-worker-otel-up-");
  const down = tempDatabase("scan-worker-otel-down-");
  const member = tempDatabase("scan-worker-otel-group-");
  try {
    const common = {
      NATS_URL: server.url,
      SCAN_API_URL: sim.url,
      SCAN_API_LIMIT: "500",
      LOG_FORMAT: "json",
      RETRY_BASE_MS: "20",
      RETRY_MAX_MS: "300",
    };
    const upstream = await scanWorker(["run", "--drain"], {
      ...common,
      DATABASE_URL: up.url,
      ...extra("scan-worker-upstream"),
    });
    assertEquals(upstream.code, 0, upstream.stdout.slice(-2000) + upstream.stderr);
    const downstream = await scanWorker(["run", "--source", "nats", "--drain"], {
      ...common,
      DATABASE_URL: down.url,
      ...extra("scan-worker-downstream"),
    });
    assertEquals(downstream.code, 0, downstream.stdout.slice(-2000) + downstream.stderr);
    const group = await scanWorker(["run", "--source", "nats", "--group", "otel", "--drain"], {
      ...common,
      DATABASE_URL: member.url,
      ...extra("scan-worker-group"),
    });
    assertEquals(group.code, 0, group.stdout.slice(-2000) + group.stderr);
    // The tables are exact, upstream and downstream, and so is the stream.
    const expected = oracle(
      feedShape({ seed: SEED, events: EVENTS, malformedRate: MALFORMED }),
      EVENTS,
    );
    assertEquals(readTables(up.path).parcels, expected.parcels);
    assertEquals(readTables(up.path).checkpoint, expected.checkpoint);
    assertEquals(readTables(down.path).parcels, expected.parcels);
    assertEquals(readTables(member.path).parcels, expected.parcels);
    assertEquals((await readStream(server.url)).map((m) => m.body), expected.stream);
    return { upstream: upstream.stdout, downstream: downstream.stdout, group: group.stdout };
  } finally {
    await sim.stop();
    await server.destroy();
    Deno.removeSync(up.dir, { recursive: true });
    Deno.removeSync(down.dir, { recursive: true });
    Deno.removeSync(member.dir, { recursive: true });
  }
}

Deno.test({
  name:
    "upstream and downstream export page, publish and process spans; downstream links to upstream pages; logs carry the page's trace",
  ignore: NATS_IGNORE,
  async fn() {
    const receiver = startOtlpReceiver("ok");
    try {
      const output = await pipeline((service) => otel(receiver.endpoint, service));
      for (const stdout of [output.upstream, output.downstream, output.group]) {
        const on = logLines(stdout).find((l) =>
          String(l.message).startsWith("OpenTelemetry export on")
        );
        assertEquals((on?.properties as Record<string, unknown>)?.logRecords, "exported");
        assertEquals(logMessages(stdout).filter((m) => m.includes("does not take exports")), []);
      }
      const spans = receiver.spans;
      const up = spans.filter((s) => s.service === "scan-worker-upstream");
      const down = spans.filter((s) => s.service === "scan-worker-downstream");

      // scan.page: one per page, its figures as attributes.
      const pages = up.filter((s) => s.name === "scan.page");
      const applied = pages.filter((s) => Number(s.attributes["scan.page.events"]) > 0);
      assertEquals(applied.length, EVENTS / 500, "one span per full page");
      const first = applied.find((s) => s.attributes["scan.page.from_event_id"] === 1);
      assertOk(first !== undefined, "the first page's span");
      assertEquals(first.attributes["scan.page.events"], 500);
      assertEquals(first.attributes["scan.page.to_event_id"], 500);
      const counted = applied.map((s) =>
        Number(s.attributes["scan.page.accepted"]) + Number(s.attributes["scan.page.rejected"])
      );
      assertEquals(counted.reduce((a, b) => a + b, 0), EVENTS, "accepted + rejected = events");
      assertOk(applied.some((s) => Number(s.attributes["scan.page.rejected"]) > 0));

      // The API request (Deno's fetch span) and the write beneath the page.
      const beneath = (name: (n: string) => boolean) =>
        up.filter((s) => name(s.name) && s.parentSpanId === first.spanId);
      assertEquals(beneath((n) => n === "GET").length, 1, "the page's request");
      assertEquals(beneath((n) => n === "scan.page.write").length, 1, "the page's write");

      // publish SCAN_EVENTS per relay batch, with the messaging attributes.
      const publishes = up.filter((s) => s.name === "publish SCAN_EVENTS");
      assertOk(publishes.length > 0, "publish spans");
      for (const span of publishes) {
        assertEquals(span.attributes["messaging.system"], "nats");
        assertEquals(span.attributes["messaging.destination.name"], "SCAN_EVENTS");
        assertEquals(span.kind, 4, "PRODUCER");
      }
      const published = publishes.reduce(
        (n, s) => n + Number(s.attributes["messaging.batch.message_count"]),
        0,
      );
      const accepted = applied.reduce((n, s) => n + Number(s.attributes["scan.page.accepted"]), 0);
      assertEquals(published, accepted, "every accepted event published once");

      // process SCAN_EVENTS per downstream batch, linked to upstream pages.
      const processes = down.filter((s) => s.name === "process SCAN_EVENTS");
      assertOk(processes.length > 0, "process spans");
      const pageContexts = new Set(pages.map((s) => `${s.traceId}/${s.spanId}`));
      const linked = processes.flatMap((s) => s.links)
        .filter((l) => pageContexts.has(`${l.traceId}/${l.spanId}`));
      assertOk(linked.length > 0, "a downstream span links to an upstream page");
      assertEquals(
        new Set(linked.map((l) => l.spanId)).size,
        applied.length,
        "every upstream page is linked from downstream",
      );
      // A group member's batches: process spans linked to upstream pages too.
      const memberLinks = spans.filter((s) =>
        s.service === "scan-worker-group" && s.name === "process SCAN_EVENTS"
      ).flatMap((s) => s.links).filter((l) => pageContexts.has(`${l.traceId}/${l.spanId}`));
      assertEquals(
        new Set(memberLinks.map((l) => l.spanId)).size,
        applied.length,
        "every upstream page is linked from the group member",
      );
      for (const span of processes) {
        assertEquals(span.attributes["messaging.system"], "nats");
        assertEquals(span.attributes["messaging.destination.name"], "SCAN_EVENTS");
      }

      // Log records: the rejections' warnings carry their page's trace.
      const warnings = receiver.logs.filter((l) =>
        l.service === "scan-worker-upstream" && l.severityText === "WARN" &&
        l.body.includes("Rejected event")
      );
      assertOk(warnings.length > 0, "rejection warnings exported");
      const pageTraces = new Set(applied.map((s) => s.traceId));
      for (const warning of warnings) {
        assertOk(pageTraces.has(warning.traceId), `a page's trace: ${JSON.stringify(warning)}`);
      }
    } finally {
      await receiver.stop();
    }
  },
});

for (const mode of ["503", "hang"] as ReceiverMode[]) {
  Deno.test({
    name: `a collector that ${
      mode === "503" ? "answers 503" : "never answers"
    }: both drains finish, the tables and the stream are exact`,
    ignore: NATS_IGNORE,
    async fn() {
      const receiver = startOtlpReceiver(mode);
      try {
        const output = await pipeline((service) => otel(receiver.endpoint, service));
        assertOk(receiver.requests() > 0, "the worker tried to export");
        if (mode === "503") {
          // The first check at start finds the collector refusing: the loss is counted and said.
          const stopping = logLines(output.upstream).find((l) =>
            String(l.message).startsWith("Stopping with the OpenTelemetry collector")
          );
          assertOk(stopping !== undefined, output.upstream.slice(-3000));
          const counted = stopping.properties as { droppedSpans: number; droppedLogs: number };
          assertOk(counted.droppedSpans >= EVENTS / 500, JSON.stringify(counted));
          assertOk(counted.droppedLogs > 0, JSON.stringify(counted));
        }
      } finally {
        await receiver.stop();
      }
    },
  });
}

Deno.test({
  name: "with OTEL_DENO unset nothing is sent, even with an endpoint set",
  ignore: NATS_IGNORE,
  async fn() {
    const receiver = startOtlpReceiver("ok");
    try {
      await pipeline((service) => {
        const { OTEL_DENO: _, ...rest } = otel(receiver.endpoint, service);
        return rest;
      });
      assertEquals(receiver.requests(), 0);
    } finally {
      await receiver.stop();
    }
  },
});

Deno.test("a consumer's batch (traceProcess, as a group member applies one) is a process span linked to its page", async () => {
  const receiver = startOtlpReceiver("ok");
  try {
    const kept = Object.fromEntries(
      KEPT.flatMap((name) => {
        const value = Deno.env.get(name);
        return value === undefined ? [] : [[name, value]];
      }),
    );
    const fixture = new URL("../helpers/trace_process_fixture.ts", import.meta.url);
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--allow-env", "--allow-read", fixture.pathname],
      env: { ...kept, ...otel(receiver.endpoint, "scan-worker-group") },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(output.code, 0, new TextDecoder().decode(output.stderr));
    const spans = receiver.spans.filter((s) => s.name === "process SCAN_EVENTS");
    assertEquals(spans.length, 1);
    assertEquals(spans[0]?.kind, 5, "CONSUMER");
    assertEquals(spans[0]?.attributes["messaging.batch.message_count"], 4);
    assertEquals(spans[0]?.attributes["messaging.operation.type"], "process");
    assertEquals(spans[0]?.links, [
      { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331" },
    ]);
  } finally {
    await receiver.stop();
  }
});
