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
const BINARY = `${ROOT}dist/scan-worker`;

const compile = await new Deno.Command(Deno.execPath(), {
  args: ["task", "--quiet", "compile"],
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
}

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
    }
  },
});
