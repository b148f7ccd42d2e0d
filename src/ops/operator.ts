/**
 * Operator commands that look inside without SQL: `parcel`, `rejected`, `reset`. Formatting
 * and argument checks are pure; the commands take an open store.
 *
 * @module
 */

import { CommandError, UsageError } from "../errors.ts";
import type { ParcelState, RejectedEvent, Store } from "../store/store.ts";

/**
 * Parse a whole number argument.
 * @throws UsageError naming the argument.
 */
export function wholeNumber(text: string | undefined, name: string, min: number): number {
  if (text === undefined) throw new UsageError(`invalid ${name}: is required`);
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < min) {
    throw new UsageError(
      `invalid ${name}: ${JSON.stringify(text)} is not a whole number from ${min} to 2^53-1`,
    );
  }
  return value;
}

/** A parcel row for people: one field a line, times in UTC. */
export function formatParcel(p: ParcelState): string {
  const rows: [string, string][] = [
    ["ParcelId", String(p.parcelId)],
    ["LastEventId", String(p.lastEventId)],
    ["Type", p.type],
    ["StatusCode", p.statusCode === "" ? '""' : p.statusCode],
    ["RunId", p.runId ?? "NULL"],
    ["CreatedDateTimeUtc", p.createdDateTimeUtc],
    ["PickupTimeUtc", p.pickupTimeUtc ?? "NULL"],
    ["DeliveryTimeUtc", p.deliveryTimeUtc ?? "NULL"],
    ["UpdatedAtUtc", p.updatedAtUtc],
  ];
  return rows.map(([k, v]) => `${k.padEnd(20)}${v}`).join("\n") + "\n";
}

/** Rejections for people: newest first, reason and payload. */
export function formatRejections(rows: readonly RejectedEvent[]): string {
  if (rows.length === 0) return "no rejected events\n";
  return rows.map((r) =>
    `#${r.id} EventId ${r.eventId ?? "-"} at ${r.rejectedAtUtc}: ${r.reason}\n  ${
      r.payload.length > 300
        ? `${r.payload.slice(0, 300)}… (${r.payload.length} characters)`
        : r.payload
    }\n`
  ).join("");
}

/** How `reset` asks for confirmation: a terminal prompt, or nothing when not on a terminal. */
export interface Confirm {
  /** Whether stdin is a terminal (a person can answer). */
  readonly interactive: boolean;
  /** Ask; true for yes. */
  ask(question: string): boolean;
}

/** What `reset` did. */
export interface ResetOutcome {
  readonly from: number;
  readonly to: number;
}

/** Raised when `reset` cannot or may not go on (exit 1). */
export class ResetRefusedError extends CommandError {
  /** @param why what stops the reset. */
  constructor(why: string) {
    super(`reset: ${why}`);
    this.name = "ResetRefusedError";
  }
}

/**
 * Move the checkpoint to `to`, holding the feed lock so no worker writes meanwhile.
 * Back replays events (safe: applying a page again changes nothing); forward skips them.
 * @throws UsageError without `--yes` when no one can be asked (exit 2).
 * @throws ResetRefusedError while another instance holds the feed lock, or when not confirmed.
 */
export async function resetCheckpoint(
  store: Store,
  to: number,
  yes: boolean,
  confirm: Confirm,
): Promise<ResetOutcome> {
  await store.verifySchema();
  if (!yes && !confirm.interactive) {
    throw new UsageError(
      "invalid reset: refusing to move the checkpoint without --yes when stdin is not a terminal",
    );
  }
  const lock = await store.tryLockFeed();
  if (lock === null) {
    throw new ResetRefusedError(
      "another instance holds the feed lock (a worker is running on this database); stop it first",
    );
  }
  try {
    const from = await store.readCheckpoint();
    if (!yes) {
      const effect = to < from
        ? `events ${
          to + 1
        }..${from} will be applied again (safe: it changes nothing already stored)`
        : to > from
        ? `events ${from + 1}..${to} will be skipped and never applied`
        : "nothing changes";
      if (!confirm.ask(`Move the checkpoint from ${from} to ${to}? ${effect}. [y/N]`)) {
        throw new ResetRefusedError("not confirmed; the checkpoint is unchanged");
      }
    }
    const old = await store.resetCheckpoint(to);
    return { from: old, to };
  } finally {
    await lock.release();
  }
}
