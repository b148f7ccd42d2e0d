/**
 * Logging setup with LogTape: JSON lines or coloured text, one event per line, written
 * synchronously so lines are never lost on exit and never interleave. Every line passes through
 * `@logtape/redaction` with the settings' secrets (a second net: the settings are masked where
 * they are logged already).
 *
 * @module
 */

import {
  configure,
  getAnsiColorFormatter,
  getLogger,
  type Logger,
  type LogRecord,
  reset,
  type TextFormatter,
} from "@logtape/logtape";
import { redactByPattern } from "@logtape/redaction";
import type { LogFormat, LogLevel } from "./config.ts";
import { redactionPatterns } from "./config/mask.ts";

/** The root category of every logger of the program. */
export const ROOT_CATEGORY = "scan-worker";

/** A logger under the program's root category, e.g. `logger("loop")`. */
export function logger(...category: string[]): Logger {
  return getLogger([ROOT_CATEGORY, ...category]);
}

/** A value in a message: text as it is, anything else as JSON. */
function shown(value: unknown): string {
  if (typeof value === "string") return value;
  return JSON.stringify(value) ?? String(value);
}

/**
 * One JSON line per record, as LogTape's JSON Lines formatter writes it, except that text values
 * stand in the message as they are: `starting: API http://h/x`, not `starting: "API" "http://h/x"`
 * (the properties keep the values typed).
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * const line = jsonLines({
 *   category: ["scan-worker", "worker"], level: "info", timestamp: 0, properties: { source: "API", limit: 100 },
 *   message: ["starting: ", "API", ", limit ", 100, ""], rawMessage: "starting: {source}, limit {limit}",
 * });
 * strictEqual(JSON.parse(line).message, "starting: API, limit 100");
 * ```
 */
export function jsonLines(record: LogRecord): string {
  let message = "";
  record.message.forEach((part, i) => message += i % 2 === 0 ? String(part) : shown(part));
  return JSON.stringify({
    "@timestamp": new Date(record.timestamp).toISOString(),
    level: record.level === "warning" ? "WARN" : record.level.toUpperCase(),
    message,
    logger: record.category.join("."),
    properties: record.properties,
  }) + "\n";
}

/** Where log lines go, and what they must never show. */
export interface LogOutput {
  /** Stdout for the worker (its output is its log), stderr for commands whose stdout is a result. */
  readonly write: (text: string) => void;
  /** Secrets of the settings (passwords, tokens), masked in every line. */
  readonly secrets?: readonly string[];
}

/**
 * Configure logging for the process. Call once per command; {@link stopLogging} undoes it.
 */
export async function setupLogging(
  level: LogLevel,
  format: LogFormat,
  output: LogOutput,
): Promise<void> {
  const plain: TextFormatter = format === "json" ? jsonLines : getAnsiColorFormatter({
    value: (value: unknown) => typeof value === "string" ? value : Deno.inspect(value),
  });
  const formatter = redactByPattern(plain, redactionPatterns(output.secrets ?? []));
  await configure({
    reset: true,
    sinks: { out: (record: LogRecord) => output.write(formatter(record)) },
    loggers: [
      { category: [ROOT_CATEGORY], sinks: ["out"], lowestLevel: level },
      { category: ["logtape", "meta"], sinks: ["out"], lowestLevel: "warning" },
    ],
  });
}

/** Reset logging (used by tests and at exit). */
export async function stopLogging(): Promise<void> {
  await reset();
}
