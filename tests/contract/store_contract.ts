/**
 * The store contract: one suite every store adapter must pass, against a real database.
 * An adapter's test file supplies a {@link StoreHarness} that opens stores on a fresh database
 * and reads its tables back in one common shape.
 *
 * @module
 */

import { withPageTraceparent } from "../../src/telemetry/mod.ts";
import { assertEquals, assertRejects } from "../helpers/assert.ts";
import { scanEvent } from "../helpers/events.ts";
import { projectPage } from "../../src/domain/project.ts";
import {
  CheckpointMovedError,
  MigrationError,
  SchemaMissingError,
  type Store,
  type StoreOptions,
} from "../../src/store/store.ts";

/** A ParcelStates row in the common shape (timestamps as docs/rules.md §3.5 text). */
export interface ParcelRow {
  parcelId: number;
  lastEventId: number;
  type: string;
  statusCode: string;
  runId: string | null;
  createdDateTimeUtc: string;
  pickupTimeUtc: string | null;
  deliveryTimeUtc: string | null;
}

/** A RejectedEvents row in the common shape. */
export interface RejectionRow {
  eventId: number | null;
  reason: string;
  payload: string;
}

/** What a store's test file provides: a fresh database and ways to look inside it. */
export interface StoreHarness {
  /** Open a new store (a new connection) on this harness's database. */
  open(options?: StoreOptions): Promise<Store>;
  /** ParcelStates, ordered by ParcelId. */
  parcels(): Promise<ParcelRow[]>;
  /** RejectedEvents, ordered by Id. */
  rejections(): Promise<RejectionRow[]>;
  /** Move the checkpoint by hand (what a reset does). */
  setCheckpoint(eventId: number): Promise<void>;
  /** Change the recorded checksum of migration 1, as if its file had been edited. */
  tamperMigrationChecksum(): Promise<void>;
  /** Drop the database and release everything. */
  cleanup(): Promise<void>;
  /** How a docs/rules.md §3.5 time reads back from this store (PostgreSQL keeps microseconds). */
  storedTime?(text: string): string;
}

const T1 = "2021-05-11T10:00:00.0000001Z";
const T2 = "2021-05-11T11:00:00.1234567Z";
const T3 = "2021-05-11T12:00:00.9999999Z";

/**
 * Register the contract's tests for one store.
 * @param name the store, prefixed to each test name.
 * @param makeHarness a fresh database per test; return null to skip (with a printed reason).
 */
