/**
 * What the worker's telemetry costs on its own thread, per page and per log record: a page's
 * spans (`scan.page` with its write), and a log record through the OpenTelemetry sink. Run it
 * twice, as docs/telemetry.md does, to compare:
 *
 *   deno task bench:micro bench/telemetry_bench.ts                       (export off)
 *   OTEL_DENO=true OTEL_DENO_CONSOLE=replace deno task bench:micro bench/telemetry_bench.ts
 *
 * With the export on and no collector listening, Deno's exporter fails on its own thread; what
 * is measured here (the program's thread) is the same.
 */
import { configure, getLogger, jsonLinesFormatter, reset } from "@logtape/logtape";
import { openTelemetryLogSink, PageTrace } from "../src/telemetry/mod.ts";

const FIGURES = { fromEventId: 1, toEventId: 1000, events: 1000, accepted: 990, rejected: 10 };

Deno.bench("a page's spans: scan.page and its write", async () => {
  const page = new PageTrace(1);
  await page.write(() => Promise.resolve());
  page.run(() => {});
  page.applied(FIGURES);
});

const otel = openTelemetryLogSink(jsonLinesFormatter);
let written = 0;
await configure({
  reset: true,
  sinks: {
    out: (record) => void (written += jsonLinesFormatter(record).length),
    otel: otel ?? (() => {}),
  },
  loggers: [
    { category: ["bench"], sinks: otel ? ["out", "otel"] : ["out"], lowestLevel: "debug" },
    { category: ["logtape", "meta"], sinks: [], lowestLevel: "error" },
  ],
});
const log = getLogger(["bench"]);

Deno.bench(`a log record (${otel ? "printed and exported" : "printed only"})`, () => {
  log.debug("Page {from}..{to}: {applied} applied", { from: 1, to: 1000, applied: 990 });
});

globalThis.addEventListener("unload", () => void reset());
