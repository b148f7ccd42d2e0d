// deno-lint-ignore-file no-console -- a build script reports what it built
/**
 * `deno task compile [--target T] [--output PATH]`: build the `scan-worker` executable.
 * Where the sources are not a git checkout (a container build), `SCAN_WORKER_COMMIT` gives the
 * commit.
 *
 * The build runs on a copy of the sources in a temporary folder, where the commit (`git
 * rev-parse HEAD`) is written into `src/build_info.ts`: the checkout is never changed, even
 * while a build runs. SQL migrations are text imports, so they are inside the executable. Permissions are explicit (see README, Deployment):
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

const root = new URL("../", import.meta.url);

/**
 * The commit to build into the executable: the checkout's (`git rev-parse HEAD`), or, where there
 * is no `.git` (a container build), `SCAN_WORKER_COMMIT`; null when neither says.
 */
export async function buildCommit(
  cwd: URL = root,
  env: string | undefined = Deno.env.get("SCAN_WORKER_COMMIT"),
): Promise<string | null> {
  const git = await new Deno.Command("git", {
    args: ["rev-parse", "HEAD"],
    cwd,
    stdout: "piped",
    stderr: "null",
  }).output().catch(() => null);
  if (git?.success) return new TextDecoder().decode(git.stdout).trim();
  return env && /^[0-9a-f]{7,40}$/.test(env.trim()) ? env.trim() : null;
}

/** Copy a folder's files (recursively) into another. */
async function copyTree(from: URL, to: URL): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    const source = new URL(entry.name + (entry.isDirectory ? "/" : ""), from);
    const target = new URL(entry.name + (entry.isDirectory ? "/" : ""), to);
    if (entry.isDirectory) await copyTree(source, target);
    else await Deno.copyFile(source, target);
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { target: { type: "string" }, output: { type: "string" } },
  });
  const output = values.output ?? `dist/scan-worker${values.target ? `-${values.target}` : ""}`;
  Deno.exit(await compile(await buildCommit(), output, values.target));
}

/**
 * What to say when `deno compile` failed: one line when it could not download Deno's runtime
 * (its error chain names the `denort-<target>.zip` it asked for), else its own output.
 *
 * @example
 * ```ts
 * import { compileFailure } from "./compile.ts";
 * const line = compileFailure(
 *   "error: Writing deno compile executable …\n  0: Setting up base binary.\n  1: error sending request for url (https://dl.deno.land/release/v2.9.6/denort-x86_64-unknown-linux-gnu.zip): dns error",
 *   "x86_64-unknown-linux-gnu",
 * );
 * if (!line.startsWith("compile: could not download Deno's runtime")) throw new Error(line);
 * ```
 */
export function compileFailure(stderr: string, target: string): string {
  if (!/denort-[\w.-]+\.zip|Setting up base binary/.test(stderr)) return stderr;
  const cause =
    /(dns error|connection refused|timed out|tcp connect error|certificate|proxy|404 Not Found)/i
      .exec(stderr)?.[1];
  return `compile: could not download Deno's runtime (denort) for ${target}${
    cause ? ` (${cause.toLowerCase()})` : ""
  }; to build offline, unpack denort-${target}.zip fetched on a machine that can reach Deno's release host and set DENORT_BIN=/path/to/denort\n`;
}

/**
 * Build the executable at `output` (for `target`, or this machine) with `commit` written into
 * it; returns deno compile's exit code.
 */
async function compile(
  commit: string | null,
  output: string,
  target: string | undefined,
): Promise<number> {
  const build = new URL(`file://${await Deno.makeTempDir({ prefix: "scan-worker-build-" })}/`);
  let code = 1;
  try {
    await copyTree(new URL("src/", root), new URL("src/", build));
    await copyTree(new URL("sql/", root), new URL("sql/", build));
    for (const file of ["deno.json", "deno.lock"]) {
      await Deno.copyFile(new URL(file, root), new URL(file, build));
    }
    if (commit !== null) {
      const buildInfo = new URL("src/build_info.ts", build);
      const original = await Deno.readTextFile(buildInfo);
      await Deno.writeTextFile(
        buildInfo,
        original.replace(
          "export const BUILD_COMMIT: string | null = null;",
          `export const BUILD_COMMIT: string | null = ${JSON.stringify(commit)};`,
        ),
      );
    }
    const outputPath = new URL(output, root).pathname;
    // The output's folders that do not exist yet (deno compile makes them, even when it fails).
    const newFolders: string[] = [];
    for (
      let folder = outputPath.slice(0, outputPath.lastIndexOf("/"));
      folder !== "" && !await Deno.stat(folder).then(() => true, () => false);
      folder = folder.slice(0, folder.lastIndexOf("/"))
    ) newFolders.push(folder);
    const result = await new Deno.Command(Deno.execPath(), {
      args: [
        "compile",
        "--allow-net",
        "--allow-read",
        "--allow-write",
        "--allow-env",
        ...V8_FLAGS,
        ...(target ? ["--target", target] : []),
        "--output",
        outputPath,
        "src/main.ts",
      ],
      cwd: build,
      stdout: "inherit",
      stderr: "piped",
    }).output();
    code = result.code;
    const stderr = new TextDecoder().decode(result.stderr);
    if (code === 0) {
      await Deno.stderr.write(result.stderr);
    } else {
      await Deno.stderr.write(
        new TextEncoder().encode(compileFailure(stderr, target ?? Deno.build.target)),
      );
      // Leave no empty output folder behind; a folder something else wrote into stays.
      for (const folder of newFolders) await Deno.remove(folder).catch(() => {});
    }
  } finally {
    await Deno.remove(build, { recursive: true });
  }
  if (code === 0) {
    console.log(`built ${output}${commit ? ` from commit ${commit.slice(0, 12)}` : ""}`);
  }
  return code;
}
