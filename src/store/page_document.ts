/**
 * A page as the JSON documents the server stores read set-based in one statement (PostgreSQL's
 * `jsonb_to_recordset`, SQL Server's `OPENJSON … WITH`): its parcel changes and its rejections,
 * with short keys (a page of 1000 parcels is sent on every write).
 *
 * @module
 */

import { outboxRows } from "../domain/message.ts";
import type { PageResult } from "../domain/project.ts";
import type { Rejection } from "../domain/validate.ts";

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

/**
 * The page's accepted events as outbox rows, JSON: `[{e, s, b}, …]` (EventId, subject, body).
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
  return JSON.stringify(
    outboxRows(result.events).map((r) => ({ e: r.eventId, s: r.subject, b: r.body })),
  );
}
