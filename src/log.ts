/**
 * Logging setup with LogTape: JSON lines or coloured text, one event per line, written
 * synchronously so lines are never lost on exit and never interleave.
 *
 * @module
 */

import {
  configure,
  getAnsiColorFormatter,
  getLogger,
  jsonLinesFormatter,
  type Logger,
  type LogRecord,
  reset,
} from "@logtape/logtape";
import type { LogFormat, LogLevel } from "./config.ts";
import { openTelemetryLogSink } from "./telemetry/mod.ts";

/** The root category of every logger of the program. */
export const ROOT_CATEGORY = "scan-worker";

/** A logger under the program's root category, e.g. `logger("loop")`. */
export function logger(...category: string[]): Logger {
  return getLogger([ROOT_CATEGORY, ...category]);
}

/**
 * Configure logging for the process. Call once per command; {@link stopLogging} undoes it.
 * @param write where the lines go: stdout for the worker (its output is its log), stderr for
 *   commands whose stdout is their result.
 */
export async function setupLogging(
  level: LogLevel,
  format: LogFormat,
  write: (text: string) => void,
): Promise<void> {
  const formatter = format === "json" ? jsonLinesFormatter : getAnsiColorFormatter({
    value: (value: unknown) => typeof value === "string" ? value : Deno.inspect(value),
  });
  const otel = openTelemetryLogSink(); // log records as OpenTelemetry logs (docs/telemetry.md)
  await configure({
    reset: true,
    sinks: { out: (record: LogRecord) => write(formatter(record)), otel: otel ?? (() => {}) },
    loggers: [
      { category: [ROOT_CATEGORY], sinks: otel ? ["out", "otel"] : ["out"], lowestLevel: level },
      { category: ["logtape", "meta"], sinks: ["out"], lowestLevel: "warning" },
    ],
  });
}

/** Reset logging (used by tests and at exit). */
export async function stopLogging(): Promise<void> {
  await reset();
}
