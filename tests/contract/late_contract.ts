/**
 * The late-event part of the store contract (docs/rules.md §3.10, §7): the holes and settled
 * mark written in the page's transaction, late events' outbox rows after the page that found
 * them, and a relay commit that prunes exactly the rows it published.
 *
 * @module
 */

import { assertEquals } from "../helpers/assert.ts";
import { scanEvent } from "../helpers/events.ts";
import { type PageResult, projectLate, projectPage } from "../../src/domain/project.ts";
import type { Store } from "../../src/store/store.ts";
import type { StoreHarness } from "./_contract.ts";

/** A page's result with the late-event record a loop adds. */
function withLate(result: PageResult, holes: string, settled: number, found: number[] = []) {
  return { ...result, late: { holes, settled, found } };
}

/** Register the late-event contract tests for one store. */
export function lateContract(name: string, makeHarness: () => Promise<StoreHarness>): void {
  const test = (title: string, body: (h: StoreHarness, store: Store) => Promise<void>) => {
    Deno.test(`${name} store (late events): ${title}`, async () => {
      const harness = await makeHarness();
      const store = await harness.open({ outbox: true });
      try {
        await store.migrate();
        await body(harness, store);
      } finally {
        await store.close();
        await harness.cleanup();
      }
    });
  };

  test("the holes and the settled mark are stored with the page", async (_h, store) => {
    assertEquals(await store.readLateHoles?.(), null);
    const page = projectPage(0, [1, 2, 5].map((id) => scanEvent(id, 10, "STATUS")));
    await store.applyPage(withLate(page, "[[3,4,1000]]", 2));
    assertEquals(await store.readLateHoles?.(), "[[3,4,1000]]");
    assertEquals((await store.status()).settledEventId, 2);
    // A page without a late-event record leaves them as they are.
    await store.applyPage(projectPage(5, [scanEvent(6, 10, "STATUS")]));
    assertEquals(await store.readLateHoles?.(), "[[3,4,1000]]");
    assertEquals((await store.status()).checkpoint, 6);
  });

  test(
    "a late event is applied with the checkpoint unmoved and outboxed once, after the page that found it, below the highest EventId published",
    async (_h, store) => {
      const page = projectPage(0, [1, 2, 4].map((id) => scanEvent(id, 10 + id, "STATUS")));
      await store.applyPage(withLate(page, "[[3,3,1000]]", 2));
      await store.outbox.commitRelay((await store.outbox.outboxAfter(0, 10)).at(-1)?.seq ?? 0);
      const cursor = await store.outbox.readRelayCursor();
      const late = projectLate(4, [scanEvent(3, 13, "PICKUP")], (id) => id === 3);
      const write = await store.applyPage(withLate(late, "[]", 4, [3]));
      assertEquals(write.outboxed, 1);
      assertEquals(
        (await store.outbox.outboxAfter(cursor, 10)).map((r) => [r.eventId, r.late]),
        [[3, true]],
        "a late event's row says so",
      );
      assertEquals(await store.readCheckpoint(), 4);
      assertEquals((await store.parcel(13))?.type, "PICKUP");
      // The same late write again (a crash before the loop learnt it committed) adds nothing.
      const again = await store.applyPage(withLate(late, "[]", 4, [3]));
      assertEquals(again.outboxed, 0);
      assertEquals((await store.outbox.outboxAfter(cursor, 10)).map((r) => r.eventId), [3]);
    },
  );

  test(
    "the relay prunes exactly the rows it published: a row committed below its cursor meanwhile waits",
    async (_h, store) => {
      const page = projectPage(0, [1, 2, 4, 5].map((id) => scanEvent(id, 10 + id, "STATUS")));
      await store.applyPage(withLate(page, "[[3,3,1000]]", 2));
      const batch = await store.outbox.outboxAfter(0, 10);
      assertEquals(batch.map((r) => r.eventId), [1, 2, 4, 5]);
      // While the relay publishes the batch, the late event 3 is committed.
      const late = projectLate(5, [scanEvent(3, 13, "PICKUP")], (id) => id === 3);
      await store.applyPage(withLate(late, "[]", 5, [3]));
      await store.outbox.commitRelay(batch.at(-1)?.seq ?? 0);
      const waiting = await store.outbox.outboxAfter(await store.outbox.readRelayCursor(), 10);
      assertEquals(waiting.map((r) => r.eventId), [3], "the late row is not pruned unpublished");
      assertEquals((await store.outbox.outboxBacklog()).rows, 1);
      await store.outbox.commitRelay(waiting[0]?.seq ?? 0);
      assertEquals((await store.outbox.outboxBacklog()).rows, 0);
    },
  );
}
