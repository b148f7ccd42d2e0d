// deno-lint-ignore-file no-console -- Deno exports what console writes as OpenTelemetry logs
/**
 * The worker's log records as OpenTelemetry logs, through Deno's own log export: Deno exports
 * what the `console` methods write, with the trace and span active when they are called (so a
 * page's warnings carry the page's trace), and, with `OTEL_DENO_CONSOLE=replace`, does not
 * print it. So the sink here hands each record to `console`, as one JSON line, and only then:
 * with `capture` (Deno's default) every line would be printed twice, and `console.warn` would
 * move warnings to stderr.
 *
 * Measured on this machine (2 shared cores, same minute): ... see docs/telemetry.md.
 *
 * @module
 */

import type { LogRecord, Sink } from "@logtape/logtape";
import { countLog } from "./_counts.ts";
import { telemetryOn } from "./_tracer.ts";

/** How Deno treats `console` output with OpenTelemetry on (`OTEL_DENO_CONSOLE`). */
export type ConsoleMode = "capture" | "replace" | "ignore";

/** Deno's console mode from the environment (`capture` when unset or unknown). */
export function consoleMode(env: (name: string) => string | undefined): ConsoleMode {
  const value = env("OTEL_DENO_CONSOLE")?.trim().toLowerCase();
  return value === "replace" || value === "ignore" ? value : "capture";
}

/** Whether log records go out as OpenTelemetry logs: export on, and console output replaced. */
export function logsExported(env: (name: string) => string | undefined = envOf): boolean {
  return telemetryOn(env) && consoleMode(env) === "replace";
}

/**
 * A LogTape sink that hands each record to Deno's log export (severity from the console method:
 * debug, info, warn, error), as `format` writes it (the worker passes its JSON line, secrets
 * redacted); null when log records are not exported (see {@link logsExported}).
 */
export function openTelemetryLogSink(
  format: (record: LogRecord) => string,
  env: (name: string) => string | undefined = envOf,
): Sink | null {
  if (!logsExported(env)) return null;
  return (record: LogRecord) => {
    const line = format(record).trimEnd();
    countLog();
    switch (record.level) {
      case "trace":
      case "debug":
        return console.debug(line);
      case "info":
        return console.info(line);
      case "warning":
        return console.warn(line);
      default:
        return console.error(line);
    }
  };
}

/** An environment variable, or undefined (also without permission to read it). */
function envOf(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}
