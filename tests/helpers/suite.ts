/**
 * What test files share beyond the program's own helpers: a pause (only where the pause is the
 * scenario, e.g. a kill at a random moment), a run's reproducible random seed, `deno task`.
 *
 * @module
 */

/** Resolve after `ms` milliseconds. */
export function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The seed of a suite's random moments: `variable` from the environment when set (to replay a
 * failing run), else a new one; printed either way, so a failing run can be replayed.
 */
export function runSeed(variable: string, suite: string): number {
  const seed = Number(Deno.env.get(variable) ?? Date.now() % 1_000_000);
  // deno-lint-ignore no-console -- the seed makes a failing run reproducible
  console.log(`${suite}: ${variable}=${seed}`);
  return seed;
}

/** What `deno task` printed and how it ended. */
export interface TaskOutput {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run `deno task --quiet NAME ARGS…` in the repository, its output captured, `env` added. */
export async function denoTask(
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<TaskOutput> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", ...args],
    env,
    cwd: new URL("../../", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return {
    code: output.code,
    stdout: text.decode(output.stdout),
    stderr: text.decode(output.stderr),
  };
}
