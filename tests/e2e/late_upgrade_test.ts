/**
 * An upgrade in place (docs/rules.md §3.10, §7): a database written by the release before late
 * events (commit c1e41fd, run as a subprocess from its own source tree), with events it could
 * not publish waiting in its outbox (the broker was down), is migrated by this release, and
 * every waiting event reaches the stream exactly once, in order, after those already there.
 * On SQLite and PostgreSQL, against a real (private) NATS server.
 */
import { assertEquals, assertOk } from "../helpers/assert.ts";
import { runMain } from "../helpers/cli.ts";
import { NATS_IGNORE, readStream, startNats } from "../helpers/nats_server.ts";
import { oracle } from "../helpers/oracle.ts";
import { createTestDatabase, PG_SKIP } from "../helpers/postgres.ts";
import { startSimulator } from "../helpers/simulator.ts";
import { tempDatabase } from "../helpers/tables.ts";
import { messageId } from "../../src/domain/message.ts";
import { feedShape } from "../../src/simulator/model.ts";

/** The last release before late events: its outbox is in EventId order, its relay prunes by range. */
const PREVIOUS = "c1e41fd";
const ROOT = new URL("../../", import.meta.url).pathname;

/** Why the previous release cannot be built here (no git, or not its commit), or null. */
function previousProblem(): string | null {
  try {
    const out = new Deno.Command("git", {
      args: ["-C", ROOT, "cat-file", "-e", `${PREVIOUS}^{commit}`],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    return out.success ? null : `commit ${PREVIOUS} is not in this checkout's history`;
  } catch (error) {
    return `git cannot be run (${(error as Error).message})`;
  }
}

const SKIP = previousProblem();
if (SKIP !== null) {
  // deno-lint-ignore no-console -- a skipped test says why
  console.log(`Upgrade test skipped: ${SKIP}`);
}

/** The previous release's source tree in a temporary folder. */
async function previousRelease(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "scan-worker-previous-" });
  const archive = new Deno.Command("git", {
    args: ["-C", ROOT, "archive", "--format=tar", PREVIOUS],
    stdout: "piped",
  }).spawn();
  const untar = new Deno.Command("tar", { args: ["-x", "-C", dir], stdin: "piped" }).spawn();
  await archive.stdout.pipeTo(untar.stdin);
  const [a, u] = await Promise.all([archive.status, untar.status]);
  if (!a.success || !u.success) throw new Error(`cannot extract ${PREVIOUS} into ${dir}`);
  return dir;
}

/** Run the previous release's `scan-worker args` until `until` accepts a log line, then SIGTERM it. */
async function runPrevious(
  dir: string,
  args: string[],
  env: Record<string, string>,
  until: (line: { message: string; properties?: Record<string, unknown> }) => boolean,
): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${dir}/src/main.ts`, ...args],
    cwd: dir,
    env: { ...env, LOG_FORMAT: "json", LOG_LEVEL: "debug" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  let out = "";
  const decoder = new TextDecoder();
  let signalled = false;
  for await (const chunk of child.stdout) {
    out += decoder.decode(chunk, { stream: true });
    const lines = out.split("\n").filter((l) => l.startsWith("{"));
    if (!signalled && lines.some((l) => until(JSON.parse(l)))) {
      signalled = true;
      child.kill("SIGTERM");
    }
  }
  const status = await child.status;
  if (status.code !== 0) {
    throw new Error(`the previous release exited ${status.code}: ${await stderr}\n${out}`);
  }
  await stderr;
  return out;
}

const STORES = [
  { name: "SQLite", ignore: SKIP !== null || NATS_IGNORE },
  { name: "PostgreSQL", ignore: SKIP !== null || NATS_IGNORE || PG_SKIP !== null },
] as const;

for (const { name, ignore } of STORES) {
  Deno.test({
    name:
      `${name}: a database of the previous release with unpublished outbox rows is migrated, and each waiting row reaches the stream once`,
    ignore,
    async fn() {
      const seed = 41;
      const server = await startNats();
      const previous = await previousRelease();
      const sqlite = tempDatabase("scan-worker-upgrade-");
      const pg = name === "PostgreSQL" ? await createTestDatabase("scan_worker_upgrade") : null;
      const url = pg?.url ?? sqlite.url;
      const feed = await startSimulator(["--events", "4000", "--seed", String(seed)]);
      try {
        const env = {
          DATABASE_URL: url,
          NATS_URL: server.url,
          SCAN_API_URL: feed.url,
          SCAN_API_LIMIT: "300",
          RETRY_BASE_MS: "20",
          RETRY_MAX_MS: "200",
        };
        // The previous release ingests and publishes about half of the feed…
        await runPrevious(
          previous,
          ["run"],
          env,
          (l) => l.message.startsWith("Page ") && Number(l.properties?.to) >= 2000,
        );
        const published = (await readStream(server.url)).length;
        // …then, with the broker down, the rest, which waits in its outbox.
        await server.kill("SIGKILL");
        await runPrevious(
          previous,
          ["run"],
          env,
          (l) => l.message.startsWith("Caught up at checkpoint 40"),
        );
        await server.start();
        // This release: migrate, then drain.
        const upgraded = await runMain(["run", "--drain"], { env });
        assertEquals(upgraded.code, 0, upgraded.stdout.slice(-2000));
        const expected = oracle(feedShape({ seed, events: 4000 }), 4000).stream;
        const messages = await readStream(server.url);
        assertOk(published > 0 && published < expected.length, `${published} published before`);
        assertEquals(messages.length, expected.length, "every waiting row, once");
        assertEquals(messages.map((m) => m.body), expected);
        assertEquals(
          messages.map((m) => m.id),
          expected.map((b) => messageId(JSON.parse(b).EventId)),
        );
      } finally {
        await feed.stop();
        await server.destroy();
        await pg?.drop();
        await Deno.remove(sqlite.dir, { recursive: true });
        await Deno.remove(previous, { recursive: true });
      }
    },
  });
}
