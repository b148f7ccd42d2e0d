/**
 * The deployment files: the systemd unit passes `systemd-analyze verify`; the install steps
 * work, in a temporary root; the container build names its commit and owns its data folder.
 */
import { assertUnitVerifies } from "../helpers/systemd.ts";
import { assertEquals } from "../helpers/assert.ts";
import { IS_ROOT } from "../helpers/pg_cluster.ts";
import { buildCommit } from "../../scripts/compile.ts";

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
      await assertUnitVerifies(`${dir}/scan-worker.service`, "scan-worker.service");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const ROOT = new URL("../../", import.meta.url).pathname;
const isRoot = IS_ROOT;
if (!isRoot) {
  // deno-lint-ignore no-console -- the skip must say why, on the test output
  console.log("install steps test skipped: it sets owners (install -o/-g), which needs root");
}

Deno.test({
  name:
    "deploy/install.sh installs the executable, settings, state folder and unit (in a temporary root)",
  ignore: !isRoot,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "scan-worker-install-" });
    const binary = `${root}-binary`;
    await Deno.writeTextFile(binary, "#!/bin/sh\nexit 0\n");
    const install = () =>
      new Deno.Command("sh", {
        args: ["deploy/install.sh"],
        cwd: ROOT,
        env: {
          DESTDIR: root,
          BINARY: binary,
          SCAN_WORKER_USER: "nobody",
          SCAN_WORKER_GROUP: "nogroup",
        },
        stdout: "piped",
        stderr: "piped",
      }).output();
    try {
      const first = await install();
      assertEquals(first.code, 0, new TextDecoder().decode(first.stderr));
      const nobody = Number(
        new TextDecoder().decode(
          (await new Deno.Command("id", { args: ["-u", "nobody"] }).output()).stdout,
        ),
      );
      const nogroup = Number(
        new TextDecoder().decode(
          (await new Deno.Command("id", { args: ["-g", "nobody"] }).output()).stdout,
        ),
      );
      const expect: [string, number, number | null, number | null][] = [
        ["usr/local/bin/scan-worker", 0o755, 0, null],
        ["etc/scan-worker", 0o750, 0, null],
        ["etc/scan-worker/scan-worker.env", 0o640, 0, null],
        ["var/lib/scan-worker", 0o750, nobody, null],
        ["etc/systemd/system/scan-worker.service", 0o644, 0, null],
        ["usr/local/share/doc/scan-worker/README.md", 0o644, 0, null],
        ["usr/local/share/doc/scan-worker/rules.md", 0o644, 0, null],
      ];
      for (const [path, mode, uid] of expect) {
        const info = await Deno.stat(`${root}/${path}`);
        assertEquals([path, (info.mode ?? 0) & 0o777, info.uid], [path, mode, uid]);
      }
      assertEquals((await Deno.stat(`${root}/etc/scan-worker/scan-worker.env`)).gid, nogroup);
      assertEquals((await Deno.stat(`${root}/var/lib/scan-worker`)).gid, nogroup);
      assertEquals(
        await Deno.readTextFile(`${root}/etc/systemd/system/scan-worker.service`),
        await Deno.readTextFile(UNIT),
      );
      // A second install keeps the settings an operator has edited.
      await Deno.writeTextFile(`${root}/etc/scan-worker/scan-worker.env`, "SCAN_API_LIMIT=7\n");
      assertEquals((await install()).code, 0);
      assertEquals(
        await Deno.readTextFile(`${root}/etc/scan-worker/scan-worker.env`),
        "SCAN_API_LIMIT=7\n",
      );
    } finally {
      await Deno.remove(root, { recursive: true });
      await Deno.remove(binary);
    }
  },
});

/** Every path under `root`, relative, sorted. */
async function tree(root: string, prefix = ""): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(`${root}/${prefix}`)) {
    const path = `${prefix}${entry.name}`;
    found.push(path);
    if (entry.isDirectory) found.push(...await tree(root, `${path}/`));
  }
  return found.sort();
}

