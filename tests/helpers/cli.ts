/**
 * Run the CLI as a subprocess, the way operators do, with a clean configuration environment.
 *
 * @module
 */

const ROOT = new URL("../../", import.meta.url);
const MAIN = new URL("src/main.ts", ROOT).pathname;
const CONFIG = new URL("deno.json", ROOT).pathname;

/** Variables the program reads; removed from the inherited environment so tests set them. */
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

/** What a finished CLI run printed. */
export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout's JSON log lines, parsed. */
  readonly logs: Record<string, unknown>[];
}

/** Options of a CLI run. */
export interface CliOptions {
  /** Program variables to set (others are removed). */
  readonly env?: Record<string, string>;
  /** Working directory (a temporary one by default, so no stray .env is read). */
  readonly cwd?: string;
}

/** A CLI run in progress. */
export interface RunningCli {
  readonly process: Deno.ChildProcess;
  /** Resolves when the process ends. */
  readonly done: Promise<CliResult>;
  /** Resolves with the first stdout line that `match` accepts (rejects on timeout or exit). */
  waitForLine(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Resolves with the first JSON log line that `match` accepts. */
  waitForLog(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
}

function environment(overrides: Record<string, string> = {}): Record<string, string> {
  const env = Deno.env.toObject();
  for (const name of PROGRAM_VARIABLES) delete env[name];
  return { ...env, ...overrides };
}

function parseLogs(text: string): Record<string, unknown>[] {
  return text.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line));
}

interface Waiter {
  match: (line: string) => boolean;
  resolve: (line: string) => void;
}

/** Start the CLI with `args`. Its stdout is read line by line as it runs. */
export function spawnCli(args: string[], options: CliOptions = {}): RunningCli {
  const process = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      `--config=${CONFIG}`,
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      MAIN,
      ...args,
    ],
    cwd: options.cwd ?? Deno.makeTempDirSync({ prefix: "scan-worker-cwd-" }),
    env: environment(options.env),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();

  let stdout = "";
  const lines: string[] = [];
  const waiters: Waiter[] = [];
  const readStdout = (async () => {
    const decoder = new TextDecoder();
    let pending = "";
    for await (const chunk of process.stdout) {
      const text = decoder.decode(chunk, { stream: true });
      stdout += text;
      pending += text;
      const complete = pending.split("\n");
      pending = complete.pop() ?? "";
      for (const line of complete) {
        lines.push(line);
        for (const waiter of waiters.filter((w) => w.match(line))) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    }
  })();
  const readStderr = new Response(process.stderr).text();
  const done = (async () => {
    const [status, , stderr] = await Promise.all([process.status, readStdout, readStderr]);
    return { code: status.code, stdout, stderr, logs: parseLogs(stdout) };
  })();

  const waitForLine = (match: (line: string) => boolean, timeoutMs = 30_000): Promise<string> => {
    const seen = lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        if (!waiters.includes(waiter)) return;
        waiters.splice(waiters.indexOf(waiter), 1);
        reject(new Error(`${why}; stdout so far:\n${stdout}`));
      };
      const timer = setTimeout(() => fail(`no matching line within ${timeoutMs} ms`), timeoutMs);
      const waiter: Waiter = {
        match,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      waiters.push(waiter);
      done.then(() => fail("the process ended without a matching line"));
    });
  };

  return {
    process,
    done,
    waitForLine,
    async waitForLog(match, timeoutMs) {
      const line = await waitForLine(
        (text) => text.startsWith("{") && match(JSON.parse(text)),
        timeoutMs,
      );
      return JSON.parse(line);
    },
  };
}

/** Run the CLI to the end. */
export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return spawnCli(args, options).done;
}

/** A log line's `properties` object. */
export function props(line: Record<string, unknown>): Record<string, unknown> {
  return (line.properties ?? {}) as Record<string, unknown>;
}
