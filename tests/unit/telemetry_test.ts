// deno-lint-ignore-file no-console -- one test stands in for Deno's console export to see what it is handed
import { redactByPattern } from "@logtape/redaction";
import { assertEquals } from "../helpers/assert.ts";
import { redactionPatterns } from "../../src/config/mask.ts";
import { jsonLines } from "../../src/log.ts";
import {
  consoleMode,
  linksOf,
  logsExported,
  MAX_LINKS,
  openTelemetryLogSink,
  PageTrace,
  pageTraceparent,
  spanContextOf,
  telemetryOn,
  traceparentOf,
  withPageTraceparent,
} from "../../src/telemetry/mod.ts";

const PAGE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const envOf = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("a traceparent is read into a remote span context and written back the same", () => {
  const context = spanContextOf(PAGE);
  assertEquals(context, {
    traceId: "0af7651916cd43dd8448eb211c80319c",
    spanId: "b7ad6b7169203331",
    traceFlags: 1,
    isRemote: true,
  });
  assertEquals(context && traceparentOf(context), PAGE);
});

Deno.test("texts that are not a version-00 traceparent with valid ids give no context", () => {
  for (
    const text of [
      null,
      undefined,
      "",
      "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      "00-00000000000000000000000000000000-b7ad6b7169203331-01",
      "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
      "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
    ]
  ) {
    assertEquals(spanContextOf(text), null, String(text));
  }
});

Deno.test("links name each distinct page once, in first order, at most MAX_LINKS", () => {
  const other = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  assertEquals(
    linksOf([PAGE, null, other, PAGE, "junk", other]).map((l) => l.context.spanId),
    ["b7ad6b7169203331", "00f067aa0ba902b7"],
  );
  const many = Array.from(
    { length: 300 },
    (_, i) => `00-0af7651916cd43dd8448eb211c80319c-${(i + 1).toString(16).padStart(16, "0")}-01`,
  );
  assertEquals(MAX_LINKS, 128);
  assertEquals(linksOf(many).length, 128);
});

Deno.test("the page's traceparent reaches the write across awaits, and only inside it", async () => {
  assertEquals(pageTraceparent(), null);
  const seen = await withPageTraceparent(PAGE, async () => {
    await new Promise((resolve) => setTimeout(resolve, 1));
    return pageTraceparent();
  });
  assertEquals(seen, PAGE);
  assertEquals(pageTraceparent(), null);
  assertEquals(withPageTraceparent(null, () => pageTraceparent()), null);
});

Deno.test("with OTEL_DENO unset a page span records nothing and gives no traceparent", async () => {
  const page = new PageTrace(1);
  assertEquals(page.traceparent, null);
  assertEquals(await page.write(() => Promise.resolve(pageTraceparent())), null);
  page.applied({ fromEventId: 1, toEventId: 2, events: 2, accepted: 2, rejected: 0 });
  assertEquals(PageTrace.none().traceparent, null);
});

Deno.test("export is on only with OTEL_DENO=true, as Deno reads it", () => {
  assertEquals(telemetryOn(envOf({ OTEL_DENO: "true" })), true);
  assertEquals(telemetryOn(envOf({ OTEL_DENO: "1" })), false);
  assertEquals(telemetryOn(envOf({})), false);
});

Deno.test("log records go out only with the export on and console output replaced", () => {
  assertEquals(consoleMode(envOf({})), "capture");
  assertEquals(consoleMode(envOf({ OTEL_DENO_CONSOLE: "replace" })), "replace");
  assertEquals(consoleMode(envOf({ OTEL_DENO_CONSOLE: "ignore" })), "ignore");
  const on = { OTEL_DENO: "true", OTEL_DENO_CONSOLE: "replace" };
  assertEquals(logsExported(envOf(on)), true);
  assertEquals(logsExported(envOf({ OTEL_DENO: "true" })), false, "capture would print twice");
  assertEquals(logsExported(envOf({ OTEL_DENO_CONSOLE: "replace" })), false);
  const line = () => "{}\n";
  assertEquals(openTelemetryLogSink(line, envOf({ OTEL_DENO: "true" })), null);
  assertEquals(typeof openTelemetryLogSink(line, envOf(on)), "function");
});

Deno.test("an exported log record is the worker's JSON line, its secrets masked, at its level's severity", () => {
  const on = { OTEL_DENO: "true", OTEL_DENO_CONSOLE: "replace" };
  const secret = "s3cr3t-api-token-1234";
  const sink = openTelemetryLogSink(
    redactByPattern(jsonLines, redactionPatterns([secret])),
    envOf(on),
  );
  const seen: [string, string][] = [];
  const saved = { warn: console.warn, info: console.info };
  console.warn = (line: string) => seen.push(["warn", line]);
  console.info = (line: string) => seen.push(["info", line]);
  try {
    sink?.({
      category: ["scan-worker", "api"],
      level: "warning",
      timestamp: 0,
      message: ["token ", secret, " refused"],
      rawMessage: "token {token} refused",
      properties: { token: secret },
    });
  } finally {
    console.warn = saved.warn;
    console.info = saved.info;
  }
  assertEquals(seen.length, 1);
  assertEquals(seen[0]?.[0], "warn");
  assertEquals(seen[0]?.[1].includes(secret), false, seen[0]?.[1]);
  assertEquals(JSON.parse(seen[0]?.[1] ?? "{}").level, "WARN");
});
