/**
 * The store contract, page writes: parcel rows, rejections and the checkpoint in one
 * transaction, the guards of docs/rules.md §3.6–3.7, the largest ids; and replays: a page applied
 * twice, after a reset, from a stale checkpoint or a second connection.
 *
 * @module
 */

import { assertEquals, assertRejects } from "../helpers/assert.ts";
import { scanEvent } from "../helpers/events.ts";
import { projectPage } from "../../src/domain/project.ts";
import { CheckpointMovedError } from "../../src/store/store.ts";
import { type ContractTest, T1, T2, T3 } from "./_contract.ts";

/** Register the page-write tests of the contract with `test`. */
export function pageContract(test: ContractTest): void {
  test("a page writes parcel rows, rejections and the checkpoint", async (h, store, t) => {
    await store.migrate();
    const page = [
      scanEvent(1, 10, "PICKUP", T1, { User: { RunId: "R9" } }),
      scanEvent(2, 11, "pickup", T1),
      scanEvent(3, 10, "STATUS", T2, { StatusCode: "ARRIVED", User: { RunId: 100 } }),
      scanEvent(4, 11, ""),
      scanEvent(5, 10, "DELIVERY", T3, { StatusCode: 7 }),
    ];
    await store.applyPage(projectPage(0, page));
    assertEquals(await store.readCheckpoint(), 5);
    assertEquals(await h.parcels(), [
      {
        parcelId: 10,
        lastEventId: 5,
        type: "DELIVERY",
        statusCode: "7",
        runId: null,
        createdDateTimeUtc: t(T3),
        pickupTimeUtc: t(T1),
        deliveryTimeUtc: t(T3),
      },
      {
        parcelId: 11,
        lastEventId: 2,
        type: "PICKUP",
        statusCode: "",
        runId: null,
        createdDateTimeUtc: t(T1),
        pickupTimeUtc: t(T1),
        deliveryTimeUtc: null,
      },
    ]);
    assertEquals(await h.rejections(), [
      { eventId: 4, reason: "Type is empty", payload: JSON.stringify(scanEvent(4, 11, "")) },
    ]);
    const status = await store.status();
    assertEquals([status.checkpoint, status.parcels, status.rejected], [5, 2, 1]);
    assertEquals(status.newestEventUtc, t(T3));
  });

  test(
    "a page of 237 parcels is written whole, and merged whole by the next",
    async (h, store, t) => {
      await store.migrate();
      const n = 237; // more than a multi-row statement holds, and a remainder of every size
      const types = ["PICKUP", "STATUS", "DELIVERY"];
      const first = Array.from(
        { length: n },
        (_, i) => scanEvent(i + 1, 1000 + i, types[i % 3], T1),
      );
      const second = Array.from(
        { length: n },
        (_, i) => scanEvent(n + 1 + i, 1000 + i, "STATUS", T2, { StatusCode: `S${i}` }),
      );
      await store.applyPage(projectPage(0, first));
      await store.applyPage(projectPage(n, second));
      assertEquals(await store.readCheckpoint(), 2 * n);
      assertEquals(
        await h.parcels(),
        Array.from({ length: n }, (_, i) => ({
          parcelId: 1000 + i,
          lastEventId: n + 1 + i,
          type: "STATUS",
          statusCode: `S${i}`,
          runId: null,
          createdDateTimeUtc: t(T2),
          pickupTimeUtc: i % 3 === 0 ? t(T1) : null,
          deliveryTimeUtc: i % 3 === 2 ? t(T1) : null,
        })),
      );
    },
  );

  test("pages merge across the guards of §3.6–3.7", async (h, store, t) => {
    await store.migrate();
    await store.applyPage(
      projectPage(0, [scanEvent(1, 10, "PICKUP", T1), scanEvent(2, 10, "DELIVERY", T2)]),
    );
    await store.applyPage(
      projectPage(2, [
        scanEvent(3, 10, "PICKUP", T3),
        scanEvent(4, 10, "DELIVERY", T3, { User: { RunId: "X" } }),
      ]),
    );
    assertEquals(await h.parcels(), [{
      parcelId: 10,
      lastEventId: 4,
      type: "DELIVERY",
      statusCode: "",
      runId: "X",
      createdDateTimeUtc: t(T3),
      pickupTimeUtc: t(T1),
      deliveryTimeUtc: t(T2),
    }]);
  });

  test("the first PICKUP wins even when it is applied after a later one", async (h, store, t) => {
    await store.migrate();
    await h.setCheckpoint(5);
    await store.applyPage(
      projectPage(5, [scanEvent(6, 10, "PICKUP", T3), scanEvent(7, 10, "DELIVERY", T3)]),
    );
    await h.setCheckpoint(0);
    await store.applyPage(
      projectPage(0, [scanEvent(1, 10, "PICKUP", T1), scanEvent(2, 10, "DELIVERY", T2)]),
    );
    const [row] = await h.parcels();
    assertEquals(
      [row?.lastEventId, row?.pickupTimeUtc, row?.deliveryTimeUtc, row?.createdDateTimeUtc],
      [7, t(T1), t(T2), t(T3)],
    );
  });

  test("an empty page writes nothing; id-less rejections are kept once", async (h, store) => {
    await store.migrate();
    await store.applyPage(projectPage(0, []));
    assertEquals(await store.readCheckpoint(), 0);
    const first = await store.applyPage(projectPage(0, ["junk"]));
    const again = await store.applyPage(projectPage(0, ["junk"]));
    assertEquals([first.rejected.length, again.rejected.length], [1, 0]);
    assertEquals(await h.rejections(), [
      { eventId: null, reason: "event must be a JSON object, got a string", payload: '"junk"' },
    ]);
    assertEquals(await store.readCheckpoint(), 0);
  });

  test("the largest ids are stored exactly", async (h, store) => {
    await store.migrate();
    const max = Number.MAX_SAFE_INTEGER;
    await store.applyPage(
      projectPage(0, [scanEvent(max - 1, max, "PICKUP", T1), scanEvent(max, 1, "")]),
    );
    assertEquals(await store.readCheckpoint(), max);
    assertEquals((await h.parcels()).map((p) => [p.parcelId, p.lastEventId]), [[max, max - 1]]);
    assertEquals((await h.rejections()).map((r) => r.eventId), [max]);
  });
}

