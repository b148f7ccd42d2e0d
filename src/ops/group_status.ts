/**
 * What `status --group NAME` adds to the store's figures: the group's consumer counts.
 *
 * @module
 */

import type { GroupState } from "../stream/mod.ts";

/** A group's counts as `status --json` prints them (`state` null: no such consumer yet). */
export interface GroupReport {
  /** The group's (and its consumer's) name. */
  readonly name: string;
  /** The stream it reads. */
  readonly stream: string;
  /** Pending, unacknowledged, redelivered and waiting counts, or null. */
  readonly state: GroupState | null;
}

/**
 * The group's lines of `status`, aligned with the store's.
 * @example
 * ```ts
 * import { formatGroupStatus } from "./group_status.ts";
 * const text = formatGroupStatus({
 *   name: "ledger",
 *   stream: "SCAN_EVENTS",
 *   state: { pending: 5, ackPending: 2, redelivered: 1, waiting: 3 },
 * });
 * if (!text.includes("\nunacknowledged  2 (")) throw new Error(text);
 * ```
 */
export function formatGroupStatus(report: GroupReport): string {
  const { state } = report;
  const rows: [string, string][] = [["group", `${report.name} (stream ${report.stream})`]];
  if (state === null) {
    rows.push(["consumer", "absent (created when the first member starts)"]);
  } else {
    rows.push(
      ["pending", `${state.pending} (not yet handed to a member)`],
      ["unacknowledged", `${state.ackPending} (handed out, not yet acknowledged)`],
      ["redelivered", `${state.redelivered} (of those, handed out more than once)`],
      ["members waiting", String(state.waiting)],
    );
  }
  return rows.map(([k, v]) => `${k.padEnd(16)}${v}`).join("\n") + "\n";
}
