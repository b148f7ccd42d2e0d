/**
 * The store contract against a real SQL Server, when MSSQL_TEST_URL names one (a login allowed
 * to CREATE DATABASE; see README). Each test gets a fresh database, dropped afterwards.
 */
// @ts-types="npm:@types/mssql@^12.3.0"
import sql from "mssql";
import { mssqlConfig } from "../../src/store/mssql_config.ts";
import { MssqlStore } from "../../src/store/mssql.ts";
import { fromSqlTime } from "../../src/store/mssql_sql.ts";
import {
  type ParcelRow,
  type RejectionRow,
  storeContract,
  type StoreHarness,
} from "./store_contract.ts";

const url = Deno.env.get("MSSQL_TEST_URL");

async function mssqlHarness(): Promise<StoreHarness> {
  const server = mssqlConfig(url ?? "");
  const database = `scan_worker_test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const admin = await new sql.ConnectionPool({ ...server, database: "master" }).connect();
  await admin.request().batch(`CREATE DATABASE [${database}]`);
  const config = { ...server, database };
  const pool = await new sql.ConnectionPool(config).connect();
  return {
    open: (options) => Promise.resolve(new MssqlStore(config, undefined, options)),
    parcels: async () =>
      (await pool.request().query<Record<string, string | number | null>>(
        `SELECT ParcelId, LastEventId, Type, StatusCode, RunId,
           CONVERT(char(27), CreatedDateTimeUtc, 121) AS Created,
           CONVERT(char(27), PickupTimeUtc, 121) AS Pickup,
           CONVERT(char(27), DeliveryTimeUtc, 121) AS Delivery
         FROM dbo.ParcelStates ORDER BY ParcelId`,
      )).recordset.map((r): ParcelRow => ({
        parcelId: Number(r.ParcelId),
        lastEventId: Number(r.LastEventId),
        type: String(r.Type),
        statusCode: String(r.StatusCode),
        runId: r.RunId === null ? null : String(r.RunId),
        createdDateTimeUtc: fromSqlTime(String(r.Created)) ?? "",
        pickupTimeUtc: fromSqlTime(r.Pickup === null ? null : String(r.Pickup)),
        deliveryTimeUtc: fromSqlTime(r.Delivery === null ? null : String(r.Delivery)),
      })),
    rejections: async () =>
      (await pool.request().query<{ EventId: string | null; Reason: string; Payload: string }>(
        "SELECT EventId, Reason, Payload FROM dbo.RejectedEvents ORDER BY Id",
      )).recordset.map((r): RejectionRow => ({
        eventId: r.EventId === null ? null : Number(r.EventId),
        reason: r.Reason,
        payload: r.Payload,
      })),
    setCheckpoint: async (eventId) => {
      await pool.request().input("to", sql.BigInt, eventId)
        .query("UPDATE dbo.WorkerStates SET LastProcessedEventId = @to WHERE Id = N'scan-events'");
    },
    tamperMigrationChecksum: async () => {
      await pool.request().query(
        "UPDATE dbo.SchemaMigrations SET Checksum = REPLICATE('0', 64) WHERE Version = 1",
      );
    },
    cleanup: async () => {
      await pool.close();
      await admin.request().batch(
        `ALTER DATABASE [${database}] SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE [${database}];`,
      );
      await admin.close();
    },
  };
}

if (url) {
  storeContract("mssql", mssqlHarness);
} else {
  // deno-lint-ignore no-console -- the skip must say why, on the test output
  console.log(
    "SQL Server store contract skipped: MSSQL_TEST_URL is not set (see README, SQL Server)",
  );
  Deno.test({ name: "mssql store: contract suite (needs MSSQL_TEST_URL)", ignore: true, fn() {} });
}
