/**
 * The registry of `scan-worker` commands, in the order help lists them.
 *
 * @module
 */

import type { AnyCommand } from "./command.ts";
import { migrate } from "./migrate.ts";
import { parcel } from "./parcel.ts";
import { rejected } from "./rejected.ts";
import { reset } from "./reset.ts";
import { run } from "./run.ts";
import { simulate } from "./simulate.ts";
import { status } from "./status.ts";
import { tail } from "./tail.ts";

/** Every command. */
export const COMMANDS: readonly AnyCommand[] = [
  run,
  migrate,
  status,
  simulate,
  parcel,
  rejected,
  reset,
  tail,
];
