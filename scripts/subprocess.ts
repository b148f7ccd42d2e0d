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
 * V8 settings the worker runs with (as the `start` task and the executable): young-generation
 * semi-spaces of at most 8 MB instead of V8's default 32 MB. A page's parsed events are
 * short-lived garbage; with the default, V8 grows the young generation to its maximum while
 * catching up, which measured 55 MB more peak RSS (195 against 140 MB on a 1M-event drain) and
 * no faster.
 */
export const V8_FLAGS = ["--v8-flags=--max-semi-space-size=8"];

/** A `scan-worker` command line as a Deno.Command, stdin closed. */
export function cliCommand(
  args: string[],
  env: Record<string, string>,
  stdout: "piped" | "null" = "piped",
  stderr: "piped" | "inherit" = "piped",
): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", `--config=${CONFIG}`, ...V8_FLAGS, ...PERMISSIONS, MAIN, ...args],
    env,
    stdin: "null",
    stdout,
    stderr,
  });
}

/** Start `scan-worker simulate` with `args`; resolves with its URL once it prints it. */
export async function startSimulatorProcess(
  args: string[],
): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const process = cliCommand(
    ["simulate", ...args],
    { LOG_LEVEL: "error", LOG_FORMAT: "json" },
    "piped",
    "inherit",
  )
    .spawn();
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
