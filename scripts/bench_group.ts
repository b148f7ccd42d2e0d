/**
 * Consumer groups: how fast one, two and three members drain the same stream into one
 * PostgreSQL database (`deno task bench:group`).
 *
 * A private nats-server gets a stream of the simulator's accepted events (published as the relay
 * publishes them). For each member count: a fresh database, a fresh group consumer, and that
 * many `scan-worker run --source nats --group` processes started together; the clock runs from
 * the moment the last has joined (what was acknowledged before is left out, so process start-up
 * is too) until every message is acknowledged. The members' shares are the messages each wrote.
 *
 * Options: --events N (100000), --members 1,2,3, --limit N (500: SCAN_API_LIMIT, the batch).
 * PostgreSQL: BENCH_PG_URL or PG_TEST_URL (postgres://postgres@127.0.0.1:5432/test).
 *
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { checkArgs } from "./args.ts";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { feedShape } from "../src/simulator/model.ts";
import { groupConsumerConfig } from "../src/stream/mod.ts";
import { fillStream } from "./bench/downstream.ts";
import { freshTarget, postgresReachable } from "./bench/targets.ts";
import { startNats } from "./nats_server.ts";
import { cliCommand } from "./subprocess.ts";

// deno-lint-ignore no-console -- the bench's output is its report
const say = (line: string) => console.log(line);

/** The options; `--help` lists them with their defaults. */
const GROUP_BENCH_OPTIONS = {
  events: { type: "string", default: "100000" },
  members: { type: "string", default: "1,2,3" },
  limit: { type: "string", default: "500" },
} satisfies ParseArgsOptionsConfig;
checkArgs(
  "bench:group",
  "how fast one, two and three group members drain one stream into one PostgreSQL database (docs/groups.md).",
  GROUP_BENCH_OPTIONS,
);
const { values } = parseArgs({ args: Deno.args, options: GROUP_BENCH_OPTIONS });
const EVENTS = Number(values.events);
const COUNTS = values.members.split(",").map(Number);
const LIMIT = values.limit;

/** A member's process: when it has joined the group, and (once stopped) what it wrote. */
interface Member {
  readonly joined: Promise<void>;
  /** Messages written, once it has ended. */
  readonly done: Promise<number>;
  stop(): void;
}

/** Start one member and follow its JSON log. */
function member(env: Record<string, string>): Member {
  const child = cliCommand(["run", "--source", "nats"], { env, stderr: "inherit" }).spawn();
  let joined = () => {};
  const joinedPromise = new Promise<void>((resolve) => (joined = resolve));
  const done = (async () => {
    let messages = 0;
    let rest = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) {
        if (!line.startsWith("{")) continue;
        const entry = JSON.parse(line);
        const message = String(entry.message);
        if (message.startsWith("Joining the consumer")) joined();
        if (message.startsWith("Batch of ")) messages += Number(entry.properties?.messages ?? 0);
      }
    }
    const status = await child.status;
    if (status.code !== 0) throw new Error(`a member ended with ${status.code}`);
    return messages;
  })();
  return { joined: joinedPromise, done, stop: () => child.kill("SIGTERM") };
}

/**
 * One measurement on the stream `SCAN_EVENTS` (filled once): a fresh group consumer, `count`
 * members started together, and the clock from the moment the last one has joined (members
 * that joined earlier have started, so the messages acknowledged by then are left out) to the
 * moment every message is acknowledged. Returns the seconds, the messages in that window, and
 * each member's share of all the messages.
 */
async function measure(
  url: string,
  count: number,
  total: number,
  databaseUrl: string,
): Promise<{ seconds: number; messages: number; shares: number[] }> {
  const group = `bench_${count}`;
  const nc = await connect({ servers: url.replace("nats://", "") });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.consumers.add("SCAN_EVENTS", groupConsumerConfig(group));
    const env = {
      NATS_URL: url,
      NATS_GROUP: group,
      DATABASE_URL: databaseUrl,
      SCAN_API_LIMIT: LIMIT,
      LOG_LEVEL: "debug",
      LOG_FORMAT: "json",
    };
    const members = Array.from({ length: count }, () => member(env));
    // A member that ends before it has joined (a wrong setting) ends the measurement.
    await Promise.race([
      Promise.all(members.map((m) => m.joined)),
      ...members.map((m) => m.done.then(() => Promise.reject(new Error("a member ended early")))),
    ]);
    const started = performance.now();
    const before = (await jsm.consumers.info("SCAN_EVENTS", group)).ack_floor.stream_seq;
    for (;;) {
      const info = await jsm.consumers.info("SCAN_EVENTS", group);
      if (info.ack_floor.stream_seq >= total) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const seconds = (performance.now() - started) / 1000;
    for (const m of members) m.stop();
    return {
      seconds,
      messages: total - before,
      shares: await Promise.all(members.map((m) => m.done)),
    };
  } finally {
    await nc.close();
  }
}

if (!await postgresReachable()) {
  say("PostgreSQL is not reachable (BENCH_PG_URL / PG_TEST_URL): nothing measured");
  Deno.exit(1);
}
const nats = await startNats();
try {
  const feed = { shape: feedShape({ seed: 7, events: EVENTS }), events: EVENTS, limit: 1000 };
  const total = await fillStream(nats.url, feed);
  say(`stream: ${total} accepted events of ${EVENTS}; batches of ${LIMIT}; PostgreSQL`);
  say(`cores: ${navigator.hardwareConcurrency}, load average: ${Deno.loadavg().join(" ")}`);
  say("members  seconds  events/s  vs first  messages per member (all members joined: timed)");
  let first = Number.NaN;
  for (const count of COUNTS) {
    const target = await freshTarget("postgres");
    try {
      const migrate = await cliCommand(["migrate"], { env: { DATABASE_URL: target.url } })
        .output();
      if (!migrate.success) throw new Error(new TextDecoder().decode(migrate.stderr));
      const { seconds, messages, shares } = await measure(nats.url, count, total, target.url);
      const rate = messages / seconds;
      if (count === COUNTS[0]) first = rate;
      say(
        `${String(count).padStart(7)}  ${seconds.toFixed(2).padStart(7)}  ${
          Math.round(rate).toString().padStart(8)
        }  ${(rate / first).toFixed(2).padStart(8)}  ${shares.join(" / ")}`,
      );
    } finally {
      await target.drop();
    }
  }
} finally {
  await nats.destroy();
}
