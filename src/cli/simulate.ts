/**
 * `scan-worker simulate`: the built-in Scan Event API, until SIGINT/SIGTERM.
 *
 * @module
 */

import { EXIT } from "../errors.ts";
import { logger } from "../log.ts";
import { parseSimulateFlags, type SimulateFlags } from "../simulator/options.ts";
import { startSimulator } from "../simulator/server.ts";
import { defineCommand, type Flag } from "./command.ts";
import type { CliIo, ShutdownSignal } from "./io.ts";

/** The simulator's flags (validated by `parseSimulateFlags`). */
const FLAGS: readonly Flag[] = [
  { name: "host", type: "string", value: "H", help: "interface (127.0.0.1)" },
  { name: "port", type: "string", value: "N", help: "port, 0 = any free one (0)" },
  {
    name: "seed",
    type: "string",
    value: "N",
    help: "feed seed: the same seed serves the same bytes (1)",
  },
  { name: "events", type: "string", value: "N", help: "backlog size (100000)" },
  { name: "parcels", type: "string", value: "P", help: "parcels in the backlog (events/8)" },
  {
    name: "rate",
    type: "string",
    value: "R",
    help: "new events/s after the backlog, 0 = fixed feed (0)",
  },
  { name: "max-limit", type: "string", value: "N", help: "largest Limit served (1000)" },
  { name: "fail-rate", type: "string", value: "F", help: "share of requests answered 503 (0)" },
  {
    name: "slow-rate",
    type: "string",
    value: "F",
    help: "share of requests delayed by --slow-ms (0)",
  },
  { name: "slow-ms", type: "string", value: "MS", help: "how long a slow request waits (2000)" },
  {
    name: "garbage-rate",
    type: "string",
    value: "F",
    help: "share answered 200 with an HTML body (0)",
  },
  {
    name: "reset-rate",
    type: "string",
    value: "F",
    help: "share whose connection drops mid-body (0)",
  },
  {
    name: "throttle-rate",
    type: "string",
    value: "F",
    help: "share answered 429 with Retry-After: 1 (0)",
  },
  {
    name: "malformed-rate",
    type: "string",
    value: "F",
    help: "share of events that break the validation rules (0)",
  },
  {
    name: "late-every",
    type: "string",
    value: "N",
    help: "every N-th event is late: visible only --late-ms after the one after it (0 = none)",
  },
  { name: "late-ms", type: "string", value: "MS", help: "how late a late event is (8000)" },
];

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
