/**
 * Run `scan-worker` the way the tests need it: in this process through `main(args, io)` with
 * its output captured and signals sent by the test (most tests), or as a real subprocess for
 * what only a process shows (signals, kill -9, exit codes, two instances). Either way the
 * program sees only the settings the test gives it.
 *
 * @module
 */

import { main } from "../../src/cli/main.ts";
import type { CliIo, ShutdownSignal } from "../../src/cli/io.ts";
import { readDotEnv } from "../../src/config.ts";
import { cliCommand } from "../../scripts/subprocess.ts";

/** Variables the program reads; removed from a subprocess's inherited environment. */
const PROGRAM_VARIABLES = [
  "SCAN_API_URL",
  "SCAN_API_LIMIT",
  "SCAN_API_TOKEN",
  "SCAN_API_TIMEOUT_MS",
  "POLL_INTERVAL_MS",
  "DATABASE_URL",
  "LOG_LEVEL",
  "LOG_FORMAT",
  "METRICS_PORT",
  "METRICS_HOST",
  "RETRY_BASE_MS",
  "RETRY_MAX_MS",
  "LOCK_RETRY_MS",
  "LOG_PROGRESS_MS",
  "SCAN_API_MAX_BODY_BYTES",
];

/** What a finished run printed. */
export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout's JSON log lines, parsed. */
  readonly logs: Record<string, unknown>[];
}

/** Options of a run. */
export interface CliOptions {
  /** Program variables to set (no others are seen). */
  readonly env?: Record<string, string>;
  /** Working directory: where `.env` is read (a fresh temporary one for a subprocess). */
  readonly cwd?: string;
  /** In-process only: stdin is a terminal, and these are the answers typed at its prompts. */
  readonly answers?: readonly string[];
}

/** A run in progress. */
export interface Running {
  /** Resolves when the program ends. */
  readonly done: Promise<CliResult>;
  /** Resolves with the first stdout line that `match` accepts (rejects on timeout or end). */
  waitForLine(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Resolves with the first JSON log line on stdout that `match` accepts. */
  waitForLog(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
}

/** A run in this process. */
export interface RunningMain extends Running {
  /** Send the program SIGINT or SIGTERM. */
  signal(signal: ShutdownSignal): void;
}

/** A run in a subprocess. */
export interface RunningCli extends Running {
  readonly process: Deno.ChildProcess;
}

function parseLogs(text: string): Record<string, unknown>[] {
  return text.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line));
}

/** stdout as it arrives, line by line, with waiters for lines to come. */
class Lines {
  text = "";
  readonly #lines: string[] = [];
  readonly #waiters = new Set<{ match: (line: string) => boolean; resolve(l: string): void }>();
  #pending = "";
  #ended: Promise<unknown>;

  constructor(ended: Promise<unknown>) {
    this.#ended = ended;
  }

  push(text: string): void {
    this.text += text;
    const complete = (this.#pending + text).split("\n");
    this.#pending = complete.pop() ?? "";
    for (const line of complete) {
      this.#lines.push(line);
      for (const waiter of this.#waiters) {
        if (waiter.match(line)) {
          this.#waiters.delete(waiter);
          waiter.resolve(line);
        }
      }
    }
  }

  wait(match: (line: string) => boolean, timeoutMs = 30_000): Promise<string> {
    const seen = this.#lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        if (!this.#waiters.delete(waiter)) return;
        reject(new Error(`${why}; stdout so far:\n${this.text}`));
      };
      const timer = setTimeout(() => fail(`no matching line within ${timeoutMs} ms`), timeoutMs);
      const waiter = {
        match,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      this.#waiters.add(waiter);
      this.#ended.then(() => fail("the program ended without a matching line"));
    });
  }

  running(done: Promise<CliResult>): Running {
    return {
      done,
      waitForLine: (match, timeoutMs) => this.wait(match, timeoutMs),
      waitForLog: async (match, timeoutMs) =>
        JSON.parse(
          await this.wait((text) => text.startsWith("{") && match(JSON.parse(text)), timeoutMs),
        ),
    };
  }
}

/** Start `scan-worker args` in this process. */
export function startMain(args: string[], options: CliOptions = {}): RunningMain {
  let stderr = "";
  const handlers = new Set<(signal: ShutdownSignal) => void>();
  const answers = [...options.answers ?? []];
  let finished: (value: unknown) => void = () => {};
  const lines = new Lines(new Promise((resolve) => finished = resolve));
  const io: CliIo = {
    stdout: (text) => lines.push(text),
    stderr: (text) => {
      stderr += text;
    },
    env: { ...options.env },
    readDotEnv: () => (options.cwd === undefined ? {} : readDotEnv(`${options.cwd}/.env`)),
    stdoutIsTerminal: false,
    stdinIsTerminal: options.answers !== undefined,
    prompt: () => answers.shift() ?? null,
    onSignal(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    exit(code): never {
      throw new Error(`the program asked to exit at once with ${code}`);
    },
  };
  const done = main(args, io).then((code) => {
    finished(code);
    return { code, stdout: lines.text, stderr, logs: parseLogs(lines.text) };
  });
  return {
    ...lines.running(done),
    signal: (signal) => [...handlers].forEach((handler) => handler(signal)),
  };
}

/** Run `scan-worker args` in this process to the end. */
export function runMain(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return startMain(args, options).done;
}

/** Start `scan-worker args` as a subprocess, as operators run it. */
export function spawnCli(args: string[], options: CliOptions = {}): RunningCli {
  const env = Deno.env.toObject();
  for (const name of PROGRAM_VARIABLES) delete env[name];
  const cwd = options.cwd ?? Deno.makeTempDirSync({ prefix: "scan-worker-cwd-" });
  const process = cliCommand(args, { env: { ...env, ...options.env }, clearEnv: true, cwd })
    .spawn();
  const decoder = new TextDecoder();
  const lines = new Lines(process.status);
  const readStdout = (async () => {
    for await (const chunk of process.stdout) lines.push(decoder.decode(chunk, { stream: true }));
  })();
  const readStderr = new Response(process.stderr).text();
  const done = (async () => {
    const [status, , stderr] = await Promise.all([process.status, readStdout, readStderr]);
    if (options.cwd === undefined) Deno.removeSync(cwd, { recursive: true });
    return { code: status.code, stdout: lines.text, stderr, logs: parseLogs(lines.text) };
  })();
  return { ...lines.running(done), process };
}

/** Run `scan-worker args` as a subprocess to the end. */
export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return spawnCli(args, options).done;
}

/** Send a signal to a subprocess unless it has already ended. */
export function kill(process: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    process.kill(signal);
  } catch {
    // Already ended.
  }
}

/** A log line's `properties` object. */
export function props(line: Record<string, unknown>): Record<string, unknown> {
  return (line.properties ?? {}) as Record<string, unknown>;
}
