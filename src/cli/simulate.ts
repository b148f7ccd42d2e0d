/**
 * `scan-worker simulate`: the built-in Scan Event API, until SIGINT/SIGTERM.
 *
 * @module
 */

import { EXIT } from "../errors.ts";
import { logger } from "../log.ts";
import {
  parseSimulateFlags,
  SIMULATE_FLAGS,
  type SimulateFlags,
  type SimulateFlagSpec,
} from "../simulator/options.ts";
import { startSimulator } from "../simulator/server.ts";
import { defineCommand, type Flag } from "./command.ts";
import type { CliIo, ShutdownSignal } from "./io.ts";

/** The simulator's flags, each help with its default (validated by `parseSimulateFlags`). */
const FLAGS: readonly Flag[] = Object.entries(SIMULATE_FLAGS).map((
  [name, spec]: [string, SimulateFlagSpec],
) => ({
  name,
  type: "string",
  value: spec.value,
  help: `${spec.help} (${spec.shown ?? spec.fallback})`,
}));

/** Resolve when SIGINT or SIGTERM arrives. */
function nextSignal(io: CliIo): Promise<ShutdownSignal> {
  return new Promise((resolve) => {
    const stop = io.onSignal((signal) => {
      stop();
      resolve(signal);
    });
  });
}

/** The `simulate` command. */
export const simulate = defineCommand({
  name: "simulate",
  summary: "a built-in Scan Event API for development, demos, tests and benchmarks",
  description:
    `Serves GET /v1/scans/scanevents?FromEventId=N&Limit=M from a seeded, deterministic feed of
parcel lifecycles (PICKUP, STATUS…, DELIVERY, new types, offsets), optionally growing and with
injected faults. Prints "Scan Event API simulator listening on URL" on stdout, logs to stderr,
stops on SIGINT/SIGTERM. Uses no database.`,
  flags: FLAGS,
  needs: [],
  logTo: "stderr",
  examples: [
    "scan-worker simulate --port 8080 --events 1000000",
    "scan-worker simulate --rate 50 --fail-rate 0.05 --malformed-rate 0.01",
    "scan-worker simulate --rate 20 --late-every 37 --late-ms 8000",
  ],
  async run({ flags, io }) {
    const settings = parseSimulateFlags(flags as SimulateFlags);
    const log = logger("simulator");
    const simulator = startSimulator({ ...settings, logger: log });
    const { shape } = settings;
    io.stdout(`Scan Event API simulator listening on ${simulator.url}\n`);
    log.info(
      "Serving {events} events (seed {seed}, {steps} per parcel), growing {rate}/s, Limit capped at {maxLimit}",
      {
        events: shape.events,
        seed: shape.seed,
        steps: shape.stepsPerParcel,
        rate: settings.rate,
        maxLimit: settings.maxLimit,
        malformedRate: shape.malformedRate,
        lateEvery: settings.late?.every ?? 0,
        lateMs: settings.late?.ms ?? 0,
        ...settings.faults,
      },
    );
    const signal = await nextSignal(io);
    await simulator.shutdown();
    log.info("Received {signal}: stopped after {requests} requests, {eventsServed} events served", {
      signal,
      ...simulator.stats,
    });
    return EXIT.ok;
  },
});
