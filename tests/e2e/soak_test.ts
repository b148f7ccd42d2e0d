/**
 * `deno task soak` for a few tens of seconds at a small rate: every figure is made (each
 * process's memory, the workers' heap and checkpoints, the slopes), and everything it started is
 * gone afterwards — processes and temporary folders, also when it is interrupted. The figures
 * themselves are for docs/performance.md, never asserted here.
 */
import { assertEquals, assertIncludes, assertOk } from "../helpers/assert.ts";
import { NATS_IGNORE } from "../helpers/nats_server.ts";
import { denoTask } from "../helpers/suite.ts";
import { usage } from "../../scripts/bench/measure.ts";
import { PERMISSIONS } from "../../scripts/subprocess.ts";

const SMALL = ["--rate", "200", "--events", "2000", "--interval-s", "2"];

/** A fresh folder for the soak's TMPDIR (all its temporary folders and its children's). */
function tempRoot(): string {
  return Deno.makeTempDirSync({ prefix: "scan-worker-soak-test-" });
}

/** Assert that none of `pids` runs and that `dir` holds nothing. */
async function assertAllRemoved(pids: Record<string, number>, dir: string): Promise<void> {
  for (const [name, pid] of Object.entries(pids)) {
    assertEquals(await usage(pid), null, `the ${name} (pid ${pid}) still runs`);
  }
  const left = [...Deno.readDirSync(dir)].map((entry) => entry.name);
  assertEquals(left, [], `left in TMPDIR: ${left.join(", ")}`);
}

Deno.test({
  name: "deno task soak samples every process, gives the slopes, and removes what it started",
  ignore: NATS_IGNORE,
  fn: async () => {
    const tmp = tempRoot();
    try {
      const args = ["soak", "--minutes", "0.5", "--warmup-minutes", "0.1", "--floor-s", "4"];
      args.push(...SMALL, "--json");
      const { code, stdout, stderr } = await denoTask(args, { TMPDIR: tmp });
      // 0 flat, 1 growing: a half-minute slope says nothing, so either verdict is a finished run.
      assertOk(code === 0 || code === 1, `exit ${code}: ${stderr}`);
      const report = JSON.parse(stdout);
      assertEquals(report.interrupted, false);
      assertEquals(Object.keys(report.pids), ["worker", "downstream", "simulator", "nats-server"]);
      assertOk(report.samples.length >= 10, `${report.samples.length} samples`);
      for (const sample of report.samples.slice(1)) {
        for (const name of Object.keys(report.pids)) {
          assertOk(sample.processes[name].rssMb > 0, `${name} at ${sample.seconds} s`);
        }
        for (const name of ["worker", "downstream"]) {
          const p = sample.processes[name];
          assertOk(p.heapMb > 0 && p.externalMb > 0, `${name} at ${sample.seconds} s`);
        }
      }
      const last = report.samples.at(-1).processes;
      assertOk(
        last.worker.checkpoint > 2000,
        `the worker reached the head: ${last.worker.checkpoint}`,
      );
      assertOk(last.downstream.checkpoint > 0, "the downstream worker read the stream");
      for (const name of ["worker", "downstream"]) {
        for (const series of ["rssMb", "heapMb", "externalMb"]) {
          const slope = report.slopes[name][series];
          assertOk(slope.points >= 5 && Number.isFinite(slope.mbPerHour), `${name} ${series}`);
          assertOk(Number.isFinite(slope.samplesMbPerHour), `${name} ${series}`);
        }
        assertEquals(typeof report.flat[name], "boolean");
        assertEquals(report.logged[name].error, 0, JSON.stringify(report.messages[name]));
      }
      assertOk(Number.isFinite(report.slopes["nats-server"].rssMb.mbPerHour));
      assertEquals(code, Object.values(report.flat).every(Boolean) ? 0 : 1);
      await assertAllRemoved(report.pids, tmp);

      // The saved report judged again, through every sample: its table and slopes, no process.
      Deno.writeTextFileSync(`${tmp}/report.json`, stdout);
      const again = await denoTask(["soak", "--from", `${tmp}/report.json`, "--floor-s", "0"]);
      assertEquals(again.code, again.stdout.includes("FAIL") ? 1 : 0, again.stderr);
      const rows = again.stdout.split("\n").filter((line) => /^ +[\d.]+ \|/.test(line));
      assertEquals(rows.length, report.samples.length);
      assertIncludes(again.stdout, "Slopes after 0.1 min of warm-up");
      assertIncludes(again.stdout, "worker      rss ");
    } finally {
      Deno.removeSync(tmp, { recursive: true });
    }
  },
});

/** Read from `reader` until the text read satisfies `enough`; that text, or throw at its end. */
async function readUntil(
  reader: ReadableStreamDefaultReader<string>,
  enough: (text: string) => boolean,
): Promise<string> {
  let text = "";
  while (!enough(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`ended before the state awaited: ${text}`);
    text += value;
  }
  return text;
}

Deno.test({
  name: "deno task soak interrupted by SIGINT stops everything it started and exits 130",
  ignore: NATS_IGNORE,
  fn: async () => {
    const tmp = tempRoot();
    try {
      const script = new URL("../../scripts/soak.ts", import.meta.url).pathname;
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", ...PERMISSIONS, "--allow-run", script, "--minutes", "10", ...SMALL],
        env: { TMPDIR: tmp },
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const errors = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
      const started = await readUntil(errors, (text) => /^Soak started: .*\n/m.test(text));
      const pids = JSON.parse(/^Soak started: (.*)$/m.exec(started)?.[1] ?? "null");
      const out = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      // Two table rows: sampling is under way (if the soak ends first, its stderr says why).
      await readUntil(out, (text) => (text.match(/^ +[\d.]+ \|/gm) ?? []).length >= 2).catch(
        async (error) => {
          let why = "";
          for (let r = await errors.read(); !r.done; r = await errors.read()) why += r.value;
          throw new Error(`${error.message}\nstderr after the start:\n${why}`);
        },
      );
      child.kill("SIGINT");
      let rest = "";
      for (;;) {
        const { value, done } = await out.read();
        if (done) break;
        rest += value;
      }
      for (;;) if ((await errors.read()).done) break;
      assertEquals((await child.status).code, 130);
      assertIncludes(rest, "Interrupted before the end.");
      await assertAllRemoved(pids, tmp);
    } finally {
      Deno.removeSync(tmp, { recursive: true });
    }
  },
});
