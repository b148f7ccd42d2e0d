/** The store contract against the real PostgreSQL server (PG_TEST_URL), a database per test. */
import { roundToMicroseconds } from "../../src/domain/timestamps.ts";
import { PostgresStore } from "../../src/store/postgres.ts";
import {
  createTestDatabase,
  PG_SKIP,
  postgresParcels,
  postgresRejections,
} from "../helpers/postgres.ts";
import {
  type ParcelRow,
  type RejectionRow,
  storeContract,
  type StoreHarness,
} from "./store_contract.ts";

async function postgresHarness(): Promise<StoreHarness> {
  const db = await createTestDatabase();
  return {
    open: (options) =>
      Promise.resolve(new PostgresStore({ connectionString: db.url }, undefined, options)),
    // The common shape keeps seven fraction digits: PostgreSQL's microseconds and a 0.
    parcels: async () =>
      (await postgresParcels(db.query)).map((r): ParcelRow => ({
        parcelId: r.ParcelId,
        lastEventId: r.LastEventId,
        type: r.Type,
        statusCode: r.StatusCode,
        runId: r.RunId,
        createdDateTimeUtc: r.CreatedDateTimeUtc.replace("Z", "0Z"),
        pickupTimeUtc: r.PickupTimeUtc?.replace("Z", "0Z") ?? null,
        deliveryTimeUtc: r.DeliveryTimeUtc?.replace("Z", "0Z") ?? null,
      })),
    rejections: async () =>
      (await postgresRejections(db.query)).map((r): RejectionRow => ({
        eventId: r.EventId,
        reason: r.Reason,
        payload: r.Payload,
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
} else {
  Deno.test({ name: "postgres store: contract suite (needs PostgreSQL)", ignore: true, fn() {} });
}
