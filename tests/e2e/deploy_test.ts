/** The deployment files: the systemd unit passes `systemd-analyze verify`. */
import { assertEquals } from "../helpers/assert.ts";

const UNIT = new URL("../../deploy/scan-worker.service", import.meta.url);

const analyzer = await new Deno.Command("systemd-analyze", {
  args: ["--version"],
  stdout: "null",
  stderr: "null",
})
  .output().then((r) => r.success, () => false);
if (!analyzer) {
  // deno-lint-ignore no-console -- the skip must say why, on the test output
  console.log(
    "systemd unit check skipped: systemd-analyze is not installed (apt-get install systemd)",
  );
}

Deno.test({
  name: "deploy/scan-worker.service passes systemd-analyze verify",
  ignore: !analyzer,
  async fn() {
    // verify checks that ExecStart exists: point it at a stand-in executable, change nothing else.
    const dir = await Deno.makeTempDir({ prefix: "scan-worker-unit-" });
    try {
      const binary = `${dir}/scan-worker`;
      await Deno.writeTextFile(binary, "#!/bin/sh\nexit 0\n");
      await Deno.chmod(binary, 0o755);
      const unit = (await Deno.readTextFile(UNIT)).replace(
        "ExecStart=/usr/local/bin/scan-worker",
        `ExecStart=${binary}`,
      );
      await Deno.writeTextFile(`${dir}/scan-worker.service`, unit);
      const result = await new Deno.Command("systemd-analyze", {
        args: ["verify", `${dir}/scan-worker.service`],
        stdout: "piped",
        stderr: "piped",
        env: { SYSTEMD_LOG_LEVEL: "warning" },
      }).output();
      const output = new TextDecoder().decode(result.stderr) +
        new TextDecoder().decode(result.stdout);
      const problems = output.split("\n").filter((line) =>
        line.includes("scan-worker.service") &&
        !/Failed to (connect|create).*bus|No such file or directory.*bus/i.test(line)
      );
      assertEquals([result.code, problems], [0, []], output);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