/** Run deploy/install.sh with only the given variables (and PATH). */
function runInstall(env: Record<string, string>) {
  return new Deno.Command("sh", {
    args: ["deploy/install.sh"],
    cwd: ROOT,
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
}

Deno.test("deploy/install.sh with its defaults installs everything into a temporary root, owned by the installer where the service's user does not exist", async () => {
  const root = await Deno.makeTempDir({ prefix: "scan-worker-install-defaults-" });
  const binary = `${root}-binary`;
  await Deno.writeTextFile(binary, "#!/bin/sh\nexit 0\n");
  try {
    const defaultUserExists = (await new Deno.Command("id", {
      args: ["-u", "scan-worker"],
      stdout: "null",
      stderr: "null",
    }).output()).success;
    const result = await runInstall({ DESTDIR: root, BINARY: binary });
    const stdout = new TextDecoder().decode(result.stdout);
    assertEquals(result.code, 0, new TextDecoder().decode(result.stderr));
    if (!defaultUserExists) {
      assertEquals(
        stdout.includes("user scan-worker or group scan-worker does not exist here"),
        true,
        stdout,
      );
    }
    const files = await tree(root);
    for (
      const path of [
        "usr/local/bin/scan-worker",
        "etc/scan-worker/scan-worker.env",
        "var/lib/scan-worker",
        "etc/systemd/system/scan-worker.service",
        "usr/local/share/doc/scan-worker/README.md",
        "usr/local/share/doc/scan-worker/operations.md",
      ]
    ) {
      assertEquals(files.includes(path), true, `${path} in ${files.join(", ")}`);
    }
    const env = await Deno.stat(`${root}/etc/scan-worker/scan-worker.env`);
    assertEquals((env.mode ?? 0) & 0o777, 0o640);
    const me = Number(
      new TextDecoder().decode((await new Deno.Command("id", { args: ["-u"] }).output()).stdout),
    );
    if (!defaultUserExists) assertEquals(env.uid, me);
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(binary);
  }
});

Deno.test("deploy/install.sh runs the service as SCAN_WORKER_USER and SCAN_WORKER_GROUP when they are set (a drop-in); with the defaults it adds none", async () => {
  const root = await Deno.makeTempDir({ prefix: "scan-worker-install-user-" });
  const plain = await Deno.makeTempDir({ prefix: "scan-worker-install-plain-" });
  const binary = `${root}-binary`;
  await Deno.writeTextFile(binary, "#!/bin/sh\nexit 0\n");
  try {
    const result = await runInstall({
      DESTDIR: root,
      BINARY: binary,
      SCAN_WORKER_USER: "svc-scan",
      SCAN_WORKER_GROUP: "svc-couriers",
    });
    assertEquals(result.code, 0, new TextDecoder().decode(result.stderr));
    const dropin = `${root}/etc/systemd/system/scan-worker.service.d/user.conf`;
    assertEquals(
      await Deno.readTextFile(dropin),
      "[Service]\nUser=svc-scan\nGroup=svc-couriers\n",
    );
    assertEquals(((await Deno.stat(dropin)).mode ?? 0) & 0o777, 0o644);
    const defaults = await runInstall({ DESTDIR: plain, BINARY: binary });
    assertEquals(defaults.code, 0, new TextDecoder().decode(defaults.stderr));
    assertEquals(
      (await tree(plain)).some((path) => path.includes("scan-worker.service.d")),
      false,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(plain, { recursive: true });
    await Deno.remove(binary);
  }
});

Deno.test("deploy/install.sh leaves nothing half-done: a missing executable installs nothing, a failing step removes what the run installed", async () => {
  const root = await Deno.makeTempDir({ prefix: "scan-worker-install-fail-" });
  const binary = `${root}-binary`;
  await Deno.writeTextFile(binary, "#!/bin/sh\nexit 0\n");
  try {
    const missing = await runInstall({ DESTDIR: root, BINARY: `${root}-nothing` });
    assertEquals(missing.code, 1);
    assertEquals(
      new TextDecoder().decode(missing.stderr).includes("run `deno task compile` first"),
      true,
      new TextDecoder().decode(missing.stderr),
    );
    assertEquals(await tree(root), []);

    // The docs folder cannot be made (a file is in its way): the executable, settings, state
    // folder and unit installed before that step are removed again; what was there stays.
    await Deno.mkdir(`${root}/usr/local/share`, { recursive: true });
    await Deno.writeTextFile(`${root}/usr/local/share/doc`, "in the way\n");
    const before = await tree(root);
    const failed = await runInstall({ DESTDIR: root, BINARY: binary });
    const stderr = new TextDecoder().decode(failed.stderr);
    assertEquals(failed.code, 1, stderr);
    assertEquals(stderr.includes("removed what this run had installed"), true, stderr);
    assertEquals(await tree(root), before);
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(binary);
  }
});

Deno.test("the container build passes the commit in and gives its data folder to the runtime user", async () => {
  const dockerfile = await Deno.readTextFile(new URL("../../deploy/Dockerfile", import.meta.url));
  assertEquals(/^ARG SCAN_WORKER_COMMIT$/m.test(dockerfile), true);
  assertEquals(/SCAN_WORKER_COMMIT=\$SCAN_WORKER_COMMIT deno task compile/.test(dockerfile), true);
  assertEquals(
    /COPY --from=build --chown=nonroot:nonroot \/out\/data \/data/.test(dockerfile),
    true,
  );
});

Deno.test("the executable's commit comes from git, or from SCAN_WORKER_COMMIT without a checkout", async () => {
  const noCheckout = await Deno.makeTempDir({ prefix: "scan-worker-nogit-" });
  try {
    const commit = "0123456789abcdef0123456789abcdef01234567";
    assertEquals(await buildCommit(new URL(`file://${noCheckout}/`), commit), commit);
    assertEquals(await buildCommit(new URL(`file://${noCheckout}/`), undefined), null);
    assertEquals(await buildCommit(new URL(`file://${noCheckout}/`), "not a commit"), null);
    const head = await buildCommit(new URL("../../", import.meta.url), commit);
    assertEquals(/^[0-9a-f]{40}$/.test(head ?? ""), true);
  } finally {
    await Deno.remove(noCheckout, { recursive: true });
  }
});
