/**
 * Finding an EventId's place in the stream when the broker answers "no message": a deleted
 * sequence is stepped over, and a sequence the stream still counts but the broker failed to load
 * is an error (retried by the reader), never a hole to position past. The broker's answers come
 * from a stand-in for its two requests (message by sequence, stream info).
 */
import { assertEquals, assertRejects } from "../helpers/assert.ts";
import {
  deletedBetween,
  holdsEvent,
  LATE_HEADER,
  messageAt,
  type NatsLink,
  seqOfEventId,
} from "../../src/nats/mod.ts";
import { messageId } from "../../src/domain/message.ts";

/** A stream whose message at sequence i + 1 is event `eventIds[i]` (null: another writer's). */
class FakeStream {
  readonly deleted = new Set<number>();
  /** Sequences the broker fails to load this many more times. */
  readonly unreadable = new Map<number, number>();
  readonly late = new Set<number>();
  first = 1;
  /** How often the stream's deleted sequences were asked for. */
  deletedAsked = 0;

  constructor(readonly eventIds: readonly (number | null)[]) {}

  link(): NatsLink {
    const streams = {
      info: (_name: string, options?: { deleted_details?: boolean }) => {
        if (options?.deleted_details) this.deletedAsked++;
        return Promise.resolve({
          state: {
            first_seq: this.first,
            last_seq: this.eventIds.length,
            ...(options?.deleted_details ? { deleted: [...this.deleted] } : {}),
          },
        });
      },
      getMessage: (_name: string, query: { seq: number }) => {
        const { seq } = query;
        const failures = this.unreadable.get(seq) ?? 0;
        if (failures > 0) this.unreadable.set(seq, failures - 1);
        if (failures > 0 || seq < this.first || this.deleted.has(seq)) return Promise.resolve(null);
        const eventId = this.eventIds[seq - 1];
        if (eventId === undefined) return Promise.resolve(null);
        const headers = new Map<string, string>([
          ["Nats-Msg-Id", eventId === null ? `other-${seq}` : messageId(eventId)],
        ]);
        if (this.late.has(seq)) headers.set(LATE_HEADER, "true");
        return Promise.resolve({ seq, header: { get: (name: string) => headers.get(name) } });
      },
    };
    return { stream: "S", jsm: { streams } } as unknown as NatsLink;
  }
}

/**
 * The position read one by one: just after the last message in its place (not deleted, not late,
 * not another writer's) below `eventId`, so the others right before the first one at or above it
 * are read too.
 */
function linear(stream: FakeStream, eventId: number): number {
  let position = stream.first;
  for (let seq = stream.first; seq <= stream.eventIds.length; seq++) {
    const id = stream.eventIds[seq - 1] ?? null;
    if (stream.deleted.has(seq) || stream.late.has(seq) || id === null) continue;
    if (id >= eventId) break;
    position = seq + 1;
  }
  return position;
}

const TENS = Array.from({ length: 10 }, (_, i) => 10 * (i + 1)); // seq 1..10 hold 10..100

Deno.test("an EventId's place is found by halving, and one past the end when the stream has none", async () => {
  const stream = new FakeStream(TENS);
  for (const eventId of [1, 10, 11, 20, 55, 100, 101]) {
    assertEquals(await seqOfEventId(stream.link(), eventId), linear(stream, eventId), `${eventId}`);
  }
});

Deno.test("a deleted sequence is stepped over, not taken for everything before it", async () => {
  for (const gone of [1, 2, 3, 5, 6, 9, 10]) {
    const stream = new FakeStream(TENS);
    stream.deleted.add(gone);
    for (let eventId = 1; eventId <= 101; eventId += 3) {
      assertEquals(
        await seqOfEventId(stream.link(), eventId),
        linear(stream, eventId),
        `deleted ${gone}, EventId ${eventId}`,
      );
    }
  }
});

Deno.test("a message the broker fails to load is an error, and the next search finds it", async () => {
  const stream = new FakeStream(TENS);
  stream.unreadable.set(3, 1);
  await assertRejects(
    seqOfEventId(stream.link(), 30),
    Error,
    /no message at sequence 3 of the stream S, which has not deleted it/,
  );
  assertEquals(await seqOfEventId(stream.link(), 30), 3);
});

Deno.test("late and other writers' messages are stepped over; a stream of them only is passed", async () => {
  const stream = new FakeStream([10, 20, 5, null, 30, 40]);
  stream.late.add(3);
  for (const eventId of [1, 10, 20, 25, 30, 41]) {
    assertEquals(await seqOfEventId(stream.link(), eventId), linear(stream, eventId), `${eventId}`);
  }
  assertEquals(await seqOfEventId(stream.link(), 25), 3);
  const lateBefore = new FakeStream([10, 20, 5, 30, 40, 50, 60, 70]);
  lateBefore.late.add(3);
  assertEquals(await seqOfEventId(lateBefore.link(), 25), 3);
  const lateOnly = new FakeStream([5, 6]);
  lateOnly.late.add(1).add(2);
  assertEquals(await seqOfEventId(lateOnly.link(), 1), 1);
});

Deno.test("a message is null only when the stream no longer holds its sequence", async () => {
  const stream = new FakeStream(TENS);
  stream.first = 3;
  stream.deleted.add(6);
  assertEquals(await messageAt(stream.link(), 2), null);
  assertEquals(await messageAt(stream.link(), 6), null);
  assertEquals((await messageAt(stream.link(), 7))?.seq, 7);
  stream.unreadable.set(7, 1);
  await assertRejects(messageAt(stream.link(), 7), Error, /sequence 7/);
  assertEquals(await deletedBetween(stream.link(), 1, 3), true);
  assertEquals(await deletedBetween(stream.link(), 6, 7), true);
  assertEquals(await deletedBetween(stream.link(), 5, 7), false);
  assertEquals(await deletedBetween(stream.link(), 11, 20), true);
});

Deno.test("a search across many deleted messages asks for the deleted list once", async () => {
  const eventIds = Array.from({ length: 400 }, (_, i) => i + 1);
  const stream = new FakeStream(eventIds);
  for (let seq = 101; seq <= 300; seq++) stream.deleted.add(seq);
  assertEquals(await seqOfEventId(stream.link(), 150), linear(stream, 150));
  assertEquals(stream.deletedAsked, 1);
  stream.deletedAsked = 0;
  assertEquals(await holdsEvent(stream.link(), 301, false, 400), true);
  assertEquals(stream.deletedAsked <= 2, true, `asked ${stream.deletedAsked} times`); // one per search
  stream.deletedAsked = 0;
  stream.unreadable.set(350, 1); // not in the list: asked again, and an error
  await assertRejects(seqOfEventId(stream.link(), 351), Error, /sequence 350/);
  assertEquals(stream.deletedAsked, 2);
});