export function storeContract(
  name: string,
  makeHarness: () => Promise<StoreHarness>,
): void {
  const test = (
    title: string,
    body: (h: StoreHarness, store: Store, t: (text: string) => string) => Promise<void>,
  ) => {
    Deno.test(`${name} store: ${title}`, async () => {
      const harness = await makeHarness();
      const store = await harness.open();
      try {
        await body(harness, store, (text) => harness.storedTime?.(text) ?? text);
      } finally {
        await store.close();
        await harness.cleanup();
      }
    });
  };

  test("migrate applies the schema once and starts at checkpoint 0", async (_h, store) => {
    const first = await store.migrate();
    assertEquals(first[0] && [first[0].version, first[0].name], [1, "init"]);
    const versions = first.map((m) => m.version);
    assertEquals(versions, [...new Set(versions)].sort((a, b) => a - b), "each once, rising");
    assertEquals(await store.migrate(), []);
    assertEquals(await store.readCheckpoint(), 0);
    await store.verifySchema();
    const status = await store.status();
    assertEquals([status.schemaVersion, status.parcels, status.newestEventUtc], [
      versions.at(-1),
      0,
      null,
    ]);
  });

  test("an unmigrated database is reported as such", async (_h, store) => {
    await assertRejects(store.verifySchema(), SchemaMissingError, /scan-worker migrate/);
  });

  test("an edited applied migration stops the store", async (h, store) => {
    await store.migrate();
    await h.tamperMigrationChecksum();
    await assertRejects(store.migrate(), MigrationError, /001_init\.sql was edited/);
    await assertRejects(store.verifySchema(), MigrationError, /001_init\.sql was edited/);
  });

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

  test("only one instance holds the feed lock; it passes on when released", async (h, store) => {
    await store.migrate();
    const other = await h.open();
    try {
      const lock = await store.tryLockFeed();
      assertEquals(lock === null, false);
      assertEquals(await lock?.held(), true);
      assertEquals(await other.tryLockFeed(), null);
      await lock?.release();
      const taken = await other.tryLockFeed();
      assertEquals(taken === null, false);
      assertEquals(await store.tryLockFeed(), null);
      await taken?.release();
    } finally {
      await other.close();
    }
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
      assertEquals(await store.outboxAfter(0, 10), [
        {
          eventId: 1,
          subject: "scan.v1.events.PICKUP.10",
          body:
            `{"EventId":1,"ParcelId":10,"Type":"PICKUP","CreatedDateTimeUtc":"${T1}","StatusCode":"","RunId":null}`,
          traceparent: null,
        },
        {
          eventId: 3,
          subject: "scan.v1.events.DELIVERY.10",
          body:
            `{"EventId":3,"ParcelId":10,"Type":"DELIVERY","CreatedDateTimeUtc":"${T2}","StatusCode":"7","RunId":"100"}`,
          traceparent: null,
        },
        {
          eventId: 4,
          subject: "scan.v1.events.CUSTOMS_HOLD.12",
          body:
            `{"EventId":4,"ParcelId":12,"Type":"CUSTOMS HOLD","CreatedDateTimeUtc":"${T3}","StatusCode":"","RunId":null}`,
          traceparent: null,
        },
      ]);
      assertEquals((await store.outboxAfter(1, 1)).map((r) => r.eventId), [3]);
      assertEquals((await store.outboxBacklog()).rows, 3);
    },
  );

  outboxTest(
    "each outbox row keeps the traceparent of the page that committed it",
    async (_h, store) => {
      const first = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
      const second = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
      await withPageTraceparent(
        first,
        () =>
          store.applyPage(
            projectPage(0, [scanEvent(1, 10, "PICKUP", T1), scanEvent(2, 11, "PICKUP")]),
          ),
      );
      await withPageTraceparent(
        second,
        () => store.applyPage(projectPage(2, [scanEvent(3, 10, "DELIVERY", T2)])),
      );
      await store.applyPage(projectPage(3, [scanEvent(4, 12, "PICKUP", T3)]));
      assertEquals(
        (await store.outboxAfter(0, 10)).map((r) => [r.eventId, r.traceparent]),
        [[1, first], [2, first], [3, second], [4, null]],
      );
    },
  );

  outboxTest("a page refused by the guarded checkpoint leaves no outbox row", async (_h, store) => {
    await store.applyPage(projectPage(0, [scanEvent(1, 10, "PICKUP", T1)]));
    await assertRejects(
      store.applyPage(projectPage(0, [scanEvent(1, 10, "PICKUP", T1), scanEvent(2, 10, "STATUS")])),
      CheckpointMovedError,
    );
    assertEquals((await store.outboxAfter(0, 10)).map((r) => r.eventId), [1]);
  });

  outboxTest("the relay's cursor only moves up and prunes what it covers", async (h, store) => {
    await store.applyPage(
      projectPage(0, [1, 2, 3, 4].map((id) => scanEvent(id, 10 + id, "STATUS", T1))),
    );
    assertEquals(await store.readRelayCursor(), 0);
    await store.commitRelay(2);
    assertEquals(await store.readRelayCursor(), 2);
    assertEquals((await store.outboxAfter(0, 10)).map((r) => r.eventId), [3, 4]);
    await store.commitRelay(1);
    assertEquals(await store.readRelayCursor(), 2);
    // A replay after a reset adds nothing the stream already holds, and nothing twice.
    await h.setCheckpoint(0);
    const replay = await store.applyPage(
      projectPage(0, [1, 2, 3, 4, 5].map((id) => scanEvent(id, 10 + id, "STATUS", T1))),
    );
    assertEquals(replay.outboxed, 1);
    assertEquals((await store.outboxAfter(0, 10)).map((r) => r.eventId), [3, 4, 5]);
    await store.commitRelay(5);
    assertEquals(await store.outboxBacklog(), { rows: 0, oldestUtc: null });
    assertEquals(await store.outboxAfter(0, 10), [], "every published row is pruned");
  });

  test("with the outbox off, nothing waits there", async (_h, store) => {
    await store.migrate();
    const write = await store.applyPage(projectPage(0, [scanEvent(1, 10, "PICKUP", T1)]));
    assertEquals(write.outboxed, 0);
    assertEquals(await store.outboxAfter(0, 10), []);
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
