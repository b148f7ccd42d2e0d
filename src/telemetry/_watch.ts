/**
 * Whether the collector takes what Deno exports. Deno's exporter runs beside the program: it
 * batches spans and log records in bounded queues (2048 each by default) and sends them from its
 * own thread; when the collector is down or slow, a batch fails or times out and is dropped, and
 * a full queue drops the newest. The program never waits for it (but at exit, see
 * docs/telemetry.md) — and never hears of it either. So the watch asks the collector itself: every
 * interval, one empty export request to the traces endpoint, with the exporter's own endpoint,
 * protocol, headers and timeout. While it fails, what the worker handed over since the last good
 * answer counts as dropped, and a warning says how much (`Dropped` totals since the start).
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { consoleMode, logsExported } from "./_logs.ts";
import { handedOver } from "./_counts.ts";

/** The exporter's settings, as Deno reads them from the standard variables. */
export interface ExportTarget {
  /** Where spans go: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or the endpoint + `/v1/traces`. */
  readonly tracesUrl: string;
  /** `http/protobuf` (the default) or `http/json`; another (grpc) is not probed. */
  readonly protocol: string;
  /** `OTEL_EXPORTER_OTLP_HEADERS` (and the traces' own), decoded: never logged. */
  readonly headers: Readonly<Record<string, string>>;
  /** The export timeout, ms (`OTEL_EXPORTER_OTLP_TIMEOUT`, 10000). */
  readonly timeoutMs: number;
  /** `OTEL_SERVICE_NAME`, or null. */
  readonly service: string | null;
}

/**
 * The exporter's target from the environment, as the OpenTelemetry specification defines the
 * variables (the signal's own variable first, then the general one, then the default).
 *
 * @example
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 * const env = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/", OTEL_EXPORTER_OTLP_HEADERS: "api-key=a%20b" };
 * const target = exportTarget((name) => env[name as keyof typeof env]);
 * assertEquals(target.tracesUrl, "http://collector:4318/v1/traces");
 * assertEquals(target.headers, { "api-key": "a b" });
 * ```
 */
export function exportTarget(env: (name: string) => string | undefined): ExportTarget {
  const pick = (signal: string, general: string) => env(signal)?.trim() || env(general)?.trim();
  const base = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")?.trim() ?? "";
  const endpoint = env("OTEL_EXPORTER_OTLP_ENDPOINT")?.trim() || "http://localhost:4318";
  const timeout = Number(pick("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"));
  return {
    tracesUrl: base !== "" ? base : `${endpoint.replace(/\/+$/, "")}/v1/traces`,
    protocol: pick("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL") ??
      "http/protobuf",
    headers: {
      ...parseHeaders(env("OTEL_EXPORTER_OTLP_HEADERS")),
      ...parseHeaders(env("OTEL_EXPORTER_OTLP_TRACES_HEADERS")),
    },
    timeoutMs: Number.isFinite(timeout) && timeout > 0 ? timeout : 10_000,
    service: env("OTEL_SERVICE_NAME")?.trim() || null,
  };
}

/** `key=value,key2=value2`, values percent-decoded (the OTLP exporter's header format). */
function parseHeaders(text: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of (text ?? "").split(",")) {
    const at = pair.indexOf("=");
    if (at <= 0) continue;
    try {
      headers[decodeURIComponent(pair.slice(0, at).trim())] = decodeURIComponent(
        pair.slice(at + 1).trim(),
      );
    } catch {
      // a malformed escape: the exporter cannot send it either
    }
  }
  return headers;
}

/** A URL as it may be logged: scheme, host, port and path, without credentials or query. */
export function urlForLog(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return "(not a URL)";
  }
}

/** What the watch needs. */
export interface ExportWatchOptions {
  /** The exporter's settings. */
  readonly target: ExportTarget;
  /** Where it logs. */
  readonly logger: Logger;
  /** How often it asks the collector (15000 ms). */
  readonly intervalMs?: number;
  /** Told of each interval's estimated loss (metrics). */
  readonly dropped?: (spans: number, logs: number) => void;
  /** Whether log records are exported (from the environment by default). */
  readonly logsExported?: boolean;
}

/** What the collector did not take: the worker's own spans and log records, since the start. */
export interface DroppedTotals {
  readonly spans: number;
  readonly logs: number;
}

/** The watch over the collector, for one run of the worker. */
export class ExportWatch {
  readonly #options: ExportWatchOptions;
  #timer: number | null = null;
  #probe: Promise<void> | null = null;
  #stopped = false;
  readonly #abort = new AbortController();
  #down = false;
  #failedProbes = 0;
  #last = handedOver();
  #dropped = { spans: 0, logs: 0 };
  /** {@link ExportWatch.dropped} when the collector last went down: the outage's share is the rest. */
  #droppedBefore = { spans: 0, logs: 0 };

