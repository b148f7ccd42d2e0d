/**
 * The command line: find the command in argv, parse its flags, resolve the configuration it
 * needs, run it, and turn whatever ends it into an exit code (0 ok, 1 runtime failure, 2 usage
 * or configuration error) and one line that says why.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { resolveSections, SETTINGS } from "../config.ts";
import { CommandError, ConfigError, EXIT, exitCode, UsageError } from "../errors.ts";
import { logger, setupLogging, stopLogging } from "../log.ts";
import { versionLine } from "../version.ts";
import type { AnyCommand } from "./command.ts";
import { COMMANDS } from "./commands.ts";
import { commandHelp, programHelp, sectionsOf } from "./help.ts";
import type { CliIo } from "./io.ts";

/** parseArgs option specs. */
type Options = Record<string, { type: "boolean" | "string"; short?: string }>;

const GLOBAL: Options = {
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
};

/** A command's flags: its own, its settings' and the global ones. */
function optionsOf(command: AnyCommand): Options {
  const options: Options = { ...GLOBAL };
  for (const flag of command.flags) options[flag.name] = { type: flag.type };
  for (const section of sectionsOf(command)) {
    for (const setting of SETTINGS[section]) {
      if (setting.flag) options[setting.flag] = { type: "string" };
    }
  }
  return options;
}

/** What argv asks for. */
type Request =
  | { readonly kind: "help"; readonly command?: AnyCommand }
  | { readonly kind: "version" }
  | {
    readonly kind: "command";
    readonly command: AnyCommand;
    readonly values: Record<string, string | boolean | undefined>;
    readonly positionals: string[];
  };

/**
 * Read argv: the first positional names the command; its flags are checked against the
 * command's own (a flag of another command is named as such).
 * @throws UsageError for an unknown command or flag, or a wrong number of arguments.
 */
export function parseCommandLine(args: readonly string[]): Request {
  const everything: Options = Object.assign({}, ...COMMANDS.map(optionsOf));
  const { tokens } = parseArgs({
    args: [...args],
    options: everything,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const first = tokens.find((t) => t.kind === "positional");
  const options = tokens.flatMap((t) => (t.kind === "option" ? [t.name] : []));
  if (first === undefined || first.kind !== "positional") {
    if (options.includes("help") || options.includes("h")) return { kind: "help" };
    if (options.includes("version") || options.includes("V")) return { kind: "version" };
    throw new UsageError("no command given");
  }
  const command = COMMANDS.find((c) => c.name === first.value);
  if (command === undefined) throw new UsageError(`unknown command "${first.value}"`);
  const own = optionsOf(command);
  for (const name of options) {
    if (name in own) continue;
    const takers = COMMANDS.filter((c) => name in optionsOf(c)).map((c) => c.name);
    if (takers.length > 0) throw new UsageError(`--${name} is only for: ${takers.join(", ")}`);
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: args.filter((_, i) => i !== first.index),
      options: own,
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help === true) return { kind: "help", command };
  if (values.version === true) return { kind: "version" };
  const expected = command.positionals ?? [];
  if (positionals.length > expected.length) {
    throw new UsageError(`unexpected argument "${positionals[expected.length]}"`);
  }
  const missing = expected[positionals.length];
  if (missing !== undefined) {
    throw new UsageError(
      `${command.name} needs a ${missing.name}: scan-worker ${command.name} ${missing.example}`,
    );
  }
  return { kind: "command", command, values, positionals };
}

/** Say why a command ended badly: one line on stderr, or one log line for the unexpected. */
function report(error: unknown, command: string, io: CliIo): void {
  if (error instanceof ConfigError || error instanceof CommandError) {
    io.stderr(`scan-worker: ${error.message}\n`);
  } else if (error instanceof UsageError) {
    io.stderr(`scan-worker: ${error.message}\nRun "scan-worker --help" for usage.\n`);
  } else {
    logger("cli").error("{command} failed: {error}", {
      command,
      error: (error as Error)?.message ?? String(error),
    });
  }
}

/**
 * Run the program with `args` (without the program name) on `io`; returns the exit code.
 * Everything the program prints goes through `io`, so tests can run it in-process.
 */
export async function main(args: readonly string[], io: CliIo): Promise<number> {
  let request: Request;
  try {
    request = parseCommandLine(args);
  } catch (error) {
    report(error, "", io);
    return exitCode(error);
  }
  if (request.kind === "version") {
    io.stdout(`${versionLine()}\n`);
    return EXIT.ok;
  }
  if (request.kind === "help") {
    io.stdout(request.command ? commandHelp(request.command) : programHelp(COMMANDS));
    return EXIT.ok;
  }
  const { command, values, positionals } = request;
  let config;
  try {
    config = resolveSections(
      {
        flags: values,
        env: io.env,
        dotenv: io.readDotEnv(),
        stdoutIsTerminal: io.stdoutIsTerminal,
      },
      sectionsOf(command),
    );
  } catch (error) {
    report(error, command.name, io);
    return exitCode(error);
  }
  await setupLogging(
    config.logLevel,
    config.logFormat,
    command.logTo === "stdout" ? io.stdout : io.stderr,
  );
  try {
    return await command.run({ config, flags: values, args: positionals, io });
  } catch (error) {
    report(error, command.name, io);
    return exitCode(error);
  } finally {
    await stopLogging();
  }
}
