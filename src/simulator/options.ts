/**
 * The `simulate` command's flags, validated into simulator settings. Pure.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import { feedShape } from "./model.ts";
import type { SimulatorOptions } from "./server.ts";

/** The flags of `simulate` as parsed from the command line. */
export interface SimulateFlags {
  readonly host?: string | undefined;
  readonly port?: string | undefined;
  readonly seed?: string | undefined;
  readonly events?: string | undefined;
  readonly parcels?: string | undefined;
  readonly rate?: string | undefined;
  readonly "max-limit"?: string | undefined;
  readonly "fail-rate"?: string | undefined;
  readonly "slow-rate"?: string | undefined;
  readonly "slow-ms"?: string | undefined;
  readonly "garbage-rate"?: string | undefined;
  readonly "malformed-rate"?: string | undefined;
  readonly "reset-rate"?: string | undefined;
  readonly "throttle-rate"?: string | undefined;
  readonly "late-every"?: string | undefined;
  readonly "late-ms"?: string | undefined;
}

/** Validated simulator settings: the simulator's options but its logger. */
export type SimulateSettings = Omit<SimulatorOptions, "logger">;

/** One flag of `simulate`: its value's placeholder, what it sets, and its default. */
export interface SimulateFlagSpec {
  /** The value's placeholder in help, e.g. `N`. */
  readonly value: string;
  /** What it sets, in a few words (help adds the default). */
  readonly help: string;
  /** Its value when the flag is not given (none: `shown` says what the simulator does). */
  readonly fallback?: number | string;
  /** How help shows a default that is not a value (`events/8`). */
  readonly shown?: string;
}

/**
 * Every flag of `simulate`, with its default: the one place both help and
 * {@link parseSimulateFlags} read it from.
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { parseSimulateFlags, SIMULATE_FLAGS } from "./options.ts";
 * strictEqual(parseSimulateFlags({}).shape.events, SIMULATE_FLAGS.events.fallback);
 * ```
 */
export const SIMULATE_FLAGS = {
  host: { value: "H", help: "interface", fallback: "127.0.0.1" },
  port: { value: "N", help: "port, 0 = any free one", fallback: 0 },
  seed: { value: "N", help: "feed seed: the same seed serves the same bytes", fallback: 1 },
  events: { value: "N", help: "backlog size", fallback: 100_000 },
  parcels: { value: "P", help: "parcels in the backlog", shown: "events/8" },
  rate: { value: "R", help: "new events/s after the backlog, 0 = fixed feed", fallback: 0 },
  "max-limit": { value: "N", help: "largest Limit served", fallback: 1000 },
  "fail-rate": { value: "F", help: "share of requests answered 503", fallback: 0 },
  "slow-rate": { value: "F", help: "share of requests delayed by --slow-ms", fallback: 0 },
  "slow-ms": { value: "MS", help: "how long a slow request waits", fallback: 2000 },
  "garbage-rate": { value: "F", help: "share answered 200 with an HTML body", fallback: 0 },
  "reset-rate": { value: "F", help: "share whose connection drops mid-body", fallback: 0 },
  "throttle-rate": { value: "F", help: "share answered 429 with Retry-After: 1", fallback: 0 },
  "malformed-rate": {
    value: "F",
    help: "share of events that break the validation rules",
    fallback: 0,
  },
  "late-every": {
    value: "N",
    help: "every N-th event is late: visible only --late-ms after the one after it, 0 = none",
    fallback: 0,
  },
  "late-ms": { value: "MS", help: "how late a late event is", fallback: 8000 },
} as const satisfies Record<keyof SimulateFlags, SimulateFlagSpec>;

const SPECS: Readonly<Record<keyof SimulateFlags, SimulateFlagSpec>> = SIMULATE_FLAGS;

/** The default of a numeric flag. */
function fallbackOf(name: keyof SimulateFlags): number {
  return Number(SPECS[name].fallback);
}

function whole(flags: SimulateFlags, name: keyof SimulateFlags, max: number): number {
  const text = flags[name];
  if (text === undefined) return fallbackOf(name);
  if (!/^\d+$/.test(text.trim()) || Number(text) > max) {
    throw new ConfigError(
      `--${name}`,
      `${JSON.stringify(text)} is not a whole number from 0 to ${max}`,
    );
  }
  return Number(text);
}

function share(flags: SimulateFlags, name: keyof SimulateFlags): number {
  const text = flags[name];
  if (text === undefined) return fallbackOf(name);
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || value < 0 || value > 1) {
    throw new ConfigError(`--${name}`, `${JSON.stringify(text)} is not a share from 0 to 1`);
  }
  return value;
}

/**
 * Validate `simulate`'s flags.
 * @throws ConfigError naming the flag.
 */
export function parseSimulateFlags(flags: SimulateFlags): SimulateSettings {
  const events = whole(flags, "events", 1_000_000_000);
  const parcels = flags.parcels === undefined ? undefined : whole(flags, "parcels", 1_000_000_000);
  if (parcels === 0) throw new ConfigError("--parcels", "must be at least 1");
  const rate = flags.rate === undefined ? fallbackOf("rate") : Number(flags.rate);
  if (!Number.isFinite(rate) || rate < 0 || rate > 10_000_000) {
    throw new ConfigError(
      "--rate",
      `${JSON.stringify(flags.rate)} is not a rate from 0 to 10000000 events/s`,
    );
  }
  const maxLimit = whole(flags, "max-limit", 1_000_000);
  if (maxLimit === 0) throw new ConfigError("--max-limit", "must be at least 1");
  return {
    host: flags.host?.trim() || SIMULATE_FLAGS.host.fallback,
    port: whole(flags, "port", 65_535),
    shape: feedShape({
      seed: whole(flags, "seed", 4_294_967_295),
      events,
      ...(parcels === undefined ? {} : { parcels }),
      malformedRate: share(flags, "malformed-rate"),
    }),
    rate,
    maxLimit,
    late: {
      every: whole(flags, "late-every", 1_000_000_000),
      ms: whole(flags, "late-ms", 86_400_000),
    },
    faults: {
      failRate: share(flags, "fail-rate"),
      slowRate: share(flags, "slow-rate"),
      slowMs: whole(flags, "slow-ms", 600_000),
      garbageRate: share(flags, "garbage-rate"),
      resetRate: share(flags, "reset-rate"),
      throttleRate: share(flags, "throttle-rate"),
    },
  };
}
