/**
 * What a setting is — its variable, flag, help, default, range and parser in one value — and
 * the kinds of settings the program has (whole numbers in a range, choices, durations, names,
 * files). The default is written once, as text, and parsed by the setting's own parser: help
 * shows exactly what the program uses.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";

/** What a setting's parser may look at besides the text: the terminal and the file system. */
export interface SettingContext {
  /** Whether stdout is a terminal (picks the default log format). */
  readonly stdoutIsTerminal: boolean;
  /** Read a file a setting names (a creds file); throws as `Deno.readTextFileSync` does. */
  readTextFile(path: string): string;
}

/** One setting of the program. */
export interface Setting<T> {
  /** The environment variable. */
  readonly variable: string;
  /** The flag that overrides it, without `--`. */
  readonly flag?: string;
  /** What it means, in a few words. */
  readonly help: string;
  /** The default, as help shows it. */
  readonly shown: string;
  /** The value when the setting is unset or blank. */
  fallback(context: SettingContext): T;
  /**
   * The value of a set setting.
   * @param name the setting as messages name it, e.g. `SCAN_API_LIMIT (--limit)`.
   * @throws ConfigError naming it.
   */
  parse(text: string, name: string, context: SettingContext): T;
}

/** A setting of any type, as lists of settings hold them. */
export type AnySetting = Setting<unknown>;

/** What every setting is declared with. */
interface Declared {
  readonly variable: string;
  readonly flag?: string;
  readonly help: string;
}

/** A setting whose parser takes only the text. */
type Parse<T> = (text: string, name: string, context: SettingContext) => T;

const NO_FILES: SettingContext = {
  stdoutIsTerminal: false,
  readTextFile: () => {
    throw new Error("a default names no file");
  },
};

/**
 * A setting whose default is `fallback` as text, parsed by `parse` itself (so a default that its
 * own parser refuses fails at once, when the module loads).
 */
export function setting<T>(declared: Declared & { fallback: string; parse: Parse<T> }): Setting<T> {
  const value = declared.parse(declared.fallback, declared.variable, NO_FILES);
  return {
    variable: declared.variable,
    ...(declared.flag === undefined ? {} : { flag: declared.flag }),
    help: declared.help,
    shown: declared.fallback,
    fallback: () => value,
    parse: declared.parse,
  };
}

/** A setting that is off (null) unless set. */
export function optional<T>(declared: Declared & { parse: Parse<T> }): Setting<T | null> {
  return {
    variable: declared.variable,
    ...(declared.flag === undefined ? {} : { flag: declared.flag }),
    help: declared.help,
    shown: "unset",
    fallback: () => null,
    parse: declared.parse,
  };
}

/**
 * A whole number from `min` to `max`.
 * @example
 * ```ts
 * import { strictEqual, throws } from "node:assert/strict";
 * const parse = wholeNumber(1, 100);
 * strictEqual(parse(" 42 ", "SCAN_API_LIMIT"), 42);
 * throws(() => parse("0", "SCAN_API_LIMIT"), /invalid SCAN_API_LIMIT: "0" is not a whole number from 1 to 100/);
 * ```
 */
export function wholeNumber(min: number, max: number): (text: string, name: string) => number {
  return (text, name) => {
    const value = text.trim();
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new ConfigError(
        name,
        `${JSON.stringify(text)} is not a whole number from ${min} to ${max}`,
      );
    }
    return Number(value);
  };
}

/**
 * One of `allowed`, in any case.
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * strictEqual(oneOf(["json", "pretty"] as const)("JSON", "LOG_FORMAT"), "json");
 * ```
 */
export function oneOf<T extends string>(
  allowed: readonly T[],
): (text: string, name: string) => T {
  return (text, name) => {
    const value = text.trim().toLowerCase();
    const found = allowed.find((a) => a === value);
    if (found === undefined) {
      throw new ConfigError(name, `${JSON.stringify(text)} is not one of ${allowed.join(", ")}`);
    }
    return found;
  };
}

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * A duration: `30m`, `12h`, `7d`, `45s`, or a number of seconds; in milliseconds.
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * strictEqual(duration("12h", "NATS_STREAM_MAX_AGE"), 43_200_000);
 * strictEqual(duration("90", "NATS_STREAM_MAX_AGE"), 90_000);
 * ```
 */
export function duration(text: string, name: string): number {
  const match = /^(\d+)\s*(s|m|h|d)?$/i.exec(text.trim());
  const unit = (match?.[2]?.toLowerCase() ?? "s") as keyof typeof UNIT_MS;
  const ms = match ? Number(match[1]) * UNIT_MS[unit] : 0;
  if (!(ms > 0) || !Number.isSafeInteger(ms)) {
    throw new ConfigError(name, `${JSON.stringify(text)} is not a duration like 30m, 12h or 7d`);
  }
  return ms;
}

/** A JetStream stream name: letters, digits, `_` and `-` (NATS forbids `.`, `*`, `>`, spaces). */
export function streamName(text: string, name: string): string {
  return jetStreamName(text, name, "stream name (A-Z a-z 0-9 _ -)");
}

/**
 * A consumer group's name: a JetStream consumer name (letters, digits, `_`, `-`).
 * @example
 * ```ts
 * import { strictEqual, throws } from "node:assert/strict";
 * import { groupName } from "./setting.ts";
 * strictEqual(groupName(" ledger ", "NATS_GROUP"), "ledger");
 * throws(() => groupName("led.ger", "NATS_GROUP"), /is not a group name/);
 * ```
 */
export function groupName(text: string, name: string): string {
  return jetStreamName(text, name, "group name (1 to 64 of A-Z a-z 0-9 _ -)");
}

/** `text` trimmed, if it is 1 to 64 of A-Z a-z 0-9 _ - (a name JetStream takes); `what` for the error. */
function jetStreamName(text: string, name: string, what: string): string {
  const value = text.trim();
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(value)) {
    throw new ConfigError(name, `${JSON.stringify(value)} is not a ${what}`);
  }
  return value;
}

/** Text, trimmed. */
export function trimmed(text: string): string {
  return text.trim();
}

/**
 * A NATS creds file (a user JWT and its NKey seed), checked now so a missing or unreadable one
 * stops the program at start instead of failing every connection attempt. Its content is never
 * shown: the seed is a secret.
 */
export function credsFile(text: string, name: string, context: SettingContext): string {
  const path = text.trim();
  let content: string;
  try {
    content = context.readTextFile(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? "does not exist"
      : error instanceof Deno.errors.PermissionDenied
      ? "cannot be read (permission denied)"
      : `cannot be read (${(error as Error).name})`;
    throw new ConfigError(name, `${JSON.stringify(path)} ${why}`);
  }
  if (!/BEGIN NATS USER JWT/.test(content) || !/BEGIN USER NKEY SEED/.test(content)) {
    throw new ConfigError(
      name,
      `${JSON.stringify(path)} is not a NATS creds file (a user JWT and an NKey seed)`,
    );
  }
  return path;
}
