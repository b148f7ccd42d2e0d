/**
 * The built-in Scan Event API (`scan-worker simulate`): serves the feed model over HTTP exactly
 * as docs/rules.md §2 describes, with optional live growth and fault injection.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { sleep } from "../retry.ts";
import { type FeedShape, hash, pageEvents, pageText, unit } from "./model.ts";
import { hiddenAt, type LateShape } from "./late.ts";

/** The path the simulator serves. */
export const FEED_PATH = "/v1/scans/scanevents";

/** Fault injection switches: the share of requests (0–1) each fault hits. */
export interface FaultRates {
  /** 503 Service Unavailable. */
  readonly failRate: number;
  /** The response waits `slowMs` first. */
  readonly slowRate: number;
  /** How long a slow response waits. */
  readonly slowMs: number;
  /** 200 with an HTML body instead of JSON. */
  readonly garbageRate: number;
  /** The connection is dropped halfway through the body. */
  readonly resetRate: number;
  /** 429 Too Many Requests with `Retry-After: 1`. */
  readonly throttleRate: number;
}

/** No faults. */
export const NO_FAULTS: FaultRates = {
  failRate: 0,
  slowRate: 0,
  slowMs: 0,
  garbageRate: 0,
  resetRate: 0,
  throttleRate: 0,
};

/** Settings of a simulator. */
export interface SimulatorOptions {
  /** Interface to bind (127.0.0.1 by default). */
  readonly host: string;
  /** Port; 0 picks a free one. */
  readonly port: number;
  /** The feed. */
  readonly shape: FeedShape;
  /** New events per second after the backlog (0 = a fixed feed). */
  readonly rate: number;
  /** The largest Limit honoured; larger ones are capped. */
  readonly maxLimit: number;
  /** Fault injection. */
  readonly faults: FaultRates;
  /** Late events: every N-th slot visible only M ms after its successor (none when absent). */
  readonly late?: LateShape;
  /** Where requests and faults are logged (debug). */
  readonly logger: Logger;
}

/** Counters of a running simulator. */
export interface SimulatorStats {
  /** Requests received. */
  requests: number;
  /** Events sent in successful pages. */
  eventsServed: number;
  /** Faults injected, by kind. */
  faults: Record<"fail" | "slow" | "garbage" | "reset" | "throttle", number>;
}

/** A running simulator. */
export interface Simulator {
  /** The feed URL. */
  readonly url: string;
  /** Live counters. */
  readonly stats: SimulatorStats;
  /** Slots available now (backlog plus growth). */
  available(): number;
  /** Stop serving. */
  shutdown(): Promise<void>;
}

type Fault = keyof SimulatorStats["faults"];

/** The fault (if any) for the n-th request, deterministic for the seed. */
export function faultFor(seed: number, request: number, rates: FaultRates): Fault | null {
  if (unit(hash(seed, request, 1, 20)) < rates.failRate) return "fail";
  if (unit(hash(seed, request, 1, 21)) < rates.garbageRate) return "garbage";
  if (unit(hash(seed, request, 1, 22)) < rates.resetRate) return "reset";
  if (unit(hash(seed, request, 1, 24)) < rates.throttleRate) return "throttle";
  if (unit(hash(seed, request, 1, 23)) < rates.slowRate) return "slow";
  return null;
}

function badRequest(message: string): Response {
  return Response.json({ error: message }, { status: 400 });
}

/** Parse an optional positive integer query parameter. */
function positiveInteger(url: URL, name: string, fallback: number): number | string {
  const text = url.searchParams.get(name);
  if (text === null || text === "") return fallback;
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) {
    return `${name} must be a positive integer, got ${JSON.stringify(text)}`;
  }
  return Number(text);
}

/** A body whose stream fails halfway: the client sees the connection drop mid-body. */
function droppedBody(text: string): Response {
  const bytes = new TextEncoder().encode(text);
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytes.subarray(0, Math.floor(bytes.length / 2)));
      const error = new Error("connection reset");
      error.stack = "scan-worker simulate: connection dropped mid-body (--reset-rate)";
      controller.error(error);
    },
  });
  return new Response(stream, {
    headers: { "content-type": "application/json", "content-length": String(bytes.length) },
  });
}

/** Start the simulator; resolves once it listens. */
export function startSimulator(options: SimulatorOptions): Simulator {
  const startedAt = performance.now();
  const stats: SimulatorStats = {
    requests: 0,
    eventsServed: 0,
    faults: { fail: 0, slow: 0, garbage: 0, reset: 0, throttle: 0 },
  };
  const available = () =>
    options.shape.events + Math.floor(options.rate * (performance.now() - startedAt) / 1000);
  const hidden = () =>
    options.late === undefined
      ? undefined
      : hiddenAt(options.late, options.shape.events, options.rate, performance.now() - startedAt);
  const closing = new AbortController();
  const server = Deno.serve(
    { hostname: options.host, port: options.port, onListen: () => {} },
    (request) => servePage(request, options, stats, available(), closing.signal, hidden()),
  );
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${server.addr.port}${FEED_PATH}`,
    stats,
    available,
    shutdown: () => {
      closing.abort();
      return server.shutdown();
    },
  };
}

/**
 * Answer one request: the page of the feed it asks for (`available` events so far), or the
 * fault this request draws. `closing` ends a slow response early at shutdown.
 */
async function servePage(
  request: Request,
  options: SimulatorOptions,
  stats: SimulatorStats,
  available: number,
  closing: AbortSignal,
  hidden?: (slot: number) => boolean,
): Promise<Response> {
  const { shape, faults, logger } = options;
  const url = new URL(request.url);
  if (url.pathname !== FEED_PATH) {
    return Response.json({ error: `no such path ${url.pathname}; try ${FEED_PATH}` }, {
      status: 404,
    });
  }
  if (request.method !== "GET") return new Response(null, { status: 405 });
  const from = positiveInteger(url, "FromEventId", 1);
  if (typeof from === "string") return badRequest(from);
  const asked = positiveInteger(url, "Limit", 100);
  if (typeof asked === "string") return badRequest(asked);
  const limit = Math.min(asked, options.maxLimit);

  const index = stats.requests++;
  const fault = faultFor(shape.seed, index, faults);
  if (fault !== null) {
    stats.faults[fault]++;
    logger.debug("Injecting {fault} into request {index} (FromEventId={from})", {
      fault,
      index,
      from,
    });
  }
  if (fault === "fail") return new Response("Service Unavailable", { status: 503 });
  if (fault === "throttle") {
    return new Response("Too Many Requests", { status: 429, headers: { "retry-after": "1" } });
  }
  if (fault === "garbage") {
    return new Response("<html><body><h1>502 Bad Gateway</h1></body></html>", {
      status: 200,
      headers: { "content-type": "text/html" },
    });
  }
  if (fault === "slow") await sleep(faults.slowMs, closing);

  const events = pageEvents(shape, from, limit, available, hidden);
  const body = pageText(events);
  if (fault === "reset") return droppedBody(body);
  stats.eventsServed += events.length;
  return new Response(body, { headers: { "content-type": "application/json; charset=utf-8" } });
}
