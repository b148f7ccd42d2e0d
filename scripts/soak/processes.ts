/**
 * The soak's subprocesses: `scan-worker run` (upstream and downstream) as operators start them,
 * each with its health and metrics listener on a free port, its log read continuously (a full
 * pipe would stall it) and its last lines kept for an error message.
 *
 * @module
 */

import { cliCommand } from "../subprocess.ts";

/** How many of a process's last log lines are kept. */
const TAIL_LINES = 30;

/** A running `scan-worker run`. */
export interface WorkerProcess {
  /** "worker" or "downstream". */
  readonly name: string;
  readonly pid: number;
  /** Its /metrics address. */
  readonly metricsUrl: string;
  /** Resolves when it exits, with its status. */
  readonly status: Promise<Deno.CommandStatus>;
  /** Lines it logged at WARN and ERROR (or higher) so far. */
  readonly logged: { warn: number; error: number };
  /** Its WARN and ERROR messages so far, digits as #, each with how often it came. */
  readonly messages: Map<string, number>;
  /** Its last log lines (at most 30). */
  tail(): string[];
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited and its log is read. */
  stop(graceMs?: number): Promise<void>;
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): number {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  return port;
}

/** Read `stream` line by line into `onLine` until it ends. */
async function readLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) onLine(line);
  }
  if (rest !== "") onLine(rest);
}

/** Start `scan-worker run ARGS` with `env` (plus JSON logs at LOG_LEVEL info and a metrics port). */
export function startWorker(
  name: string,
  args: readonly string[],
  env: Record<string, string>,
): WorkerProcess {
  const port = freePort();
  const child = cliCommand(["run", ...args], {
    env: { LOG_FORMAT: "json", LOG_LEVEL: "info", ...env, METRICS_PORT: String(port) },
  }).spawn();
  const lines: string[] = [];
  const logged = { warn: 0, error: 0 };
  const messages = new Map<string, number>();
  const onLine = (line: string) => {
    const warn = line.includes('"level":"WARN"');
    const error = /"level":"(ERROR|FATAL)"/.test(line);
    if (warn) logged.warn++;
    if (error) logged.error++;
    if (warn || error) {
      const key = (/"message":"((?:[^"\\]|\\.)*)"/.exec(line)?.[1] ?? line).replace(/\d+/g, "#")
        .slice(0, 160);
      messages.set(key, (messages.get(key) ?? 0) + 1);
    }
    lines.push(line);
    if (lines.length > TAIL_LINES) lines.shift();
  };
  const reading = Promise.all([readLines(child.stdout, onLine), readLines(child.stderr, onLine)]);
  const stop = async (graceMs = 15_000) => {
    try {
      child.kill("SIGTERM");
    } catch {
      // already gone
    }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // gone meanwhile
      }
    }, graceMs);
    await child.status;
    clearTimeout(timer);
    await reading;
  };
  return {
    name,
    pid: child.pid,
    metricsUrl: `http://127.0.0.1:${port}/metrics`,
    status: child.status,
    logged,
    messages,
    tail: () => [...lines],
    stop,
  };
}

/** Wait until `url` answers 200 (the listener is up), at most `timeoutMs`. */
export async function answering(
  url: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !signal.aborted) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await response.body?.cancel();
      if (response.ok) return;
    } catch {
      // not yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(signal.aborted ? "interrupted" : `${url} did not answer in ${timeoutMs} ms`);
}