/** Register the replay tests of the contract with `test`. */
export function replayContract(test: ContractTest): void {
  test("the same page applied twice is refused by the guarded checkpoint", async (h, store) => {
    await store.migrate();
    const result = projectPage(0, [scanEvent(1, 10, "PICKUP", T1), scanEvent(2, 10, "")]);
    await store.applyPage(result);
    const parcels = await h.parcels();
    await assertRejects(store.applyPage(result), CheckpointMovedError, /projected from 0/);
    assertEquals(await h.parcels(), parcels);
    assertEquals((await h.rejections()).length, 1);
    assertEquals(await store.readCheckpoint(), 2);
  });

  test("replaying pages after a reset changes nothing", async (h, store) => {
    await store.migrate();
    const pages = [
      [
        scanEvent(1, 10, "PICKUP", T1),
        scanEvent(2, 11, "PICKUP", T1),
        scanEvent(3, 10, "bad", "never"),
      ],
      [scanEvent(4, 10, "STATUS", T2), scanEvent(5, 11, "DELIVERY", T3), { EventId: "x" }],
    ];
    let checkpoint = 0;
    for (const page of pages) {
      const result = projectPage(checkpoint, page);
      await store.applyPage(result);
      checkpoint = result.to;
    }
    const parcels = await h.parcels();
    const rejections = await h.rejections();
    assertEquals(rejections.length, 2);

    await h.setCheckpoint(0);
    checkpoint = 0;
    for (const page of pages) {
      const result = projectPage(checkpoint, page);
      assertEquals((await store.applyPage(result)).rejected, [], "a replay stores no rejection");
      checkpoint = result.to;
    }
    assertEquals(await h.parcels(), parcels);
    assertEquals(await h.rejections(), rejections);
    assertEquals(await store.readCheckpoint(), 5);
  });

  test("a replay of an older page cannot regress a parcel", async (h, store) => {
    await store.migrate();
    await store.applyPage(
      projectPage(0, [scanEvent(1, 10, "PICKUP", T1), scanEvent(2, 10, "DELIVERY", T2)]),
    );
    const after = await h.parcels();
    await h.setCheckpoint(0);
    await store.applyPage(projectPage(0, [scanEvent(1, 10, "PICKUP", T1)]));
    assertEquals(await h.parcels(), after);
  });

  test("a page projected from a stale checkpoint rolls back completely", async (h, store) => {
    await store.migrate();
    await store.applyPage(projectPage(0, [scanEvent(1, 10, "PICKUP", T1)]));
    const stale = projectPage(0, [
      scanEvent(1, 10, "PICKUP", T1),
      scanEvent(2, 20, "PICKUP", T2),
      scanEvent(3, 30, ""),
    ]);
    await assertRejects(store.applyPage(stale), CheckpointMovedError);
    assertEquals((await h.parcels()).map((p) => p.parcelId), [10]);
    assertEquals(await h.rejections(), []);
    assertEquals(await store.readCheckpoint(), 1);
  });

  test("a second connection with a stale checkpoint cannot double-apply", async (h, store) => {
    await store.migrate();
    const other = await h.open();
    try {
      const checkpointA = await store.readCheckpoint();
      const checkpointB = await other.readCheckpoint();
      await store.applyPage(projectPage(checkpointA, [scanEvent(1, 10, "PICKUP", T1)]));
      await assertRejects(
        other.applyPage(projectPage(checkpointB, [scanEvent(1, 10, "PICKUP", T1)])),
        CheckpointMovedError,
      );
      assertEquals(await other.readCheckpoint(), 1);
    } finally {
      await other.close();
    }
  });
}
