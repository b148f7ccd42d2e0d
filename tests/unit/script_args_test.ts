/**
 * The tasks' scripts answer `--help` with their options and a mistyped option with one line and
 * exit 2 (no stack trace). Each script is run as `deno task` runs it; none gets past its options.
 */
import { assertEquals, assertOk } from "../helpers/assert.ts";

const SCRIPTS = ["bench.ts", "bench_group.ts", "demo.ts", "soak.ts"];

/** Run a script with `args`, permissions as its task gives (none is used before the options). */
async function run(script: string, args: string[]) {
  const url = new URL(`../../scripts/${script}`, import.meta.url);
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", url.pathname, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: text(output.stdout), stderr: text(output.stderr) };
}

for (const script of SCRIPTS) {
  Deno.test(`${script}: --help lists the options, a mistyped one is one line and exit 2`, async () => {
    const help = await run(script, ["--help"]);
    assertEquals(help.code, 0, help.stderr);
    assertOk(/^deno task \S+ \[options\]: /.test(help.stdout), help.stdout);
    assertOk(help.stdout.includes("--events VALUE"), help.stdout);

    const wrong = await run(script, ["--evnets", "5"]);
    assertEquals(wrong.code, 2, wrong.stderr);
    assertEquals(wrong.stdout, "");
    const lines = wrong.stderr.trimEnd().split("\n");
    assertEquals(lines.length, 1, wrong.stderr);
    assertOk(lines[0]?.includes("Unknown option '--evnets'"), wrong.stderr);
  });
}
