/** The store contract against the real PostgreSQL server (PG_TEST_URL), a database per test. */
import { roundToMicroseconds } from "../../src/domain/timestamps.ts";
import { PostgresStore } from "../../src/store/postgres.ts";
import { assertEquals, assertRejects } from "../helpers/assert.ts";
import { scanEvent } from "../helpers/events.ts";
import { projectPage } from "../../src/domain/project.ts";
import { PermanentStoreError } from "../../src/errors.ts";
import {
  adminQuery,
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

Deno.test({
  name: "postgres store: with the outbox off, a login without rights on outbox_events ingests",
  ignore: PG_SKIP !== null,
  async fn() {
    const db = await createTestDatabase();
    const role = `scan_ingest_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
    const owner = new PostgresStore({ connectionString: db.url });
    try {
      await owner.migrate();
      await db.query(`CREATE ROLE ${role} LOGIN`);
      await db.query(`GRANT SELECT, UPDATE ON worker_states TO ${role}`);
      await db.query(`GRANT SELECT, INSERT, UPDATE ON parcel_states TO ${role}`);
      await db.query(`GRANT SELECT, INSERT ON rejected_events TO ${role}`);
      await db.query(`GRANT SELECT ON schema_migrations TO ${role}`);
      const url = new URL(db.url);
      url.username = role;
      const ingest = new PostgresStore({ connectionString: url.href });
      try {
        await ingest.verifySchema();
        const write = await ingest.applyPage(
          projectPage(0, [scanEvent(1, 10, "PICKUP", "2021-05-11T10:00:00Z"), { EventId: 2 }]),
        );
        assertEquals([write.outboxed, write.rejected.length], [0, 1]);
        assertEquals(await ingest.readCheckpoint(), 2);
        // The same login with the outbox on is refused: the grant is what it takes.
        const relay = new PostgresStore({ connectionString: url.href }, undefined, {
          outbox: true,
        });
        try {
          await assertRejects(
            relay.applyPage(projectPage(2, [scanEvent(3, 11, "PICKUP", "2021-05-11T10:00:00Z")])),
            PermanentStoreError,
            /SQLSTATE 42501/,
          );
        } finally {
          await relay.close();
        }
      } finally {
        await ingest.close();
      }
    } finally {
      await owner.close();
      await db.drop();
      await adminQuery(`DROP ROLE IF EXISTS ${role}`);
    }
  },
});
