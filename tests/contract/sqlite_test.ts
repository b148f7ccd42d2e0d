import { DatabaseSync } from "node:sqlite";
import { SqliteStore } from "../../src/store/sqlite.ts";
import { storeContract, type StoreHarness } from "./store_contract.ts";
import { lateContract } from "./late_contract.ts";
import { T1 } from "./_contract.ts";
import { assertEquals } from "../helpers/assert.ts";
import { scanEvent } from "../helpers/events.ts";
import { projectLate, projectPage } from "../../src/domain/project.ts";
import { withPageTraceparent } from "../../src/telemetry/mod.ts";

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

Deno.test("sqlite store: a page whose outbox rows are all new reports them with their positions, one with a row already there does not", async () => {
  const harness = await sqliteHarness();
  const store = await harness.open({ outbox: true });
  try {
    await store.migrate();
    const event = (id: number) => scanEvent(id, 10 + id, "STATUS", T1);
    const first = await store.applyPage(projectPage(0, [1, 2, 3].map(event)));
    assertEquals(first.rows?.map((r) => [r.seq, r.eventId]), [[1, 1], [2, 2], [3, 3]]);
    // Pruned to nothing: the next positions still follow the highest ever given.
    await store.outbox.commitRelay(3);
    const next = await store.applyPage(projectPage(3, [4, 5].map(event)));
    assertEquals(next.rows?.map((r) => [r.seq, r.eventId]), [[4, 4], [5, 5]]);
    await harness.setCheckpoint(3);
    const replay = await store.applyPage(projectPage(3, [4, 5, 6].map(event)));
    // The two rows already there were skipped (and used up positions 6 and 7): 6 went in at 8.
    assertEquals([replay.outboxed, replay.lastSeq, replay.rows], [1, 8, undefined]);
    // A traced page, and a late event below the highest EventId published, are handed over too.
    await store.outbox.commitRelay(8);
    const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const traced = await withPageTraceparent(
      traceparent,
      () => store.applyPage(projectPage(6, [7, 9].map(event))),
    );
    assertEquals(traced.rows?.map((r) => [r.seq, r.eventId, r.traceparent]), [
      [9, 7, traceparent],
      [10, 9, traceparent],
    ]);
    const late = projectLate(9, [event(8)], (id) => id === 8);
    const found = await store.applyPage({ ...late, late: { holes: "[]", settled: 9, found: [8] } });
    assertEquals(found.rows?.map((r) => [r.seq, r.eventId, r.late]), [[11, 8, true]]);
    // A replay whose last row is already there: its one new row took the position right after
    // the highest given, yet the page is not handed over (it did not write all its rows).
    await store.applyPage(projectPage(9, [14].map(event)));
    await harness.setCheckpoint(9);
    const tail = await store.applyPage(projectPage(9, [13, 14].map(event)));
    assertEquals([tail.outboxed, tail.lastSeq, tail.rows], [1, 13, undefined]);
  } finally {
    await store.close();
    await harness.cleanup();
  }
});

Deno.test("sqlite store: a page waits for another process's write lock (busy timeout), then commits", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "scan-worker-busy-" });
  const path = `${dir}/test.db`;
  const store = new SqliteStore(path);
  try {
    await store.migrate();
    // Another process (a second consumer, a `reset`) holds the write lock for a moment.
    const holder = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { DatabaseSync } from "node:sqlite";
         const db = new DatabaseSync(${JSON.stringify(path)});
         db.exec("BEGIN IMMEDIATE");
         console.log("locked");
         setTimeout(() => { db.exec("COMMIT"); db.close(); }, 800);`,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let said = "";
    while (!said.includes("locked")) {
      const { value, done } = await reader.read();
      if (done) break;
      said += value;
    }
    assertEquals(said.trim(), "locked");
    const write = await store.applyPage(projectPage(0, [scanEvent(1, 10, "PICKUP", T1)]));
    assertEquals(write.rejected, []);
    assertEquals(await store.readCheckpoint(), 1);
    await reader.cancel();
    assertEquals((await holder.status).success, true);
  } finally {
    await store.close();
    Deno.removeSync(dir, { recursive: true });
  }
});
