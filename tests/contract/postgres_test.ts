/** The store contract against the real PostgreSQL server (PG_TEST_URL), a database per test. */
import { roundToMicroseconds } from "../../src/domain/timestamps.ts";
import { PostgresStore } from "../../src/store/postgres.ts";
import { createTestDatabase, PG_SKIP } from "../helpers/postgres.ts";
import {
  type ParcelRow,
  type RejectionRow,
  storeContract,
  type StoreHarness,
} from "./store_contract.ts";
import { lateContract } from "./late_contract.ts";

const micro = (column: string) =>
  `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '0Z'`;

async function postgresHarness(): Promise<StoreHarness> {
  const db = await createTestDatabase();
  return {
    open: (options) =>
      Promise.resolve(new PostgresStore({ connectionString: db.url }, undefined, options)),
    parcels: async () =>
      (await db.query<Record<string, string | null>>(
        `SELECT parcel_id, last_event_id, type, status_code, run_id,
           ${micro("created_date_time_utc")} AS created, ${micro("pickup_time_utc")} AS pickup,
           ${micro("delivery_time_utc")} AS delivery
         FROM parcel_states ORDER BY parcel_id`,
      )).map((r): ParcelRow => ({
        parcelId: Number(r.parcel_id),
        lastEventId: Number(r.last_event_id),
        type: String(r.type),
        statusCode: String(r.status_code),
        runId: r.run_id ?? null,
        createdDateTimeUtc: String(r.created),
        pickupTimeUtc: r.pickup ?? null,
        deliveryTimeUtc: r.delivery ?? null,
      })),
    rejections: async () =>
      (await db.query<{ event_id: string | null; reason: string; payload: string }>(
        "SELECT event_id, reason, payload FROM rejected_events ORDER BY id",
      )).map((r): RejectionRow => ({
        eventId: r.event_id === null ? null : Number(r.event_id),
        reason: r.reason,
        payload: r.payload,
      })),
    setCheckpoint: async (eventId) => {
      await db.query(
        "UPDATE worker_states SET last_processed_event_id = $1 WHERE id = 'scan-events'",
        [eventId],
      );
    },
    tamperMigrationChecksum: async () => {
      await db.query("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1");
    },
    cleanup: () => db.drop(),
    storedTime: (text) => roundToMicroseconds(text).replace("Z", "0Z"),
  };
}

if (PG_SKIP === null) {
  storeContract("postgres", postgresHarness);
  lateContract("postgres", postgresHarness);
} else {
  Deno.test({ name: "postgres store: contract suite (needs PostgreSQL)", ignore: true, fn() {} });
}
