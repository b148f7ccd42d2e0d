/**
 * The `status` command's output: the store's key figures as text or JSON.
 *
 * @module
 */

import { epochMs } from "../domain/timestamps.ts";
import type { StoreStatus } from "../store/store.ts";

/** What `status --json` prints: the store's figures plus which database they came from. */
export interface StatusReport extends StoreStatus {
  /** The database, password redacted. */
  readonly database: string;
  /** Seconds from the newest applied event's CreatedDateTimeUtc to now (null before one). */
  readonly newestEventAgeSeconds: number | null;
  /** Seconds since the checkpoint last moved (null when unknown). */
  readonly checkpointAgeSeconds: number | null;
}

/** Seconds from a docs/rules.md §3.5 time to `nowMs` (millisecond precision is enough here). */
function ageSeconds(text: string | null, nowMs: number): number | null {
  if (text === null) return null;
  const ms = epochMs(text);
  return Number.isNaN(ms) ? null : Math.round((nowMs - ms) / 100) / 10;
}

/** The status report for a store's figures. */
export function statusReport(database: string, status: StoreStatus, nowMs: number): StatusReport {
  return {
    database,
    ...status,
    newestEventAgeSeconds: ageSeconds(status.newestEventUtc, nowMs),
    checkpointAgeSeconds: ageSeconds(status.checkpointUpdatedAtUtc, nowMs),
  };
}

/**
 * Format a status report for people.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatStatus, statusReport } from "./status.ts";
 *
 * const report = statusReport("sqlite:scan.db", {
 *   checkpoint: 5,
 *   checkpointUpdatedAtUtc: null,
 *   parcels: 3,
 *   rejected: 0,
 *   schemaVersion: 2,
 *   newestEventUtc: null,
 * }, Date.parse("2021-05-11T10:00:00Z"));
 * assert.equal(
 *   formatStatus(report),
 *   [
 *     "database        sqlite:scan.db",
 *     "checkpoint      5",
 *     "parcels         3",
 *     "rejected        0",
 *     "schema version  2",
 *     "newest event    -",
 *     "",
 *   ].join("\n"),
 * );
 * ```
 */
export function formatStatus(report: StatusReport): string {
  const rows: [string, string][] = [
    ["database", report.database],
    [
      "checkpoint",
      `${report.checkpoint}${
        report.checkpointUpdatedAtUtc ? ` (moved ${report.checkpointUpdatedAtUtc})` : ""
      }`,
    ],
    ["parcels", String(report.parcels)],
    ["rejected", String(report.rejected)],
    ["schema version", String(report.schemaVersion)],
    [
      "newest event",
      report.newestEventUtc === null
        ? "-"
        : `${report.newestEventUtc} (${report.newestEventAgeSeconds} s ago)`,
    ],
  ];
  return rows.map(([k, v]) => `${k.padEnd(16)}${v}`).join("\n") + "\n";
}
