/**
 * What OpenTelemetry costs the worker (docs/telemetry.md): the same drain with the export off and
 * on, alternated in the same minute (the machine is shared: a run alone says little), towards a
 * collector that answers at once — an OTLP/HTTP receiver in this process that takes each export
 * request and throws it away.
 *
 * @module
 */

import { runWorker, type WorkerMeasure } from "./worker_run.ts";
import type { StoreKind } from "./targets.ts";
import { round } from "./measure.ts";

/** The export's cost: events/s with it off and on (medians of alternated runs), and their ratio. */
export interface OtelReport {
  readonly rounds: number;
  readonly off: number[];
  readonly on: number[];
  /** Median on / median off. */
  readonly onToOff: number;
  /** The worker's CPU per page (all its threads, exporter included), off and on: medians, ms. */
  readonly cpuMsPerPage: { readonly off: number; readonly on: number };
  /** Export requests the receiver took during the "on" runs. */
  readonly requests: number;
}

/** An OTLP/HTTP receiver that answers every export at once and keeps nothing. */
function receiver(): { url: string; requests: () => number; close: () => Promise<void> } {
  let requests = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (r) => {
    requests++;
    await r.body?.cancel();
    return new Response(null, { status: 200 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests: () => requests,
    close: () => server.shutdown(),
  };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] as number : ((sorted[middle - 1] as number) +
    (sorted[middle] as number)) / 2;
};

/**
 * Drain `rounds` times with the export off and `rounds` times on, alternating (off, on, off, …),
 * each into a fresh database, with `env` (the API, and NATS_URL when the relay is measured too).
 */
export async function otelCost(
  kind: StoreKind,
  limit: number,
  env: Record<string, string>,
  rounds: number,
  simulatorPid?: number,
): Promise<OtelReport> {
  const collector = receiver();
  try {
    const on = {
      OTEL_DENO: "true",
      OTEL_DENO_CONSOLE: "replace",
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_SERVICE_NAME: "scan-worker-bench",
    };
    const off: WorkerMeasure[] = [];
    const onRuns: WorkerMeasure[] = [];
    for (let i = 0; i < rounds; i++) {
      off.push(await runWorker({ kind, limit, env, simulatorPid }));
      onRuns.push(await runWorker({ kind, limit, env: { ...env, ...on }, simulatorPid }));
    }
    const offRates = off.map((m) => m.eventsPerSecond);
    const onRates = onRuns.map((m) => m.eventsPerSecond);
    return {
      rounds,
      off: offRates,
      on: onRates,
      onToOff: round(median(onRates) / median(offRates)),
      cpuMsPerPage: {
        off: round(median(off.map((m) => m.stages?.cpuMs ?? 0))),
        on: round(median(onRuns.map((m) => m.stages?.cpuMs ?? 0))),
      },
      requests: collector.requests(),
    };
  } finally {
    await collector.close();
  }
}
