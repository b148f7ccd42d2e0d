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

function whole(
  flags: SimulateFlags,
  name: keyof SimulateFlags,
  fallback: number,
  max: number,
): number {
  const text = flags[name];
  if (text === undefined) return fallback;
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
  if (text === undefined) return 0;
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
  const events = whole(flags, "events", 100_000, 1_000_000_000);
  const parcels = flags.parcels === undefined
    ? undefined
    : whole(flags, "parcels", 1, 1_000_000_000);
  if (parcels === 0) throw new ConfigError("--parcels", "must be at least 1");
  const rate = Number(flags.rate ?? "0");
  if (!Number.isFinite(rate) || rate < 0 || rate > 10_000_000) {
    throw new ConfigError(
      "--rate",
      `${JSON.stringify(flags.rate)} is not a rate from 0 to 10000000 events/s`,
    );
  }
  const maxLimit = whole(flags, "max-limit", 1000, 1_000_000);
  if (maxLimit === 0) throw new ConfigError("--max-limit", "must be at least 1");
  return {
    host: flags.host?.trim() || "127.0.0.1",
    port: whole(flags, "port", 0, 65_535),
    shape: feedShape({
      seed: whole(flags, "seed", 1, 4_294_967_295),
      events,
      ...(parcels === undefined ? {} : { parcels }),
      malformedRate: share(flags, "malformed-rate"),
    }),
    rate,
    maxLimit,
    late: {
      every: whole(flags, "late-every", 0, 1_000_000_000),
      ms: whole(flags, "late-ms", 8000, 86_400_000),
    },
    faults: {
      failRate: share(flags, "fail-rate"),
      slowRate: share(flags, "slow-rate"),
      slowMs: whole(flags, "slow-ms", 2000, 600_000),
      garbageRate: share(flags, "garbage-rate"),
      resetRate: share(flags, "reset-rate"),
      throttleRate: share(flags, "throttle-rate"),
    },
  };
}
