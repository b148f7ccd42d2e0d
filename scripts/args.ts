// deno-lint-ignore-file no-console -- a script's usage and option errors are printed for people
/**
 * The command line of a `deno task` script: `--help` prints what the script does and its options
 * (each with its default), and an option it does not know, or one without its value, ends it
 * with one line and exit 2 — instead of a stack trace from `parseArgs`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { usage } from "./args.ts";
 *
 * const text = usage("bench", "How fast the worker is.", {
 *   events: { type: "string", default: "1000000" },
 *   json: { type: "boolean", default: false },
 * });
 * assert.match(text, /^deno task bench \[options\]: How fast the worker is\./);
 * assert.match(text, /--events VALUE +\(1000000\)/);
 * assert.match(text, /--json\n/);
 * ```
 *
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";

/** The usage text: what the task does, then each option with its default. */
export function usage(task: string, summary: string, options: ParseArgsOptionsConfig): string {
  const lines = Object.entries(options).map(([name, option]) => {
    const flag = `--${name}${option.type === "string" ? " VALUE" : ""}`;
    const fallback = option.type === "string" && option.default !== undefined
      ? `(${option.default})`
      : "";
    return `  ${flag.padEnd(28)} ${fallback}`.trimEnd();
  });
  return `deno task ${task} [options]: ${summary}\n\n${lines.join("\n")}\n`;
}

/**
 * Check the script's arguments before it parses them: `--help` or `-h` prints {@link usage} and
 * exits 0; an unknown option or a missing value prints one line and exits 2.
 */
export function checkArgs(task: string, summary: string, options: ParseArgsOptionsConfig): void {
  if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
    console.log(usage(task, summary, options));
    Deno.exit(0);
  }
  try {
    parseArgs({ args: Deno.args, options });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`deno task ${task}: ${message.split("\n")[0]} (--help lists the options)`);
    Deno.exit(2);
  }
}
