/**
 * The consumer group's systemd template unit passes `systemd-analyze verify` as an instance
 * (`scan-worker-group@2.service`), and each instance gets a metrics port of its own.
 */
import { assertUnitVerifies } from "../helpers/systemd.ts";
import { assertIncludes } from "../helpers/assert.ts";

const UNIT = new URL("../../deploy/scan-worker-group@.service", import.meta.url);

const analyzer = await new Deno.Command("systemd-analyze", {
  args: ["--version"],
  stdout: "null",
  stderr: "null",
}).output().then((r) => r.success, () => false);
if (!analyzer) {
  // deno-lint-ignore no-console -- the skip must say why, on the test output
  console.log(
    "group unit check skipped: systemd-analyze is not installed (apt-get install systemd)",
  );
}

Deno.test({
  name: "deploy/scan-worker-group@.service passes systemd-analyze verify as an instance",
  ignore: !analyzer,
  async fn() {
    // verify checks that ExecStart and the environment file exist: stand-ins, nothing else changed.
    const dir = await Deno.makeTempDir({ prefix: "scan-worker-group-unit-" });
    try {
      const binary = `${dir}/scan-worker`;
      await Deno.writeTextFile(binary, "#!/bin/sh\nexit 0\n");
      await Deno.chmod(binary, 0o755);
      await Deno.writeTextFile(`${dir}/group.env`, "NATS_GROUP=ledger\n");
      const unit = (await Deno.readTextFile(UNIT))
        .replace("ExecStart=/usr/local/bin/scan-worker", `ExecStart=${binary}`)
        .replace("EnvironmentFile=/etc/scan-worker/group.env", `EnvironmentFile=${dir}/group.env`);
      await Deno.writeTextFile(`${dir}/scan-worker-group@.service`, unit);
      await assertUnitVerifies(`${dir}/scan-worker-group@2.service`, "scan-worker-group@");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("each member of the template unit has its own metrics port and joins by NATS_GROUP", async () => {
  const unit = await Deno.readTextFile(UNIT);
  assertIncludes(unit, "Environment=METRICS_PORT=947%i");
  assertIncludes(unit, "ExecStart=/usr/local/bin/scan-worker run --source nats\n");
  assertIncludes(unit, "EnvironmentFile=/etc/scan-worker/group.env");
});
