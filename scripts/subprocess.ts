/**
 * The CLI as a subprocess, for the scripts (demo, bench): the same program operators run.
 *
 * @module
 */

const MAIN = new URL("../src/main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

/** The permissions the worker runs with (as the `start` task and the executable). */
export const PERMISSIONS = ["--allow-net", "--allow-read", "--allow-write", "--allow-env"];

/**
 * V8 settings the worker runs with (as the `start` task and the executable):
 * - young-generation semi-spaces of at most 8 MB instead of V8's default 32 MB. A page's parsed
 *   events are short-lived garbage; with the default, V8 grows the young generation to its
 *   maximum while catching up, which measured 55 MB more peak RSS (195 against 140 MB on a
 *   1M-event drain) and no faster;
 * - the old generation allowed to grow to 3 times what survived the last full collection
 *   (`--heap-growing-percent=200`) instead of up to 4 times: the worker keeps about 20 MB alive
 *   and makes the rest garbage, so V8's own choice let its heap swing up to 80 MB between
 *   collections. Peak RSS with NATS_URL on a 10M-event drain 171 against 196–203 MB, for about
 *   5 % more CPU per page (docs/performance.md, "V8's old generation").
 */
export const V8_FLAGS = ["--v8-flags=--max-semi-space-size=8,--heap-growing-percent=200"];

/** How a `scan-worker` subprocess is started. */
export interface CliCommandOptions {
  /** Its environment: added to this process's, or the whole of it with `clearEnv`. */
  readonly env: Record<string, string>;
  /** Start from `env` alone. */
  readonly clearEnv?: boolean;
  /** Its working directory (this process's by default). */
  readonly cwd?: string;
  /** Where its stdout goes ("piped" by default). */
  readonly stdout?: "piped" | "null" | "inherit";
  /** Where its stderr goes ("piped" by default). */
  readonly stderr?: "piped" | "null" | "inherit";
}

/**
 * A `scan-worker` command line as a Deno.Command, stdin closed, with the permissions and V8
 * settings the worker runs with everywhere (the `start` task, the executable).
 */
export function cliCommand(args: string[], options: CliCommandOptions): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", `--config=${CONFIG}`, ...V8_FLAGS, ...PERMISSIONS, MAIN, ...args],
    env: options.env,
    clearEnv: options.clearEnv ?? false,
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    stdin: "null",
    stdout: options.stdout ?? "piped",
    stderr: options.stderr ?? "piped",
  });
}

/** Start `scan-worker simulate` with `args`; resolves with its URL once it prints it. */
export async function startSimulatorProcess(
  args: string[],
): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const process = cliCommand(["simulate", ...args], {
    env: { LOG_LEVEL: "error", LOG_FORMAT: "json" },
    stderr: "inherit",
  }).spawn();
  const reader = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the simulator ended before printing its URL");
    text += value;
  }
  reader.releaseLock();
  const url = /listening on (\S+)/.exec(text)?.[1];
  if (url === undefined) throw new Error(`unexpected simulator output: ${text}`);
  return {
    url,
    pid: process.pid,
    stop: async () => {
      process.kill("SIGTERM");
      await process.status;
      await process.stdout.cancel().catch(() => {});
    },
  };
}
