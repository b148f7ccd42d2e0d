/**
 * The store contract, what is stored verbatim: text, SQL in payloads, rejections told apart byte for byte, their order, the longest Type.
 *
 * @module
 */

import { assertEquals } from "../helpers/assert.ts";
import { scanEvent } from "../helpers/events.ts";
import { projectPage } from "../../src/domain/project.ts";
import { type ContractTest, T1, T2 } from "./_contract.ts";

/** Register the text tests of the contract with `test`. */
export function textContract(test: ContractTest): void {
  test("text is stored verbatim: quotes, SQL, unicode", async (h, store) => {
    await store.migrate();
    const status = "'; DROP TABLE ParcelStates; --";
    const runId = 'Robert"); DELETE FROM x; 漢字 🚚';
    await store.applyPage(
      projectPage(0, [
        scanEvent(1, 10, "O'Neil", T1, { StatusCode: status, User: { RunId: runId } }),
      ]),
    );
    const [row] = await h.parcels();
    assertEquals([row?.type, row?.statusCode, row?.runId], ["O'NEIL", status, runId]);
  });

  test("SQL in a rejected event's payload and reason is stored verbatim", async (h, store) => {
    await store.migrate();
    const nasty = "'); DROP TABLE RejectedEvents; -- \\ \" ' ; DELETE FROM WorkerStates; 漢字";
    const event = scanEvent(1, 10, "", T1, {
      StatusCode: nasty,
      User: { RunId: nasty.slice(0, 50) },
    });
    await store.applyPage(projectPage(0, [event, { EventId: nasty }]));
    assertEquals(await h.rejections(), [
      { eventId: 1, reason: "Type is empty", payload: JSON.stringify(event) },
      {
        eventId: null,
        reason: "EventId must be an integer JSON number, got a string",
        payload: JSON.stringify({ EventId: nasty }),
      },
    ]);
    assertEquals(await store.readCheckpoint(), 1);
  });

  test(
    "operators read a parcel, the newest rejections, and move the checkpoint",
    async (h, store, t) => {
      await store.migrate();
      await store.applyPage(
        projectPage(0, [
          scanEvent(1, 10, "PICKUP", T1, { User: { RunId: 7 } }),
          scanEvent(2, 11, ""),
          "junk",
          scanEvent(3, 12, ""),
        ]),
      );
      const parcel = await store.parcel(10);
      assertEquals(
        parcel &&
          [
            parcel.parcelId,
            parcel.lastEventId,
            parcel.type,
            parcel.runId,
            parcel.createdDateTimeUtc,
            parcel.pickupTimeUtc,
          ],
        [10, 1, "PICKUP", "7", t(T1), t(T1)],
      );
      assertEquals(
        /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/.test(parcel?.updatedAtUtc ?? ""),
        true,
      );
      assertEquals(await store.parcel(99), null);
      const newest = await store.rejections(2);
      assertEquals(newest.map((r) => [r.eventId, r.reason]), [
        [null, "event must be a JSON object, got a string"],
        [3, "Type is empty"],
      ]);
      assertEquals(newest[0]?.payload, '"junk"');
      assertEquals((newest[0]?.id ?? 0) > (newest[1]?.id ?? 0), true);
      assertEquals(await store.resetCheckpoint(1), 3);
      assertEquals(await store.readCheckpoint(), 1);
      assertEquals(await store.resetCheckpoint(500), 1);
      assertEquals((await h.parcels()).length, 1);
    },
  );

  test("rejections that differ only in letter case or width are both kept", async (h, store) => {
    await store.migrate();
    const pages = [["Junk"], ["JUNK"], ["junk"], ["Ｊunk"]];
    for (const page of pages) await store.applyPage(projectPage(0, page));
    await store.applyPage(projectPage(0, ["junk"]));
    await store.applyPage(projectPage(0, [scanEvent(1, 10, "", T1, { StatusCode: "abc" })]));
    await h.setCheckpoint(0);
    await store.applyPage(projectPage(0, [scanEvent(1, 10, "", T1, { StatusCode: "ABC" })]));
    assertEquals((await h.rejections()).map((r) => r.payload), [
      '"Junk"',
      '"JUNK"',
      '"junk"',
      '"Ｊunk"',
      JSON.stringify(scanEvent(1, 10, "", T1, { StatusCode: "abc" })),
      JSON.stringify(scanEvent(1, 10, "", T1, { StatusCode: "ABC" })),
    ]);
  });

  test(
    "a different event repeated under one EventId is stored as one rejection",
    async (h, store) => {
      await store.migrate();
      const other = scanEvent(1, 11, "DELIVERY", T2);
      await store.applyPage(projectPage(0, [scanEvent(1, 10, "PICKUP", T1), other, other]));
      assertEquals(await h.rejections(), [{
        eventId: 1,
        reason: "duplicate EventId 1 in the page, different from its first occurrence",
        payload: JSON.stringify(other),
      }]);
    },
  );

  test("a page's rejections get ids in page order", async (h, store) => {
    await store.migrate();
    const page = [
      scanEvent(5, 10, ""),
      scanEvent(2, 11, "", T1, { StatusCode: 1 }),
      "junk",
      scanEvent(9, 12, "PICKUP", "never"),
      scanEvent(3, 13, ""),
      { EventId: "x" },
    ];
    const write = await store.applyPage(projectPage(0, page));
    assertEquals(write.rejected.map((r) => r.eventId), [2, 3, 5, 9, null, null]);
    assertEquals((await h.rejections()).map((r) => r.eventId), [2, 3, 5, 9, null, null]);
    const newest = await store.rejections(10);
    assertEquals(newest.map((r) => r.eventId), [null, null, 9, 5, 3, 2]);
  });

  test("the longest Type, tripled by upper-casing, is stored whole", async (h, store) => {
    await store.migrate();
    const type = "ﬃ".repeat(50);
    await store.applyPage(projectPage(0, [scanEvent(1, 10, type, T1)]));
    const [row] = await h.parcels();
    assertEquals(row?.type, "FFI".repeat(50));
    assertEquals(row?.type.length, 150);
  });
}
