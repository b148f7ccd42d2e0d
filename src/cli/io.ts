/**
 * Everything the command line touches of its process, as one value: its output streams,
 * environment, `.env`, terminal, signals and exit. The real process's in {@link processIo};
 * tests pass their own and run commands in-process.
 *
 * @module
 */

import { readDotEnv } from "../config.ts";

/** A shutdown signal. */
export type ShutdownSignal = "SIGINT" | "SIGTERM";

/** The process as the command line sees it. */
export interface CliIo {
  /** Write text to stdout, whole. */
  stdout(text: string): void;
  /** Write text to stderr, whole. */
  stderr(text: string): void;
  /** The environment. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The working directory's `.env`, parsed (empty when there is none). */
  readDotEnv(): Readonly<Record<string, string | undefined>>;
  /** Whether stdout is a terminal (pretty logs by default). */
  readonly stdoutIsTerminal: boolean;
  /** Whether stdin is a terminal (a person can answer a question). */
  readonly stdinIsTerminal: boolean;
  /** Ask a question on the terminal; the answer, or null at end of input. */
  prompt(question: string): string | null;
  /** Call `handler` on SIGINT or SIGTERM until the returned function is called. */
  onSignal(handler: (signal: ShutdownSignal) => void): () => void;
  /** End the process at once with `code` (a second signal). */
  exit(code: number): never;
}

const encoder = new TextEncoder();

/** Write all of `text` to a synchronous writer. */
function writeAll(target: { writeSync(bytes: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  let written = 0;
  while (written < bytes.length) written += target.writeSync(bytes.subarray(written));
}

/** The real process. */
export function processIo(): CliIo {
  return {
    stdout: (text) => writeAll(Deno.stdout, text),
    stderr: (text) => writeAll(Deno.stderr, text),
    env: Deno.env.toObject(),
    readDotEnv: () => readDotEnv(),
    stdoutIsTerminal: Deno.stdout.isTerminal(),
    stdinIsTerminal: Deno.stdin.isTerminal(),
    prompt: (question) => prompt(question),
    onSignal(handler) {
      const listeners = (["SIGINT", "SIGTERM"] as const).map((signal) => {
        const listener = () => handler(signal);
        Deno.addSignalListener(signal, listener);
        return [signal, listener] as const;
      });
      return () => {
        for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
      };
    },
    exit: (code) => Deno.exit(code),
  };
}
