/**
 * The built-in simulator as a subprocess, the way operators start it.
 *
 * @module
 */

import { spawnCli } from "./cli.ts";

/** A running simulator. */
export interface RunningSimulator {
  /** Its feed URL. */
  readonly url: string;
  /** Stop it (SIGTERM) and wait for it to end. */
  stop(): Promise<void>;
}

/** Start `scan-worker simulate` with `args`; resolves once it prints its URL. */
export async function startSimulator(
  args: string[],
  logLevel = "warning",
): Promise<RunningSimulator> {
  const process = spawnCli(["simulate", ...args], { env: { LOG_LEVEL: logLevel } });
  const line = await process.waitForLine((l) => l.includes("listening on "));
  return {
    url: line.slice(line.indexOf("http://")),
    stop: async () => {
      process.process.kill("SIGTERM");
      await process.done;
    },
  };
}
