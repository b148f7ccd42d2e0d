/**
 * A page as the JSON documents the server stores read set-based in one statement (PostgreSQL's
 * `json_to_recordset`, SQL Server's `OPENJSON … WITH`): its parcel changes and its rejections,
 * with short keys (a page of 1000 parcels is sent on every write); and what the statement
 * answered, read back.
 *
 * @module
 */

import { type OutboxRow, outboxRows } from "../domain/message.ts";
import type { PageResult } from "../domain/project.ts";
import type { Rejection } from "../domain/validate.ts";
import { CheckpointMovedError, type PageWrite } from "./store.ts";

/** The JSON documents sent with one page. */
export interface PageDocument {
  /** `[{p, e, t, s, r, c, pe, pt, de, dt}, …]`: one object per parcel change. */
  readonly changes: string;
  /** `[{n, e, why, raw}, …]`: one object per rejection, `n` its place in the page. */
  readonly rejections: string;
}

/**
 * The page as JSON, each time written the way the store's database reads it (`time` gets the
 * normalised UTC text: `2021-05-11T21:11:34.1506147Z`).
 * @example One parcel change
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { projectPage } from "../domain/project.ts";
 * import { pageDocument } from "./page_document.ts";
 *
 * const result = projectPage(0, [
 *   { EventId: 1, ParcelId: 7, Type: "PICKUP", CreatedDateTimeUtc: "2021-05-11T21:11:34Z" },
 * ]);
 * const [change] = JSON.parse(pageDocument(result, (t) => t).changes);
 * deepStrictEqual([change.p, change.e, change.t, change.pe], [7, 1, "PICKUP", 1]);
 * ```
 */
export function pageDocument(result: PageResult, time: (text: string) => string): PageDocument {
  const optional = (text: string | null) => (text === null ? null : time(text));
  return {
    changes: JSON.stringify(result.changes.map((c) => ({
      p: c.parcelId,
      e: c.lastEventId,
      t: c.type,
      s: c.statusCode,
      r: c.runId,
      c: time(c.createdDateTimeUtc),
      pe: c.pickupEventId,
      pt: optional(c.pickupTimeUtc),
      de: c.deliveryEventId,
      dt: optional(c.deliveryTimeUtc),
    }))),
    rejections: JSON.stringify(
      result.rejections.map((r, n) => ({ n, e: r.eventId, why: r.reason, raw: r.payload })),
    ),
  };
}

/**
 * The rejections a statement stored, from the places (`n`) in the page it reports.
 * @example What the statement reported
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { projectPage } from "../domain/project.ts";
 * import { storedRejections } from "./page_document.ts";
 *
 * const result = projectPage(0, [{ EventId: 1 }, { EventId: 2 }]);
 * deepStrictEqual(storedRejections(result, [1]), [result.rejections[1]]);
 * deepStrictEqual(storedRejections(result, null), []);
 * ```
 */
export function storedRejections(
  result: PageResult,
  places: readonly number[] | null,
): Rejection[] {
  return (places ?? []).flatMap((n) => {
    const rejection = result.rejections[n];
    return rejection === undefined ? [] : [rejection];
  });
}

/** What a server store's page statement answers, in its own column names' stead. */
export interface PageOutcome {
  /** Whether the guarded checkpoint moved (1 or true). */
  readonly moved: boolean | number | string;
  /** The checkpoint the store holds (null when its row is missing). */
  readonly actual: string | number | null;
  /** The places (`n`) of the rejections it stored. */
  readonly stored: readonly number[] | null;
  /** How many outbox rows it wrote. */
  readonly outboxed: string | number | null;
  /** The outbox position of the last of them; null (or absent) when it wrote none. */
  readonly lastSeq?: string | number | null;
}

/**
 * What a page statement stored, from what it answered (`undefined`: no row); fails with
 * {@link CheckpointMovedError} when the checkpoint did not move.
 * @example A statement that moved the checkpoint and stored the second rejection
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { projectPage } from "../domain/project.ts";
 * import { pageWritten } from "./page_document.ts";
 *
 * const result = projectPage(0, [{ EventId: 1 }, { EventId: 2 }]);
 * const outcome = { moved: 1, actual: 2, stored: [1], outboxed: 0, lastSeq: null };
 * deepStrictEqual(pageWritten(result, outcome), { rejected: [result.rejections[1]], outboxed: 0 });
 * ```
 */
export function pageWritten(result: PageResult, outcome: PageOutcome | undefined): PageWrite {
  if (outcome === undefined || Number(outcome.moved) !== 1) {
    const actual = outcome?.actual ?? null;
    throw new CheckpointMovedError(result.from, actual === null ? null : Number(actual));
  }
  const rejected = storedRejections(result, outcome.stored);
  const outboxed = Number(outcome.outboxed ?? 0);
  const lastSeq = outcome.lastSeq ?? null;
  return lastSeq === null
    ? { rejected, outboxed }
    : { rejected, outboxed, lastSeq: Number(lastSeq) };
}

/**
 * The page's accepted events as outbox rows in commit order, JSON: `[{n, e, s, b, l}, …]` (place,
 * EventId, subject, body, 1 for a late event).
 * @example One accepted event
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { projectPage } from "../domain/project.ts";
 * import { outboxDocument } from "./page_document.ts";
 *
 * const result = projectPage(0, [
 *   { EventId: 1, ParcelId: 7, Type: "PICKUP", CreatedDateTimeUtc: "2021-05-11T21:11:34Z" },
 * ]);
 * const [row] = JSON.parse(outboxDocument(result));
 * deepStrictEqual([row.e, row.s], [1, "scan.v1.events.PICKUP.7"]);
 * ```
 */
export function outboxDocument(result: PageResult): string {
  const late = new Set(result.late?.found ?? []);
  return JSON.stringify(
    outboxOrder(result).map((r, n) => ({
      n,
      e: r.eventId,
      s: r.subject,
      b: r.body,
      l: late.has(r.eventId) ? 1 : 0,
    })),
  );
}

/**
 * The page's outbox rows in commit order: its events above the checkpoint in EventId order,
 * then the late events it applies (docs/rules.md §3.10), in EventId order, after them.
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { projectLate } from "../domain/project.ts";
 * import { outboxOrder } from "./page_document.ts";
 *
 * const late = projectLate(100, [
 *   { EventId: 41, ParcelId: 7, Type: "PICKUP", CreatedDateTimeUtc: "2021-05-11T21:11:34Z" },
 * ], (id) => id === 41);
 * deepStrictEqual(outboxOrder(late).map((r) => r.eventId), [41]);
 * ```
 */
export function outboxOrder(result: PageResult): OutboxRow[] {
  const rows = outboxRows(result.events);
  return [
    ...rows.filter((r) => r.eventId > result.from),
    ...rows.filter((r) => r.eventId <= result.from),
  ];
}
