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
  if (text === undefined) throw new UsageError(`${name} is missing`);
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
 * Whether the feed has an event at or after an EventId: asks the API for the page there.
 * Resolves true or false, or rejects when the API cannot say.
 */
export type FeedReaches = (eventId: number) => Promise<boolean>;

/**
 * What moving the checkpoint from `from` to `to` does, in words.
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * strictEqual(describeMove(15, 40), "forward by 25: events 16..40 are skipped and never applied");
 * ```
 */
export function describeMove(from: number, to: number): string {
  if (to > from) {
    return `forward by ${to - from}: events ${from + 1}..${to} are skipped and never applied`;
  }
  if (to < from) {
    return `back by ${from - to}: events ${
      to + 1
    }..${from} are applied again (safe: it changes nothing already stored)`;
  }
  return "nowhere: nothing changes";
}

/**
 * Refuse a move forward beyond the feed's end: asked for the page at `to`, the API must have an
 * event there or later (a typo like 99999999999 would otherwise skip every event to come).
 * `beyondFeed` skips the question.
 */
async function checkForward(from: number, to: number, reaches: FeedReaches): Promise<void> {
  let reached: boolean;
  try {
    reached = await reaches(to);
  } catch (error) {
    throw new ResetRefusedError(
      `could not ask the feed whether it reaches EventId ${to} (${
        (error as Error).message
      }); the checkpoint is unchanged. Add --beyond-feed to move forward without asking`,
    );
  }
  if (!reached) {
    throw new ResetRefusedError(
      `the feed has no event at or after EventId ${to}: moving from ${from} there would skip every event still to come; the checkpoint is unchanged. Check the number, or add --beyond-feed to move anyway`,
    );
  }
}

/** How `reset` goes: confirmation, and the feed check of a move forward. */
export interface ResetOptions {
  /** The operator said --yes. */
  readonly yes: boolean;
  /** The operator said --beyond-feed: a move forward is not checked against the feed. */
  readonly beyondFeed: boolean;
  /** How to ask the feed. */
  readonly reaches: FeedReaches;
  /** How to ask the operator. */
  readonly confirm: Confirm;
}

/**
 * Move the checkpoint to `to`, holding the feed lock so no worker writes meanwhile.
 * Back replays events (safe: applying a page again changes nothing); forward skips them, and
 * only up to where the feed reaches unless `beyondFeed`.
 * @throws UsageError without `--yes` when no one can be asked (exit 2).
 * @throws ResetRefusedError while another instance holds the feed lock, when the feed does not
 *   reach the target, or when not confirmed.
 */
export async function resetCheckpoint(
  store: Store,
  to: number,
  options: ResetOptions,
): Promise<ResetOutcome> {
  const { yes, confirm } = options;
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
    if (to > from && !options.beyondFeed) await checkForward(from, to, options.reaches);
    if (!yes) {
      const question = `Move the checkpoint from ${from} to ${to}, ${
        describeMove(from, to)
      }? [y/N]`;
      if (!confirm.ask(question)) {
        throw new ResetRefusedError("not confirmed; the checkpoint is unchanged");
      }
    }
    const old = await store.resetCheckpoint(to);
    return { from: old, to };
  } finally {
    await lock.release();
  }
}
