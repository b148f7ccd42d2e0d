/**
 * The store contract, the outbox: accepted events waiting for the relay, its cursor and pruning.
 *
 * @module
 */

import { assertEquals, assertOk, assertRejects } from "../helpers/assert.ts";
import { scanEvent } from "../helpers/events.ts";
import { projectLate, projectPage } from "../../src/domain/project.ts";
import { withPageTraceparent } from "../../src/telemetry/mod.ts";
import { CheckpointMovedError, type PageWrite, type Store } from "../../src/store/store.ts";
import { type ContractTest, type StoreHarness, T1, T2, T3 } from "./_contract.ts";

/** Register the outbox tests of the contract with `test`. */
export function outboxContract(test: ContractTest): void {
  /** A test with a second store on the same database that writes the outbox. */
  const outboxTest = (title: string, body: (h: StoreHarness, store: Store) => Promise<void>) =>
    test(title, async (h, plain) => {
      await plain.migrate();
      const store = await h.open({ outbox: true });
      try {
        await body(h, store);
      } finally {
        await store.close();
      }
    });

  outboxTest(
    "with the outbox on, a page's accepted events wait there in order",
    async (_h, store) => {
      const page = [
        scanEvent(3, 10, " delivery ", T2, { StatusCode: 7, User: { RunId: 100 } }),
        scanEvent(1, 10, "PICKUP", T1),
        scanEvent(2, 11, ""),
        scanEvent(4, 12, "customs hold", T3),
        scanEvent(1, 10, "PICKUP", T1),
      ];
      const write = await store.applyPage(projectPage(0, page));
      assertEquals(write.outboxed, 3);
      assertEquals(write.lastSeq, 3);
      assertEquals(await store.outbox.outboxAfter(0, 10), [
        {
          seq: 1,
          late: false,
          eventId: 1,
          subject: "scan.v1.events.PICKUP.10",
          body:
            `{"EventId":1,"ParcelId":10,"Type":"PICKUP","CreatedDateTimeUtc":"${T1}","StatusCode":"","RunId":null}`,
          traceparent: null,
        },
        {
          seq: 2,
          late: false,
          eventId: 3,
          subject: "scan.v1.events.DELIVERY.10",
          body:
            `{"EventId":3,"ParcelId":10,"Type":"DELIVERY","CreatedDateTimeUtc":"${T2}","StatusCode":"7","RunId":"100"}`,
          traceparent: null,
        },
        {
          seq: 3,
          late: false,
          eventId: 4,
          subject: "scan.v1.events.CUSTOMS_HOLD.12",
          body:
            `{"EventId":4,"ParcelId":12,"Type":"CUSTOMS HOLD","CreatedDateTimeUtc":"${T3}","StatusCode":"","RunId":null}`,
          traceparent: null,
        },
      ]);
      assertEquals((await store.outbox.outboxAfter(1, 1)).map((r) => r.eventId), [3]);
      assertEquals((await store.outbox.outboxBacklog()).rows, 3);
    },
  );

  outboxTest(
    "each outbox row keeps the traceparent of the page that committed it",
    async (_h, store) => {
      const first = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
      const second = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
      await withPageTraceparent(first, () =>
        store.applyPage(
          projectPage(0, [scanEvent(1, 10, "PICKUP", T1), scanEvent(2, 11, "PICKUP")]),
        ));
      await withPageTraceparent(
        second,
        () => store.applyPage(projectPage(2, [scanEvent(3, 10, "DELIVERY", T2)])),
      );
      await store.applyPage(projectPage(3, [scanEvent(4, 12, "PICKUP", T3)]));
      assertEquals(
        (await store.outbox.outboxAfter(0, 10)).map((r) => [r.eventId, r.traceparent]),
        [[1, first], [2, first], [3, second], [4, null]],
      );
    },
  );

  outboxTest(
    "a page of 237 accepted events waits whole in the outbox, in order",
    async (_h, store) => {
      const n = 237; // more than a multi-row statement holds, and a remainder of every size
      const page = Array.from(
        { length: n },
        (_, i) => scanEvent(i + 1, 1000 + (i % 50), "STATUS", T1),
      );
      const write = await store.applyPage(projectPage(0, page));
      assertEquals([write.outboxed, write.lastSeq], [n, n]);
      const rows = await store.outbox.outboxAfter(0, 1000);
      assertEquals(rows.map((r) => [r.seq, r.eventId]), page.map((_, i) => [i + 1, i + 1]));
      assertEquals(rows[236]?.subject, "scan.v1.events.STATUS.1036");
    },
  );

  outboxTest("a page refused by the guarded checkpoint leaves no outbox row", async (_h, store) => {
    await store.applyPage(projectPage(0, [scanEvent(1, 10, "PICKUP", T1)]));
    await assertRejects(
      store.applyPage(projectPage(0, [scanEvent(1, 10, "PICKUP", T1), scanEvent(2, 10, "STATUS")])),
      CheckpointMovedError,
    );
    assertEquals((await store.outbox.outboxAfter(0, 10)).map((r) => r.eventId), [1]);
  });

  // The relay's cursor is an outbox position (commit order); here positions 1–4 hold EventIds 1–4.
  outboxTest("the relay's cursor only moves up and prunes what it covers", async (h, store) => {
    await store.applyPage(
      projectPage(0, [1, 2, 3, 4].map((id) => scanEvent(id, 10 + id, "STATUS", T1))),
    );
    assertEquals(await store.outbox.readRelayCursor(), 0);
    await store.outbox.commitRelay(2);
    assertEquals(await store.outbox.readRelayCursor(), 2);
    assertEquals((await store.outbox.outboxAfter(0, 10)).map((r) => r.eventId), [3, 4]);
    await store.outbox.commitRelay(1);
    assertEquals(await store.outbox.readRelayCursor(), 2);
    // A replay after a reset adds nothing the stream already holds, and nothing twice.
    await h.setCheckpoint(0);
    const replay = await store.applyPage(
      projectPage(0, [1, 2, 3, 4, 5].map((id) => scanEvent(id, 10 + id, "STATUS", T1))),
    );
    assertEquals(replay.outboxed, 1);
    const waiting = await store.outbox.outboxAfter(0, 10);
    assertEquals(waiting.map((r) => r.eventId), [3, 4, 5]);
    assertEquals(waiting.slice(0, 2).map((r) => r.seq), [3, 4]);
    assertOk((waiting[2]?.seq ?? 0) > 4, "a new row comes after every older one");
    assertEquals(await store.outbox.outboxSeqOf(4), 4);
    assertEquals(await store.outbox.outboxSeqOf(1), null, "a published row is gone");
    await store.outbox.commitRelay(waiting[2]?.seq ?? 0);
    assertEquals(await store.outbox.outboxBacklog(), { rows: 0, oldestUtc: null });
    assertEquals(await store.outbox.outboxAfter(0, 10), [], "every published row is pruned");
  });

  outboxTest(
    "the rows a page reports (when it does) are exactly the outbox's rows at their positions",
    async (h, store) => {
      const reported = async (write: PageWrite) => {
        if (write.rows === undefined) return;
        assertEquals(write.rows.length, write.outboxed);
        assertEquals(write.rows.at(-1)?.seq, write.lastSeq);
        const first = (write.rows[0]?.seq ?? 1) - 1;
        assertEquals(write.rows, await store.outbox.outboxAfter(first, write.rows.length));
      };
      const event = (id: number) => scanEvent(id, 10 + (id % 3), id % 2 ? "PICKUP" : "STATUS", T1);
      const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
      await reported(
        await withPageTraceparent(
          traceparent,
          () => store.applyPage(projectPage(0, [1, 2, 3].map(event))),
        ),
      );
      await reported(await store.applyPage(projectPage(3, [4, 5].map(event))));
      // Published and pruned: the next positions follow the highest ever given, not the rows left.
      await store.outbox.commitRelay(5);
      await reported(await store.applyPage(projectPage(5, [6, 7].map(event))));
      // A replay after a reset, one row of it already waiting: that row is not written again.
      await h.setCheckpoint(5);
      const replay = await store.applyPage(projectPage(5, [6, 7, 8].map(event)));
      assertEquals(replay.outboxed, 1);
      await reported(replay);
      // A late event, below the highest EventId published.
      const late = projectLate(8, [event(0)], (id) => id === 0);
      await reported(
        await store.applyPage({ ...late, late: { holes: "[]", settled: 8, found: [0] } }),
      );
    },
  );

  test("with the outbox off, nothing waits there", async (_h, store) => {
    await store.migrate();
    const write = await store.applyPage(projectPage(0, [scanEvent(1, 10, "PICKUP", T1)]));
    assertEquals(write.outboxed, 0);
    assertEquals(await store.outbox.outboxAfter(0, 10), []);
  });
}
