/**
 * A group member's batch write (`applyBatch`) on SQLite and on the real PostgreSQL server: the
 * parcel rows and rejections of a page without the feed checkpoint; applied twice, in any order
 * or by writers at the same time, it leaves the same tables.
 */
import { assertEquals } from "../helpers/assert.ts";
import { COURIER, minute, scanEvent } from "../helpers/events.ts";
import { createTestDatabase, PG_SKIP } from "../helpers/postgres.ts";
import { tempDatabase } from "../helpers/tables.ts";
import { projectPage } from "../../src/domain/project.ts";
import { PostgresStore } from "../../src/store/postgres.ts";
import { SqliteStore } from "../../src/store/sqlite.ts";
import type { ParcelState, Store } from "../../src/store/store.ts";

/** A store on a fresh database, and a second one on the same database; cleanup removes it. */
interface Fresh {
  readonly open: () => Promise<Store>;
  readonly cleanup: () => Promise<void>;
}

const STORES: Record<string, () => Promise<Fresh>> = {
  sqlite: () => {
    const db = tempDatabase("scan-worker-batch-");
    return Promise.resolve({
      open: () => Promise.resolve(new SqliteStore(db.path)),
      cleanup: () => Promise.resolve(Deno.removeSync(db.dir, { recursive: true })),
    });
  },
  postgres: async () => {
    const db = await createTestDatabase("scan_worker_batch");
    return {
      open: () => Promise.resolve(new PostgresStore({ connectionString: db.url })),
      cleanup: () => db.drop(),
    };
  },
};

/** A batch of raw events as a member projects it (no checkpoint below which to skip). */
const batch = (...events: unknown[]) => projectPage(0, events);

const E = (eventId: number, parcelId: number, type: string, m: number) =>
  scanEvent(eventId, parcelId, type, minute(m), COURIER);

/** Events 1..8 of parcels 7 and 9, in two batches, the second one's EventIds higher. */
const FIRST = [
  E(1, 7, "PICKUP", 1),
  E(2, 9, "STATUS", 2),
  E(3, 7, "STATUS", 3),
  E(4, 9, "PICKUP", 4),
];
const SECOND = [
  E(5, 7, "DELIVERY", 5),
  E(6, 9, "STATUS", 6),
  E(7, 7, "STATUS", 7),
  E(8, 9, "PICKUP", 8),
];
const BAD = { EventId: 10, ParcelId: 7 }; // no Type, no CreatedDateTimeUtc

/** The rows that matter of parcels 7 and 9 (the time a row was written left out). */
async function rows(store: Store): Promise<Omit<ParcelState, "updatedAtUtc">[]> {
  const out = [];
  for (const id of [7, 9]) {
    const row = await store.parcel(id);
    if (row !== null) {
      const { updatedAtUtc: _, ...rest } = row;
      out.push(rest);
    }
  }
  return out;
}

for (const [name, fresh] of Object.entries(STORES)) {
  const ignore = name === "postgres" && PG_SKIP !== null;
  const test = (title: string, fn: (f: Fresh) => Promise<void>) =>
    Deno.test({
      name: `${name} batch write: ${title}`,
      ignore,
      async fn() {
        const f = await fresh();
        try {
          await fn(f);
        } finally {
          await f.cleanup();
        }
      },
    });

  test("writes parcel rows and rejections and leaves the feed checkpoint at 0", async (f) => {
    const store = await f.open();
    try {
      await store.migrate();
      const write = await store.applyBatch(batch(...FIRST, BAD));
      assertEquals(write.outboxed, 0);
      assertEquals(write.rejected.map((r) => r.eventId), [10]);
      assertEquals(await store.readCheckpoint(), 0);
      const parcel7 = await store.parcel(7);
      assertEquals(
        [parcel7?.lastEventId, parcel7?.type, parcel7?.pickupTimeUtc?.slice(0, 19)],
        [3, "STATUS", "2021-05-11T10:01:00"],
      );
      assertEquals((await store.rejections(10)).map((r) => r.eventId), [10]);
    } finally {
      await store.close();
    }
  });

  test("a batch applied again, or batches in the other order, leave the same rows", async (f) => {
    const store = await f.open();
    try {
      await store.migrate();
      await store.applyBatch(batch(...FIRST));
      await store.applyBatch(batch(...SECOND));
      const inOrder = await rows(store);
      assertEquals(inOrder.map((r) => [r.parcelId, r.lastEventId, r.type]), [
        [7, 7, "STATUS"],
        [9, 8, "PICKUP"],
      ]);
      // Again, and the first batch after the second (a late redelivery): nothing moves.
      await store.applyBatch(batch(...SECOND));
      await store.applyBatch(batch(...FIRST));
      assertEquals(await rows(store), inOrder);
    } finally {
      await store.close();
    }
  });

  test("the second batch first, then the first: the rows of the order 1, 2", async (f) => {
    const store = await f.open();
    try {
      await store.migrate();
      await store.applyBatch(batch(...SECOND));
      await store.applyBatch(batch(...FIRST));
      const parcel9 = await store.parcel(9);
      // The lowest PICKUP (4) wins over the later one (8), whatever the order of writes.
      assertEquals(parcel9?.pickupTimeUtc?.slice(0, 19), "2021-05-11T10:04:00");
      assertEquals(parcel9?.lastEventId, 8);
      const parcel7 = await store.parcel(7);
      assertEquals(parcel7?.pickupTimeUtc?.slice(0, 19), "2021-05-11T10:01:00");
      assertEquals(parcel7?.deliveryTimeUtc?.slice(0, 19), "2021-05-11T10:05:00");
    } finally {
      await store.close();
    }
  });

  test("a rejection written again is stored once and not reported again", async (f) => {
    const store = await f.open();
    try {
      await store.migrate();
      assertEquals((await store.applyBatch(batch(BAD))).rejected.length, 1);
      assertEquals((await store.applyBatch(batch(BAD, E(11, 7, "STATUS", 9)))).rejected, []);
      assertEquals((await store.rejections(10)).length, 1);
    } finally {
      await store.close();
    }
  });

  test("four writers at once with overlapping parcels: no deadlock, the serial result", async (f) => {
    const setup = await f.open();
    await setup.migrate();
    const writers = await Promise.all([f.open(), f.open(), f.open(), f.open()]);
    try {
      // 40 batches of 50 events over 60 parcels, each batch touching most of them.
      const batches = Array.from({ length: 40 }, (_, b) =>
        batch(
          ...Array.from({ length: 50 }, (_, i) => {
            const eventId = b * 50 + i + 1;
            return E(
              eventId,
              100 + (eventId * 7) % 60,
              eventId % 9 === 0 ? "PICKUP" : "STATUS",
              eventId % 60,
            );
          }),
          { EventId: 5000 + (b % 5), ParcelId: 1 }, // a rejection five writers share
        ));
      await Promise.all(writers.map(async (w, k) => {
        for (let b = k; b < batches.length; b += writers.length) {
          await w.applyBatch(batches[b] ?? batch());
        }
      }));
      const parcel = await setup.parcel(100 + (2000 * 7) % 60);
      assertEquals(parcel?.lastEventId, 2000);
      const status = await setup.status();
      assertEquals(status.parcels, 60);
      assertEquals(status.rejected, 5);
      assertEquals(status.checkpoint, 0);
    } finally {
      for (const w of writers) await w.close();
      await setup.close();
    }
  });
}
