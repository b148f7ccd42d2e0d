/**
 * The relay's reads: the rows pages commit, kept while they are one run of consecutive outbox
 * positions reaching the newest commit, and the outbox for everything else.
 */
import { assertEquals } from "../helpers/assert.ts";
import { OutboxReader, RecentRows } from "../../src/relay/_reader.ts";
import type { PageWrite, SequencedRow } from "../../src/store/store.ts";

const row = (seq: number): SequencedRow => ({
  seq,
  eventId: 100 + seq,
  subject: "scan.v1.events.STATUS.1",
  body: `{"EventId":${100 + seq}}`,
  traceparent: null,
  late: false,
});

/** A page's write: `seqs` vouched for, or only counted when `vouched` is false. */
function page(seqs: number[], vouched = true): PageWrite {
  return {
    rejected: [],
    outboxed: seqs.length,
    ...(seqs.length === 0 ? {} : { lastSeq: seqs.at(-1) }),
    ...(vouched ? { rows: seqs.map(row) } : {}),
  };
}

const seqs = (rows: SequencedRow[] | null) => rows?.map((r) => r.seq) ?? null;

Deno.test("consecutive pages are kept and read across their edges, a batch at a time", () => {
  const recent = new RecentRows(100);
  recent.committed(page([1, 2, 3]));
  recent.committed(page([4, 5]));
  assertEquals(recent.size, 5);
  assertEquals(seqs(recent.after(0, 10)), [1, 2, 3, 4, 5]);
  assertEquals(seqs(recent.after(2, 2)), [3, 4]);
  assertEquals(recent.after(5, 10), null, "nothing newer is held: the outbox is asked");
  assertEquals(recent.after(-1, 10), null, "position 0 is not held");
});

Deno.test("a page the store did not vouch for drops what is held, and starts nothing", () => {
  const recent = new RecentRows(100);
  recent.committed(page([1, 2]));
  recent.committed(page([3, 4], false));
  assertEquals([recent.size, recent.after(0, 10)], [0, null]);
  recent.committed(page([5]));
  assertEquals(seqs(recent.after(4, 10)), [5]);
  assertEquals(recent.after(2, 10), null, "3 and 4 come from the outbox");
});

Deno.test("rows that are not all the page wrote are not kept", () => {
  const recent = new RecentRows(100);
  recent.committed(page([1, 2]));
  recent.committed({ rejected: [], outboxed: 3, lastSeq: 5, rows: [row(3), row(4)] });
  assertEquals([recent.size, recent.after(0, 10)], [0, null]);
});

Deno.test("a page that does not follow the rows held starts a new run", () => {
  const recent = new RecentRows(100);
  recent.committed(page([1, 2]));
  recent.committed(page([5, 6])); // positions 3 and 4 were used up by rows that did not go in
  assertEquals(recent.after(0, 10), null);
  assertEquals(seqs(recent.after(4, 10)), [5, 6]);
});

Deno.test("a page that would hold more than the limit drops everything", () => {
  const recent = new RecentRows(4);
  recent.committed(page([1, 2, 3]));
  recent.committed(page([4, 5]));
  assertEquals(recent.size, 0);
  recent.committed(page([6, 7]));
  assertEquals(seqs(recent.after(5, 10)), [6, 7]);
  recent.committed(page([8, 9, 10, 11, 12]));
  assertEquals(recent.size, 0, "a page larger than the limit is not kept");
});

Deno.test("a page that committed no outbox row changes nothing", () => {
  const recent = new RecentRows(100);
  recent.committed(page([1, 2]));
  recent.committed(page([]));
  assertEquals(seqs(recent.after(0, 10)), [1, 2]);
});

Deno.test("published rows are let go; what is after the cursor stays", () => {
  const recent = new RecentRows(100);
  recent.committed(page([1, 2, 3, 4]));
  recent.published(0);
  assertEquals(recent.size, 4);
  recent.published(2);
  assertEquals([recent.size, seqs(recent.after(2, 10))], [2, [3, 4]]);
  assertEquals(recent.after(1, 10), null, "2 is let go: the outbox is asked");
  recent.published(9);
  assertEquals(recent.size, 0);
});

/** An outbox that answers every read with `rows`, counting the reads. */
function fakeOutbox(rows: SequencedRow[]) {
  const reads: [number, number][] = [];
  return {
    reads,
    outboxAfter(after: number, limit: number) {
      reads.push([after, limit]);
      return Promise.resolve(rows.filter((r) => r.seq > after).slice(0, limit));
    },
  };
}

Deno.test("the reader takes kept rows without the outbox, and asks it for the rest", async () => {
  const outbox = fakeOutbox([1, 2, 3, 4, 5].map(row));
  const reader = new OutboxReader(outbox, 2, 8);
  reader.committed(page([3, 4, 5]));
  assertEquals(seqs(await reader.read(2).rows), [3, 4]);
  assertEquals(seqs(await reader.read(4).rows), [5]);
  assertEquals(outbox.reads, [], "every row read was kept");
  assertEquals(seqs(await reader.read(0).rows), [1, 2]);
  assertEquals(seqs(await reader.read(5).rows), []);
  assertEquals(outbox.reads, [[0, 2], [5, 2]]);
  assertEquals(reader.read(2).after, 2);
});

Deno.test("a reader that forgets reads the outbox until a page commits again", async () => {
  const outbox = fakeOutbox([1, 2, 3, 4].map(row));
  const reader = new OutboxReader(outbox, 10, 8);
  reader.committed(page([3, 4]));
  reader.forget();
  assertEquals(seqs(await reader.read(2).rows), [3, 4]);
  assertEquals(outbox.reads, [[2, 10]]);
  reader.committed(page([5]));
  assertEquals(seqs(await reader.read(4).rows), [5]);
  assertEquals(outbox.reads.length, 1);
});

Deno.test("a commit ends the reader's sleep", async () => {
  const reader = new OutboxReader(fakeOutbox([]), 2, 8);
  let woke = false;
  const sleeping = reader.sleep(60_000, new AbortController().signal).then(() => woke = true);
  await new Promise((resolve) => setTimeout(resolve, 0));
  assertEquals(woke, false);
  reader.committed(page([1]));
  await new Promise((resolve) => setTimeout(resolve, 0));
  assertEquals(woke, true);
  await sleeping;
});

Deno.test("an aborted signal ends the reader's sleep, or does not let it begin", async () => {
  const reader = new OutboxReader(fakeOutbox([]), 2, 8);
  const controller = new AbortController();
  const sleeping = reader.sleep(60_000, controller.signal);
  controller.abort();
  await sleeping;
  await reader.sleep(60_000, controller.signal);
});
