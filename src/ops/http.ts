/**
 * The operations listener (only when METRICS_PORT is set): `/healthz`, `/readyz`, `/metrics`.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import type { Verdict } from "./health.ts";
import type { WorkerMonitor } from "./monitor.ts";

/** Settings of the listener. */
export interface OpsServerOptions {
  /** Interface to bind (127.0.0.1 unless METRICS_HOST). */
  readonly host: string;
  /** Port (0 picks a free one). */
  readonly port: number;
  /** Where the state and metrics live. */
  readonly monitor: Pick<WorkerMonitor, "registry" | "health">;
  /** A cheap database round trip; rejects when the database is unreachable. */
  readonly checkDatabase: () => Promise<unknown>;
  /** How long /readyz waits for the database. */
  readonly databaseTimeoutMs: number;
  /** Where the listener logs. */
  readonly logger: Logger;
}

/** A running listener. */
export interface OpsServer {
  /** Its base URL, e.g. `http://127.0.0.1:9464`. */
  readonly url: string;
  /** Stop it. */
  shutdown(): Promise<void>;
}

function verdict(v: Verdict): Response {
  return Response.json(
    { status: v.ok ? "ok" : "unavailable", reason: v.reason, ...v.details },
    { status: v.ok ? 200 : 503, headers: { "cache-control": "no-store" } },
  );
}

/** The database check with a time limit: null when it answered, else why not. */
async function databaseProblem(options: OpsServerOptions): Promise<string | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(
      () => resolve(`no answer within ${options.databaseTimeoutMs} ms`),
      options.databaseTimeoutMs,
    );
  });
  try {
    return await Promise.race([
      options.checkDatabase().then(
        () => null,
        (error) => String((error as Error).message ?? error),
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Start the listener. */
export function serveOps(options: OpsServerOptions): OpsServer {
  const { monitor } = options;
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve(
      { hostname: options.host, port: options.port, onListen: () => {} },
      handler,
    );
  } catch (error) {
    const why = error instanceof Deno.errors.AddrInUse
      ? "the port is already in use (another scan-worker, or another program?)"
      : (error as Error).message;
    throw new Error(
      `cannot serve health and metrics on ${options.host}:${options.port} (METRICS_PORT, METRICS_HOST): ${why}`,
      { cause: error },
    );
  }
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  const url = `http://${host}:${server.addr.port}`;
  options.logger.info("Health and metrics on {url} (/healthz, /readyz, /metrics)", { url });
  return { url, shutdown: () => server.shutdown() };

  async function handler(request: Request): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (request.method !== "GET") return new Response(null, { status: 405 });
    switch (pathname) {
      case "/healthz":
        return verdict(monitor.health.liveness());
      case "/readyz":
        return verdict(monitor.health.readiness(await databaseProblem(options)));
      case "/metrics":
        return new Response(await monitor.registry.metrics(), {
          headers: { "content-type": monitor.registry.contentType },
        });
      default:
        return Response.json({ error: "try /healthz, /readyz or /metrics" }, { status: 404 });
    }
  }
}
