/**
 * What a command is: its name, help, flags, the parts of the configuration it needs, and what
 * it does. Each command lives in its own file; `commands.ts` lists them.
 *
 * @module
 */

import type { Section, SectionsConfig } from "../config.ts";
import type { CliIo } from "./io.ts";

/** A flag a command takes (beyond the settings of the configuration it needs). */
export interface Flag {
  /** The long name, without `--`. */
  readonly name: string;
  /** A switch, or a flag with a value. */
  readonly type: "boolean" | "string";
  /** The value's placeholder in help, e.g. `N`. */
  readonly value?: string;
  /** What it does, in a few words (with its default). */
  readonly help: string;
  /** The command cannot run without it (help shows it without brackets). */
  readonly required?: boolean;
}

/** A positional argument. */
export interface Positional {
  /** Its name in help, e.g. `ParcelId`. */
  readonly name: string;
  /** An example value, for the message when it is missing. */
  readonly example: string;
}

/** The configuration a command gets: logging, and the parts it asked for. */
export type ConfigFor<S extends Section> = SectionsConfig<S | "logging">;

/** What a command's `run` gets. */
export interface CommandContext<S extends Section> {
  /** The resolved configuration it needs. */
  readonly config: ConfigFor<S>;
  /** Its own flags' values. */
  readonly flags: Readonly<Record<string, string | boolean | undefined>>;
  /** Its positional arguments. */
  readonly args: readonly string[];
  /** The process. */
  readonly io: CliIo;
}

/** One command of `scan-worker`. */
export interface Command<S extends Section = Section> {
  /** Its name on the command line. */
  readonly name: string;
  /** One line for the global help. */
  readonly summary: string;
  /** What it does, in a few lines, for its own help. */
  readonly description: string;
  /** Its own flags. */
  readonly flags: readonly Flag[];
  /** Its positional arguments (all required). */
  readonly positionals?: readonly Positional[];
  /** The parts of the configuration it reads (logging is always read). */
  readonly needs: readonly S[];
  /** A setting's help as this command uses it, by variable, where the general one would mislead. */
  readonly settingHelp?: Readonly<Record<string, string>>;
  /** Where its log lines go: stdout when its output is its log, else stderr. */
  readonly logTo: "stdout" | "stderr";
  /** Example command lines. */
  readonly examples: readonly string[];
  /** Do it; returns the exit code. Errors are mapped to exit codes by the caller. */
  run(context: CommandContext<S>): Promise<number>;
}

/** A command with its configuration's type erased, as the registry holds it. */
export type AnyCommand = Command<Section>;

/** Declare a command (its `run` is typed by its `needs`). */
export function defineCommand<S extends Section>(command: Command<S>): AnyCommand {
  return command as unknown as AnyCommand;
}
