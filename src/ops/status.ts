/**
 * The `status` command's output: the store's key figures as text or JSON.
 *
 * @module
 */

import type { StoreStatus } from "../store/store.ts";

/** What `status --json` prints: the store's figures plus which database they came from. */
export interface StatusReport extends StoreStatus {
  /** The database, password redacted. */
  readonly database: string;
}

/**
 * Format a status report for people.
 * @example formatStatus({ database: "sqlite:x.db", checkpoint: 5, … })
 * // "database        sqlite:x.db\ncheckpoint      5 …"
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
  ];
  return rows.map(([k, v]) => `${k.padEnd(16)}${v}`).join("\n") + "\n";
}
