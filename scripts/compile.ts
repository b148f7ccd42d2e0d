// deno-lint-ignore-file no-console -- a build script reports what it built
/**
 * `deno task compile [--target T] [--output PATH]`: build the `scan-worker` executable.
 *
 * The commit (`git rev-parse HEAD`) is written into `src/build_info.ts` for the build and the
 * file is put back afterwards. SQL migrations are text imports, so they are inside the
 * executable. Permissions are explicit (see README, Deployment):
 *   --allow-net    the Scan Event API, database servers, the metrics listener
 *   --allow-read   the SQLite file and its -wal/-shm/.lock files, and .env
 *   --allow-write  the SQLite file and its -wal/-shm/.lock files
 *   --allow-env    the settings; the mssql driver reads the whole environment
 * and V8's young generation is capped (see `V8_FLAGS` in scripts/subprocess.ts); both are
 * built into the executable.
 * `deno compile` downloads Deno's runtime (denort) for the target; offline, DENORT_BIN points it
 * at a local copy (the variable passes through to `deno compile`).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { V8_FLAGS } from "./subprocess.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { target: { type: "string" }, output: { type: "string" } },
});
const root = new URL("../", import.meta.url);
const output = values.output ?? `dist/scan-worker${values.target ? `-${values.target}` : ""}`;
const buildInfo = new URL("src/build_info.ts", root);

const git = await new Deno.Command("git", {
  args: ["rev-parse", "HEAD"],
  cwd: root,
  stdout: "piped",
  stderr: "null",
})
  .output().catch(() => null);
const commit = git?.success ? new TextDecoder().decode(git.stdout).trim() : null;

const original = await Deno.readTextFile(buildInfo);
if (commit !== null) {
  await Deno.writeTextFile(
    buildInfo,
    original.replace(
      "export const BUILD_COMMIT: string | null = null;",
      `export const BUILD_COMMIT: string | null = ${JSON.stringify(commit)};`,
    ),
  );
}
let code = 1;
try {
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      "compile",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      ...V8_FLAGS,
      ...(values.target ? ["--target", values.target] : []),
      "--output",
      output,
      "src/main.ts",
    ],
    cwd: root,
    stdout: "inherit",
    stderr: "inherit",
  }).spawn().status;
  code = result.code;
} finally {
  await Deno.writeTextFile(buildInfo, original);
}
if (code === 0) {
  console.log(`built ${output}${commit ? ` from commit ${commit.slice(0, 12)}` : ""}`);
}
Deno.exit(code);
