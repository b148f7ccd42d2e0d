/**
 * A private NATS server with JetStream: `nats-server -js` on a free port with its store in a
 * temporary folder, for a test or a benchmark that must own its broker (kill it, restart it,
 * own the stream's subjects). A machine's shared server is never used.
 *
 * @module
 */

/** Why a private NATS server cannot run here (not installed, or does not start), or null. */
export function natsServerProblem(): string | null {
  try {
    const version = new Deno.Command("nats-server", { args: ["--version"], stdout: "null" })
      .outputSync();
    return version.success ? null : "nats-server does not run";
  } catch {
    return "nats-server is not installed (apt-get install nats-server)";
  }
}

/** A private NATS server. */
export interface PrivateNats {
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  /** Its process id while it runs, else null (to sample its memory). */
  readonly pid: number | null;
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
    get pid() {
      return (child as Deno.ChildProcess | null)?.pid ?? null;
    },
    kill,
    start,
    destroy: async () => {
      await kill();
      await Deno.remove(dir, { recursive: true });
    },
  };
}
