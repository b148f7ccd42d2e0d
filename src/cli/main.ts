/**
 * The command line: find the command in argv, parse its flags, resolve the configuration it
 * needs, run it, and turn whatever ends it into an exit code (0 ok, 1 runtime failure, 2 usage
 * or configuration error) and one line that says why.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { resolveSections, secretsOf } from "../config.ts";
import { redactDatabaseUrl, redactionPatterns, redactOutput } from "../config/mask.ts";
import { CommandError, ConfigError, EXIT, exitCode, UsageError } from "../errors.ts";
import { logger, setupLogging, stopLogging } from "../log.ts";
import { versionLine } from "../version.ts";
import type { AnyCommand } from "./command.ts";
import { COMMANDS } from "./commands.ts";
import { commandHelp, programHelp, sectionsOf, settingsOfCommand } from "./help.ts";
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
  for (const setting of settingsOfCommand(command)) {
    if (setting.flag) options[setting.flag] = { type: "string" };
  }
  return options;
}

/** How many single-character edits turn `a` into `b` (Levenshtein). */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitute = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitute));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** An option as typed: `--name`, or `-n` for one letter. */
function dashed(name: string): string {
  return name.length === 1 ? `-${name}` : `--${name}`;
}

/** `unknown option --versoin (did you mean --version?)`, for an option no command takes. */
function unknownOption(name: string, known: readonly string[], where: string): UsageError {
  const near = known
    .map((k) => ({ k, d: editDistance(name, k) }))
    .filter(({ k, d }) => k.length > 1 && d <= Math.min(2, Math.floor(k.length / 3)))
    .sort((a, b) => a.d - b.d)[0];
  const hint = near === undefined ? "" : ` (did you mean --${near.k}?)`;
  return new UsageError(`unknown option ${dashed(name)}${where}${hint}`);
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
 * A command's arguments: as many positionals as it takes, and its required flags.
 * @throws UsageError naming what is missing or too much.
 */
function checkArguments(
  command: AnyCommand,
  values: Record<string, string | boolean | undefined>,
  positionals: readonly string[],
): void {
  const expected = command.positionals ?? [];
  if (positionals.length > expected.length) {
    const extra = redactDatabaseUrl(positionals[expected.length] ?? "");
    throw new UsageError(`unexpected argument ${JSON.stringify(extra)}`);
  }
  const missing = expected[positionals.length];
  if (missing !== undefined) {
    throw new UsageError(
      `${command.name} needs a ${missing.name}: scan-worker ${command.name} ${missing.example}`,
    );
  }
  const absent = command.flags.find((f) => f.required && values[f.name] === undefined);
  if (absent !== undefined) {
    throw new UsageError(
      `${command.name} needs --${absent.name} ${absent.value ?? ""}: ${command.examples[0] ?? ""}`,
    );
  }
}

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
    const stray = options.find((name) => !(name in everything));
    if (stray !== undefined) throw unknownOption(stray, Object.keys(everything), "");
    throw new UsageError("no command given");
  }
  const command = COMMANDS.find((c) => c.name === first.value);
  if (command === undefined) {
    throw new UsageError(`unknown command ${JSON.stringify(redactDatabaseUrl(first.value))}`);
  }
  const own = optionsOf(command);
  for (const name of options) {
    if (name in own) continue;
    const takers = COMMANDS.filter((c) => name in optionsOf(c)).map((c) => c.name);
    if (takers.length > 0) throw new UsageError(`--${name} is only for: ${takers.join(", ")}`);
    throw unknownOption(name, Object.keys(own), ` for ${command.name}`);
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
  checkArguments(command, values, positionals);
  return { kind: "command", command, values, positionals };
}

/** `write`, with every secret of `secrets` (and any URL password) masked. */
function redacting(write: (text: string) => void, secrets: readonly string[]) {
  const patterns = redactionPatterns(secrets);
  return (text: string): void => write(redactOutput(text, patterns));
}

/** Say why a command ended badly: one line on stderr, or one log line for the unexpected. */
function report(error: unknown, command: string, stderr: (text: string) => void): void {
  if (error instanceof ConfigError || error instanceof CommandError) {
    stderr(`scan-worker: ${error.message}\n`);
  } else if (error instanceof UsageError) {
    stderr(`scan-worker: ${error.message}\nRun "scan-worker --help" for usage.\n`);
  } else {
    logger("cli").error("{command} failed: {error}", {
      command,
      error: (error as Error)?.message ?? String(error),
    });
  }
}

/**
 * Run the program with `args` (without the program name) on `io`; returns the exit code.
 * Everything the program prints goes through `io`, so tests can run it in-process. No secret
 * of the settings reaches stderr or a log line: both pass through the redaction patterns.
 */
export async function main(args: readonly string[], io: CliIo): Promise<number> {
  let request: Request;
  try {
    request = parseCommandLine(args);
  } catch (error) {
    report(error, "", redacting(io.stderr, []));
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
  let secrets: string[] = [];
  let config;
  try {
    const sources = {
      flags: values,
      env: io.env,
      dotenv: io.readDotEnv(),
      stdoutIsTerminal: io.stdoutIsTerminal,
    };
    secrets = secretsOf(sources);
    config = resolveSections(sources, sectionsOf(command));
  } catch (error) {
    report(error, command.name, redacting(io.stderr, secrets));
    return exitCode(error);
  }
  await setupLogging(config.logLevel, config.logFormat, {
    write: command.logTo === "stdout" ? io.stdout : io.stderr,
    secrets,
  });
  try {
    return await command.run({ config, flags: values, args: positionals, io });
  } catch (error) {
    report(error, command.name, redacting(io.stderr, secrets));
    return exitCode(error);
  } finally {
    await stopLogging();
  }
}