  /** @param options the exporter's settings, a logger, the interval. */
  constructor(options: ExportWatchOptions) {
    this.#options = options;
  }

  /** What counts as dropped so far. */
  get dropped(): DroppedTotals {
    return { ...this.#dropped };
  }

  /** Say where the export goes, and start asking the collector. */
  start(): void {
    const { target, logger } = this.#options;
    const logs = this.#options.logsExported ?? logsExported();
    logger.info(
      "OpenTelemetry export on: spans to {endpoint} ({protocol}) as service {service}; log records {logRecords}",
      {
        endpoint: urlForLog(target.tracesUrl),
        protocol: target.protocol,
        service: target.service ?? "unknown_service",
        logRecords: logs
          ? "exported"
          : `not exported (OTEL_DENO_CONSOLE=${consoleMode(envOf)}: set replace to export them)`,
      },
    );
    if (!target.protocol.startsWith("http/")) {
      logger.info("The collector is not watched: only http/protobuf and http/json are probed");
      return;
    }
    this.#probe = this.probe().then(() => this.#schedule()); // at once: a wrong endpoint shows now
  }

  /**
   * Stop asking (a probe in flight is cut short). With the collector down at the last check,
   * what was handed over since is counted as dropped too, and said once more.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#abort.abort();
    await this.#probe;
    if (!this.#down) return;
    const now = handedOver();
    this.#dropped.spans += now.spans - this.#last.spans;
    this.#dropped.logs += now.logs - this.#last.logs;
    this.#options.dropped?.(now.spans - this.#last.spans, now.logs - this.#last.logs);
    this.#last = now;
    this.#options.logger.warn(
      "Stopping with the OpenTelemetry collector at {endpoint} not taking exports: about {droppedSpans} spans and {droppedLogs} log records were dropped in this run",
      {
        endpoint: urlForLog(this.#options.target.tracesUrl),
        droppedSpans: this.#dropped.spans,
        droppedLogs: this.#dropped.logs,
      },
    );
  }

  /** Ask once now: true when the collector took an (empty) export request. */
  async probe(): Promise<boolean> {
    const { target } = this.#options;
    const json = target.protocol === "http/json";
    try {
      const response = await fetch(target.tracesUrl, {
        method: "POST",
        headers: {
          ...target.headers,
          "content-type": json ? "application/json" : "application/x-protobuf",
        },
        body: json ? "{}" : new Uint8Array(0), // an export request with no spans
        signal: AbortSignal.any([
          this.#abort.signal,
          AbortSignal.timeout(Math.min(target.timeoutMs, 5000)),
        ]),
      });
      await response.body?.cancel();
      this.#answered(response.ok ? null : `HTTP ${response.status}`);
      return response.ok;
    } catch (error) {
      const name = (error as Error)?.name;
      this.#answered(name === "TimeoutError" ? "no answer in time" : String(error));
      return false;
    }
  }

  #schedule(): void {
    if (this.#stopped) return;
    const timer = setTimeout(() => {
      this.#timer = null;
      this.#probe = this.probe().then(() => this.#schedule());
    }, this.#options.intervalMs ?? 15_000) as unknown as number;
    Deno.unrefTimer(timer); // the watch never keeps the program alive
    this.#timer = timer;
  }

  /** The collector answered (`problem` null) or not: count and say what is lost. */
  #answered(problem: string | null): void {
    const { logger, target } = this.#options;
    if (this.#stopped) return;
    const now = handedOver();
    const spans = now.spans - this.#last.spans;
    const logs = now.logs - this.#last.logs;
    this.#last = now;
    if (problem === null) {
      if (this.#down) {
        logger.info(
          "The OpenTelemetry collector at {endpoint} takes exports again; {spans} spans and {logs} log records were dropped while it did not",
          {
            endpoint: urlForLog(target.tracesUrl),
            spans: this.#dropped.spans - this.#droppedBefore.spans,
            logs: this.#dropped.logs - this.#droppedBefore.logs,
          },
        );
      }
      this.#down = false;
      this.#failedProbes = 0;
      return;
    }
    if (!this.#down) this.#droppedBefore = { ...this.#dropped };
    this.#dropped.spans += spans;
    this.#dropped.logs += logs;
    this.#options.dropped?.(spans, logs);
    // A warning when it goes down, then one a minute while it stays down.
    if (!this.#down || ++this.#failedProbes % 4 === 0) {
      logger.warn(
        "The OpenTelemetry collector at {endpoint} does not take exports ({problem}): about {spans} spans and {logs} log records dropped since the last check ({droppedSpans} and {droppedLogs} since the start); the worker goes on",
        {
          endpoint: urlForLog(target.tracesUrl),
          problem,
          spans,
          logs,
          droppedSpans: this.#dropped.spans,
          droppedLogs: this.#dropped.logs,
        },
      );
    }
    this.#down = true;
  }
}

/** An environment variable, or undefined (also without permission to read it). */
function envOf(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}
