/**
 * Compile smoke test: `deno task compile` builds dist/scan-worker, which must run on its own
 * (embedded migrations, no sql/ folder beside it). `deno compile` needs Deno's runtime binary
 * (denort): downloaded, or given by DENORT_BIN. Where neither is possible the test is ignored
 * and says why.
 */
import { assertEquals } from "../helpers/assert.ts";
import { serveFeed } from "../helpers/feed_server.ts";
import { readTables } from "../helpers/tables.ts";
import { FIXTURE_FEED, FIXTURE_TABLES } from "./fixture.ts";
import denoConfig from "../../deno.json" with { type: "json" };

const ROOT = new URL("../../", import.meta.url).pathname;
// Built into a temporary folder (removed after the test), not over a developer's dist/.
const OUT = Deno.makeTempDirSync({ prefix: "scan-worker-dist-" });
const BINARY = `${OUT}/scan-worker`;

const compile = await new Deno.Command(Deno.execPath(), {
  args: ["task", "--quiet", "compile", "--output", BINARY],
  cwd: ROOT,
  stdout: "piped",
  stderr: "piped",
}).output();
const compileError = new TextDecoder().decode(compile.stderr);
const skipReason = compile.success ? null : (
  /dns error|failed to lookup|download|error sending request|denort/i.test(compileError)
    ? `deno compile could not obtain its runtime (denort) here, and DENORT_BIN is ${
      Deno.env.get("DENORT_BIN") ? "set but unusable" : "not set"
    }`
    : null
);
if (skipReason !== null) {
  // deno-lint-ignore no-console -- the skip must say why, on the test output
  console.log(`compile smoke test skipped: ${skipReason}`);
  Deno.removeSync(OUT, { recursive: true });
}

Deno.test("offline, `deno task compile` says in one line that the runtime could not be downloaded and how DENORT_BIN builds offline, and leaves no folder", async () => {
  const parent = await Deno.makeTempDir({ prefix: "scan-worker-offline-" });
  const env = Deno.env.toObject();
  delete env.DENORT_BIN;
  try {
    const output = `${parent}/dist/more/scan-worker`;
    // A proxy on a closed port: Deno's release host cannot be reached, whatever the network.
    const result = await new Deno.Command(Deno.execPath(), {
      args: ["task", "--quiet", "compile", "--output", output],
      cwd: ROOT,
      clearEnv: true,
      env: { ...env, HTTPS_PROXY: "http://127.0.0.1:1", https_proxy: "http://127.0.0.1:1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(result.stderr);
    if (result.success) {
      // deno-lint-ignore no-console -- the skip must say why, on the test output
      console.log("offline compile message not checked: Deno's runtime is already cached here");
      return;
    }
    assertEquals(result.code, 1);
    const lines = stderr.trim().split("\n");
    assertEquals(lines.length, 1, stderr);
    assertEquals(
      /^compile: could not download Deno's runtime \(denort\) for \S+ .*set DENORT_BIN=\/path\/to\/denort$/
        .test(lines[0] ?? ""),
      true,
      stderr,
    );
    assertEquals([...Deno.readDirSync(parent)], [], "no output folder is left behind");
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

Deno.test({
  name: "the compiled executable prints its version and drains a feed on its own",
  ignore: skipReason !== null,
  async fn() {
    assertEquals(compile.success, true, compileError);
    const version = await new Deno.Command(BINARY, { args: ["--version"], stdout: "piped" })
      .output();
    // Built by `deno task compile`: the commit is inside the executable.
    const line = new TextDecoder().decode(version.stdout);
    assertEquals(
      /^scan-worker (\S+) \(commit [0-9a-f]{12}\)\n$/.exec(line)?.[1],
      denoConfig.version,
      line,
    );

    const dir = Deno.makeTempDirSync({ prefix: "scan-worker-compiled-" });
    const feed = serveFeed(FIXTURE_FEED);
    try {
      const run = await new Deno.Command(BINARY, {
        args: [
          "run",
          "--drain",
          "--api-url",
          feed.url,
          "--limit",
          "3",
          "--db",
          `sqlite:${dir}/scan.db`,
        ],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assertEquals(run.code, 0, new TextDecoder().decode(run.stderr));
      assertEquals(readTables(`${dir}/scan.db`), FIXTURE_TABLES);
    } finally {
      await feed.close();
      Deno.removeSync(dir, { recursive: true });
      Deno.removeSync(OUT, { recursive: true });
    }
  },
});
