/**
 * The relay's check before it trusts the stream's end (docs/rules.md §7). Reading the stream's
 * last event, the relay would move its cursor to that event's outbox position and prune every row
 * up to it. That holds only when the relay's own chain put those rows there: then the row after
 * the cursor is on the stream too, before the last message. An event something else wrote (a
 * replay tool, a second relay) says nothing about the rows before it: checked here first.
 *
 * @module
 */

import { holdsEvent, type NatsLink } from "../nats/mod.ts";
import type { OutboxStore, SequencedRow } from "../store/store.ts";

/**
 * The stream holds an event of the outbox but not the rows before it: something other than the
 * relay wrote it. The relay neither skips nor prunes those rows; an operator must look.
 */
export class StreamOutOfPlaceError extends Error {
  /** @param message which events the stream holds and which it lacks. */
  constructor(message: string) {
    super(message);
    this.name = "StreamOutOfPlaceError";
  }
}

/** Where the stream ends, as the relay found it. */
export interface FoundEnd {
  /** The stream's last sequence. */
  readonly lastSeq: number;
  /** The last EventId of ours it holds. */
  readonly lastEventId: number;
  /** That event's outbox position. */
  readonly to: number;
}

/**
 * Check that the stream holds the outbox's rows after `cursor` up to `end.to` as the relay's
 * chain puts them: the first of them in its place (the first one not late: a late event is
 * looked for only among the stream's last messages) at or before the stream's last message.
 * Returns how many rows that is (read in `batch`es: the relay published them, and counts them).
 * @throws StreamOutOfPlaceError when the stream lacks it.
 */
export async function checkStreamEnd(
  link: NatsLink,
  store: Pick<OutboxStore, "outboxAfter">,
  cursor: number,
  end: FoundEnd,
  batch: number,
): Promise<number> {
  let rows = await store.outboxAfter(cursor, batch);
  const first = rows[0];
  if (first === undefined || first.seq > end.to) return 0; // nothing between: nothing to check
  const probe = rows.find((row) => !row.late && row.seq <= end.to) ?? first;
  if (probe.seq !== end.to && !await holdsEvent(link, probe.eventId, probe.late, end.lastSeq)) {
    throw new StreamOutOfPlaceError(
      `the stream holds scan-event-${end.lastEventId} (outbox position ${end.to}) but not ` +
        `scan-event-${probe.eventId} (position ${probe.seq}), after the relay's cursor ${cursor}: ` +
        `something other than the relay wrote to it; the rows from position ${first.seq} on are ` +
        `neither skipped nor pruned until it is put right`,
    );
  }
  let count = 0;
  while (rows.length > 0) {
    const last = rows.at(-1) as SequencedRow;
    count += last.seq <= end.to ? rows.length : rows.filter((row) => row.seq <= end.to).length;
    if (last.seq >= end.to || rows.length < batch) break;
    rows = await store.outboxAfter(last.seq, batch);
  }
  return count;
}
