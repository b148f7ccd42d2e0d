import { DatabaseSync } from "node:sqlite";
import { SqliteStore } from "../../src/store/sqlite.ts";
import { storeContract, type StoreHarness } from "./store_contract.ts";
import { lateContract } from "./late_contract.ts";

/** A fresh SQLite file in a temporary folder, read back with a separate connection. */
function sqliteHarness(): Promise<StoreHarness> {
  const dir = Deno.makeTempDirSync({ prefix: "scan-worker-contract-" });
  const path = `${dir}/test.db`;
  const query = <T>(sql: string, ...params: (string | number)[]): T[] => {
    const db = new DatabaseSync(path);
    try {
      return db.prepare(sql).all(...params) as T[];
    } finally {
      db.close();
    }
  };
  return Promise.resolve({
    open: (options) => Promise.resolve(new SqliteStore(path, options)),
    parcels: () =>
      Promise.resolve(
        query(
          `SELECT ParcelId AS parcelId, LastEventId AS lastEventId, Type AS type,
           StatusCode AS statusCode, RunId AS runId, CreatedDateTimeUtc AS createdDateTimeUtc,
           PickupTimeUtc AS pickupTimeUtc, DeliveryTimeUtc AS deliveryTimeUtc
         FROM ParcelStates ORDER BY ParcelId`,
        ).map((row) => ({ ...row as object }) as never),
      ),
    rejections: () =>
      Promise.resolve(
        query(
          "SELECT EventId AS eventId, Reason AS reason, Payload AS payload FROM RejectedEvents ORDER BY Id",
        ).map((row) => ({ ...row as object }) as never),
      ),
    setCheckpoint: (eventId) => {
      query("UPDATE WorkerStates SET LastProcessedEventId = ? WHERE Id = 'scan-events'", eventId);
      return Promise.resolve();
    },
    tamperMigrationChecksum: () => {
      query("UPDATE SchemaMigrations SET Checksum = 'edited' WHERE Version = 1");
      return Promise.resolve();
    },
    cleanup: () => Deno.remove(dir, { recursive: true }),
  });
}

storeContract("sqlite", sqliteHarness);
lateContract("sqlite", sqliteHarness);
