/**
 * The export watch against a local collector stand-in: a collector that takes an empty export
 * request is quiet; one that answers 503 is warned about, and the worker's own spans and log
 * records handed over meanwhile are counted as dropped.
 */
import { configure, getLogger, type LogRecord, reset } from "@logtape/logtape";
import { assertEquals, assertOk } from "../helpers/assert.ts";
import { exportTarget, ExportWatch, PageTrace, urlForLog } from "../../src/telemetry/mod.ts";
import { countSpans } from "../../src/telemetry/_counts.ts";

const envOf = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("the exporter's target follows the OTLP variables: the signal's own first", () => {
  assertEquals(exportTarget(envOf({})), {
    tracesUrl: "http://localhost:4318/v1/traces",
    protocol: "http/protobuf",
    headers: {},
    timeoutMs: 10_000,
    service: null,
  });
  assertEquals(
    exportTarget(envOf({
      OTEL_EXPORTER_OTLP_ENDPOINT: "https://collector.example:4318/otlp/",
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://traces.example/v1/traces",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_EXPORTER_OTLP_HEADERS: "api-key=secret%3D1, x-team = parcels ,broken",
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: "x-team=scans",
      OTEL_EXPORTER_OTLP_TIMEOUT: "2500",
      OTEL_SERVICE_NAME: "scan-worker",
    })),
    {
      tracesUrl: "https://traces.example/v1/traces",
      protocol: "http/json",
      headers: { "api-key": "secret=1", "x-team": "scans" },
      timeoutMs: 2500,
      service: "scan-worker",
    },
  );
  assertEquals(
    exportTarget(envOf({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318/otlp/" })).tracesUrl,
    "http://c:4318/otlp/v1/traces",
  );
});

Deno.test("a URL is logged without its credentials or query", () => {
  assertEquals(
    urlForLog("https://user:pw@collector:4318/v1/traces?key=1"),
    "https://collector:4318/v1/traces",
  );
  assertEquals(urlForLog("not a url"), "(not a URL)");
});

/** A stand-in collector answering `status`; counts the requests and their content types. */
function collector(status: number) {
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (r) => {
    seen.push(
      `${r.method} ${new URL(r.url).pathname} ${r.headers.get("content-type")} ${await r.text()}`,
    );
    return new Response(null, { status });
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, seen, stop: () => server.shutdown() };
}

/** Run `work` with the watch's log records kept. */
async function logged(work: () => Promise<void>): Promise<LogRecord[]> {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { memory: (record) => records.push(record) },
    loggers: [
      { category: ["watch"], sinks: ["memory"], lowestLevel: "debug" },
      { category: ["logtape", "meta"], sinks: [], lowestLevel: "error" },
    ],
  });
  try {
    await work();
  } finally {
    await reset();
  }
  return records;
}

Deno.test("a collector that takes the empty export request is not warned about", async () => {
  const c = collector(200);
  try {
    const records = await logged(async () => {
      const watch = new ExportWatch({
        target: exportTarget(
          envOf({ OTEL_EXPORTER_OTLP_ENDPOINT: c.url, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" }),
        ),
        logger: getLogger(["watch"]),
        logsExported: false,
      });
      assertEquals(await watch.probe(), true);
      await watch.stop();
      assertEquals(watch.dropped, { spans: 0, logs: 0 });
    });
    assertEquals(c.seen, ["POST /v1/traces application/json {}"]);
    assertEquals(records.filter((r) => r.level === "warning"), []);
  } finally {
    await c.stop();
  }
});

Deno.test("a collector answering 503: a counted warning, and what was handed over since counts as dropped", async () => {
  const c = collector(503);
  try {
    const dropped: number[][] = [];
    const records = await logged(async () => {
      const watch = new ExportWatch({
        target: exportTarget(envOf({ OTEL_EXPORTER_OTLP_ENDPOINT: c.url })),
        logger: getLogger(["watch"]),
        logsExported: false,
        dropped: (spans, logs) => dropped.push([spans, logs]),
      });
      assertEquals(await watch.probe(), false);
      // With the export off here, pages record nothing and hand nothing over.
      new PageTrace(1).end();
      await watch.stop();
      assertEquals(watch.dropped, { spans: 0, logs: 0 });
    });
    assertEquals(c.seen, ["POST /v1/traces application/x-protobuf "]);
    const warnings = records.filter((r) => r.level === "warning");
    assertEquals(warnings.length, 2, "when it goes down, and when the worker stops");
    assertOk(String(warnings[0]?.message.join("")).includes("does not take exports"));
    assertEquals(warnings[0]?.properties.problem, "HTTP 503");
    assertEquals(dropped, [[0, 0], [0, 0]]);
  } finally {
    await c.stop();
  }
});

Deno.test("when the collector takes exports again, the line gives what that outage dropped", async () => {
  let status = 503;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (r) => {
    await r.body?.cancel();
    return new Response(null, { status });
  });
  try {
    const records = await logged(async () => {
      const watch = new ExportWatch({
        target: exportTarget(
          envOf({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${server.addr.port}` }),
        ),
        logger: getLogger(["watch"]),
        logsExported: false,
      });
      for (const spans of [5, 7]) {
        countSpans(spans); // handed over since the last answer: lost with the collector down
        status = 503;
        assertEquals(await watch.probe(), false);
        status = 200;
        assertEquals(await watch.probe(), true);
      }
      await watch.stop();
      assertEquals(watch.dropped.spans, 12);
    });
    const back = records.filter((r) => String(r.message.join("")).includes("takes exports again"));
    assertEquals(back.map((r) => r.properties.spans), [5, 7]);
  } finally {
    await server.shutdown();
  }
});
