/**
 * A private NATS server with JetStream for one test: `nats-server -js` on a free port with its
 * store in a temporary folder, so a test can kill and restart its broker and own the stream's
 * subjects. The machine's shared server is never used. Removed by `destroy()`, also on failure.
 *
 * @module
 */

import { jetstream, jetstreamManager, StorageType } from "@nats-io/jetstream";
import { connect, nanos } from "@nats-io/transport-node";

/** Why private NATS servers cannot run here, or null. */
export const NATS_SKIP: string | null = (() => {
  try {
    const version = new Deno.Command("nats-server", { args: ["--version"], stdout: "null" })
      .outputSync();
    return version.success ? null : "nats-server does not run";
  } catch {
    return "nats-server is not installed (apt-get install nats-server)";
  }
})();
if (NATS_SKIP !== null && Deno.env.get("CI") !== "true") {
  // deno-lint-ignore no-console -- every test that needs NATS is skipped: say why, once
  console.log(`NATS tests skipped: ${NATS_SKIP}`);
}
/** Whether NATS tests are ignored (never in CI: there a missing server fails them). */
export const NATS_IGNORE: boolean = NATS_SKIP !== null && Deno.env.get("CI") !== "true";

/** A private NATS server. */
export interface PrivateNats {
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  /** Kill it (SIGKILL by default: a crash). */
  kill(signal?: Deno.Signal): Promise<void>;
  /** Start it again on the same port and store. */
  start(): Promise<void>;
  /** Kill it and remove its store. */
  destroy(): Promise<void>;
}

/** Wait until `port` accepts a connection (the server is up), at most ~10 s. */
async function listening(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`nats-server did not listen on ${port}`);
}

/** Start a private server on a free port. */
export async function startNats(): Promise<PrivateNats> {
  const dir = await Deno.makeTempDir({ prefix: "scan-worker-nats-" });
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  let child: Deno.ChildProcess | null = null;
  const start = async () => {
    child = new Deno.Command("nats-server", {
      args: ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await listening(port);
  };
  const kill = async (signal: Deno.Signal = "SIGKILL") => {
    const running: Deno.ChildProcess | null = child;
    child = null;
    if (running === null) return;
    try {
      running.kill(signal);
    } catch {
      // already gone
    }
    await running.status;
  };
  try {
    await start();
  } catch (error) {
    await kill();
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    kill,
    start,
    destroy: async () => {
      await kill();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** One message of the stream: its sequence, message id, subject and body. */
export interface StreamMessage {
  readonly seq: number;
  readonly id: string;
  readonly subject: string;
  readonly body: string;
}

/** Every message of `stream` on the server at `url`, in order (read with an ordered consumer). */
export async function readStream(url: string, stream = "SCAN_EVENTS"): Promise<StreamMessage[]> {
  const nc = await connect({ servers: url.replace("nats://", "") });
  try {
    const jsm = await jetstreamManager(nc);
    const { state } = await jsm.streams.info(stream);
    const messages: StreamMessage[] = [];
    if (state.messages === 0) return messages;
    const consumer = await jetstream(nc).consumers.get(stream, { opt_start_seq: state.first_seq });
    while (messages.length < state.messages) {
      const batch = await consumer.fetch({ max_messages: 1000, expires: 2000 });
      let got = 0;
      for await (const m of batch) {
        got++;
        messages.push({
          seq: m.seq,
          id: m.headers?.get("Nats-Msg-Id") ?? "",
          subject: m.subject,
          body: m.string(),
        });
        if (messages.length >= state.messages) break;
      }
      if (got === 0) break;
    }
    return messages;
  } finally {
    await nc.close();
  }
}

/** Create `stream` on the server at `url` with a duplicate window of `windowMs` (the worker then uses it as it is). */
export async function createStream(
  url: string,
  windowMs: number,
  stream = "SCAN_EVENTS",
): Promise<void> {
  const nc = await connect({ servers: url.replace("nats://", "") });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({
      name: stream,
      subjects: ["scan.v1.events.>"],
      storage: StorageType.File,
      duplicate_window: nanos(windowMs),
    });
  } finally {
    await nc.close();
  }
}
