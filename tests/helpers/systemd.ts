/**
 * `systemd-analyze verify` for the deployment's units, shared by the tests of each unit.
 *
 * @module
 */

import { assertEquals } from "./assert.ts";

/**
 * Verify `file` (a unit written into a temporary folder) and fail on any problem the analyzer
 * reports about lines naming `unit`; a container's missing D-Bus is not the unit's problem.
 */
export async function assertUnitVerifies(file: string, unit: string): Promise<void> {
  const result = await new Deno.Command("systemd-analyze", {
    args: ["verify", file],
    stdout: "piped",
    stderr: "piped",
    env: { SYSTEMD_LOG_LEVEL: "warning" },
  }).output();
  const output = new TextDecoder().decode(result.stderr) +
    new TextDecoder().decode(result.stdout);
  const problems = output.split("\n").filter((line) =>
    line.includes(unit) &&
    !/Failed to (connect|create).*bus|No such file or directory.*bus/i.test(line)
  );
  assertEquals([result.code, problems], [0, []], output);
}
