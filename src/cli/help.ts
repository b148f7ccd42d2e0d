/**
 * Help text: the program's (every command in one line) and each command's own (its usage,
 * flags, the settings of the configuration it needs, and examples).
 *
 * @module
 */

import { type AnySetting, type Section, settingsOf } from "../config.ts";
import { VERSION } from "../version.ts";
import type { AnyCommand, Flag } from "./command.ts";

/** A flag as usage shows it: `--to EventId`, in brackets unless required. */
function flagUsage(flag: Flag): string {
  const text = `--${flag.name}${flag.value ? ` ${flag.value}` : ""}`;
  return flag.required ? text : `[${text}]`;
}

/**
 * A command's usage line.
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { reset } from "./reset.ts";
 * strictEqual(usageLine(reset), "scan-worker reset --to EventId [--yes] [--beyond-feed] [options]");
 * ```
 */
export function usageLine(command: AnyCommand): string {
  const parts = [
    `scan-worker ${command.name}`,
    ...(command.positionals ?? []).map((p) => `<${p.name}>`),
    ...command.flags.map(flagUsage),
  ];
  if (command.needs.length > 0) parts.push("[options]");
  return parts.join(" ");
}

/** The parts of the configuration a command reads, logging included. */
export function sectionsOf(command: AnyCommand): Section[] {
  return [...command.needs, "logging"];
}

/** The settings a command reads, each once. */
export function settingsOfCommand(command: AnyCommand): AnySetting[] {
  return settingsOf(sectionsOf(command));
}

function flagLine(flag: Flag): string {
  const text = `--${flag.name}${flag.value ? ` ${flag.value}` : ""}`;
  return `  ${text.padEnd(24)} ${flag.help}${flag.required ? " (required)" : ""}`;
}

function settingLine(command: AnyCommand, s: AnySetting): string {
  const flag = s.flag ? `--${s.flag}` : "";
  const help = command.settingHelp?.[s.variable] ?? s.help;
  return `  ${flag.padEnd(20)} ${s.variable.padEnd(24)} ${help} (${s.shown})`;
}

/** The help of one command. */
export function commandHelp(command: AnyCommand): string {
  const lines = [
    `scan-worker ${command.name} — ${command.summary}`,
    "",
    "Usage:",
    `  ${usageLine(command)}`,
    "",
    ...command.description.split("\n").map((line) => `  ${line}`),
    "",
  ];
  if (command.flags.length > 0) lines.push("Options:", ...command.flags.map(flagLine), "");
  lines.push("Settings (a flag overrides its environment variable, which overrides .env):");
  lines.push(...settingsOfCommand(command).map((s) => settingLine(command, s)));
  lines.push("", "Examples:", ...command.examples.map((e) => `  ${e}`), "");
  return lines.join("\n");
}

/** The program's help: every command in one line. */
export function programHelp(commands: readonly AnyCommand[]): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  return [
    `scan-worker ${VERSION} — pulls parcel scan events into parcel states`,
    "",
    "Usage:",
    "  scan-worker <command> [options]",
    "  scan-worker <command> --help",
    "  scan-worker --help | --version",
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)} ${c.summary}`),
    "",
    'Each command has its own help, with its options and settings: "scan-worker run --help".',
    "Settings come from flags, then environment variables, then a .env file, then defaults.",
    "",
    "Examples:",
    "  scan-worker run --api-url http://scan-api.internal/v1/scans/scanevents --db sqlite:/var/lib/scan-worker/scan.db",
    "  SCAN_API_LIMIT=1000 scan-worker run --drain",
    "  scan-worker status --json",
    "  scan-worker simulate --port 8080 --events 1000000 --rate 50 --fail-rate 0.05",
    "  scan-worker parcel 5002 --json",
    "  scan-worker reset --to 83000 --yes",
    "",
    "Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.",
    "",
  ].join("\n");
}
