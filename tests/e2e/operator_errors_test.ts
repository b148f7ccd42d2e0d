/**
 * What an operator sees when the setup is wrong: each failure names its setting, its path or
 * its cause in one line.
 */
import { assertEquals, assertIncludes, assertOk } from "../helpers/assert.ts";
import { type CliResult, props, runCli, runMain } from "../helpers/cli.ts";
import { serveFeed } from "../helpers/feed_server.ts";
import { CLUSTER_SKIP, startCluster } from "../helpers/pg_cluster.ts";
import { FIXTURE_FEED } from "./fixture.ts";

/** The error of the command's last log line (stderr for operator commands, stdout for run). */
function failure(result: CliResult, stream: "stdout" | "stderr"): string {
  const line = JSON.parse(result[stream].trim().split("\n").at(-1) ?? "{}");
  return String(props(line).error);
}

Deno.test("a metrics port already in use is named with its setting", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "scan-worker-port-" });
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const feed = serveFeed(FIXTURE_FEED);
  try {
    const port = (taken.addr as Deno.NetAddr).port;
    const result = await runMain(["run", "--drain"], {
      env: {
        SCAN_API_URL: feed.url,
        DATABASE_URL: `sqlite:${dir}/scan.db`,
        METRICS_PORT: String(port),
      },
    });
    assertEquals(result.code, 1);
    assertEquals(
      failure(result, "stdout"),
      `cannot serve health and metrics on 127.0.0.1:${port} (METRICS_PORT, METRICS_HOST): the port is already in use (another scan-worker, or another program?)`,
    );
  } finally {
    taken.close();
    await feed.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("SQLite: a missing directory or file is named, for every command", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "scan-worker-sqlite-open-" });
  try {
    const missingDir = `${dir}/nowhere/scan.db`;
    for (const command of [["status"], ["migrate"], ["run", "--drain"], ["parcel", "1"]]) {
      const result = await runMain(command, { env: { DATABASE_URL: `sqlite:${missingDir}` } });
      assertEquals(result.code, 1, command.join(" "));
      const error = failure(result, command[0] === "run" ? "stdout" : "stderr");
      assertIncludes(
        error,
        `cannot open SQLite database ${missingDir}: its directory ${dir}/nowhere does not exist`,
      );
    }
    const missingFile = await runMain(["status"], {
      env: { DATABASE_URL: `sqlite:${dir}/none.db` },
    });
    assertEquals(missingFile.code, 1);
    assertIncludes(
      failure(missingFile, "stderr"),
      'the file does not exist; "migrate" or "run" creates it',
    );
    assertEquals([...Deno.readDirSync(dir)], [], "nothing was created");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

/** Whether `chattr +i` can make a folder read-only even for root (ext4 and the like). */
const immutable = await (async () => {
  const dir = Deno.makeTempDirSync({ prefix: "scan-worker-chattr-" });
  try {
    const set = await new Deno.Command("chattr", { args: ["+i", dir], stderr: "null" }).output()
      .catch(() => null);
    if (!set?.success) return false;
    await new Deno.Command("chattr", { args: ["-i", dir] }).output();
    return true;
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
})();
if (!immutable) {
  // deno-lint-ignore no-console -- the skip must say why, on the test output
  console.log("read-only directory test skipped: chattr +i is not available on this filesystem");
}

Deno.test({
  name: "SQLite: a read-only directory is named as such",
  ignore: !immutable,
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "scan-worker-readonly-" });
    await new Deno.Command("chattr", { args: ["+i", dir] }).output();
    try {
      const result = await runMain(["migrate"], { env: { DATABASE_URL: `sqlite:${dir}/scan.db` } });
      assertEquals(result.code, 1);
      assertIncludes(
        failure(result, "stderr"),
        `cannot open SQLite database ${dir}/scan.db: its directory ${dir} is read-only or not writable by this user`,
      );
    } finally {
      await new Deno.Command("chattr", { args: ["-i", dir] }).output();
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "PostgreSQL sslmode means what it means to libpq, without pg's warning",
  ignore: CLUSTER_SKIP !== null,
  async fn() {
    const cluster = await startCluster({ ssl: true });
    try {
      const url = (mode: string) => `${cluster.url()}?sslmode=${mode}`;
      assertEquals((await runCli(["migrate"], { env: { DATABASE_URL: cluster.url() } })).code, 0);
      // require: encrypted, the (self-signed) certificate not checked.
      const require = await runCli(["status", "--json"], { env: { DATABASE_URL: url("require") } });
      assertEquals(require.code, 0, require.stderr);
      assertOk(!require.stderr.includes("SECURITY WARNING"), require.stderr);
      // verify-full: the self-signed certificate is refused.
      const verify = await runCli(["status"], { env: { DATABASE_URL: url("verify-full") } });
      assertEquals(verify.code, 1);
      assertIncludes(failure(verify, "stderr").toLowerCase(), "certificate");
      const disable = await runCli(["status"], { env: { DATABASE_URL: url("disable") } });
      assertEquals(disable.code, 0, disable.stderr);
    } finally {
      await cluster.destroy();
    }
  },
});
