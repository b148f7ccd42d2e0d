/**
 * Read a SQLite database's tables back for assertions.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";

/** A ParcelStates row as the spec names its columns. */
export interface ParcelStateRow {
  ParcelId: number;
  LastEventId: number;
  Type: string;
  StatusCode: string;
  RunId: string | null;
  CreatedDateTimeUtc: string;
  PickupTimeUtc: string | null;
  DeliveryTimeUtc: string | null;
}

/** The worker's tables, in a stable order. */
export interface Tables {
  checkpoint: number;
  parcels: ParcelStateRow[];
  rejected: { EventId: number | null; Reason: string }[];
}

/** Read the tables of the SQLite file at `path` (read-only). */
export function readTables(path: string): Tables {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const state = db.prepare(
      "SELECT LastProcessedEventId AS c FROM WorkerStates WHERE Id = 'scan-events'",
    ).get() as {
      c: number;
    };
    return {
      checkpoint: state.c,
      parcels: db.prepare(
        `SELECT ParcelId, LastEventId, Type, StatusCode, RunId, CreatedDateTimeUtc, PickupTimeUtc,
           DeliveryTimeUtc FROM ParcelStates ORDER BY ParcelId`,
      ).all().map((row) => ({ ...row }) as unknown as ParcelStateRow),
      rejected: db.prepare("SELECT EventId, Reason FROM RejectedEvents ORDER BY Id").all()
        .map((row) => ({ ...row }) as unknown as Tables["rejected"][number]),
    };
  } finally {
    db.close();
  }
}

/** A fresh SQLite database location in its own temporary folder. */
export interface TempDatabase {
  /** The folder (remove it when done). */
  readonly dir: string;
  /** The database file. */
  readonly path: string;
  /** `sqlite:` + path, for DATABASE_URL. */
  readonly url: string;
}

/** Make a temporary folder for a SQLite database. */
export function tempDatabase(prefix = "scan-worker-test-"): TempDatabase {
  const dir = Deno.makeTempDirSync({ prefix });
  return { dir, path: `${dir}/scan.db`, url: `sqlite:${dir}/scan.db` };
}
