/**
 * The publisher against a real (private) NATS server with JetStream: the stream's
 * acknowledgements, its refusals (a wrong last sequence, no stream) and a broker that stops
 * answering, each as the relay needs to tell them apart; and the headers as the broker passes them
 * on (written as wire text: a client that stopped sending them as given would fail here).
 */
import { connect, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { assertEquals, assertOk } from "../helpers/assert.ts";
import { createStream, NATS_IGNORE, readStream, startNats } from "../helpers/nats_server.ts";
import {
  AckTimeoutError,
  eventHeaders,
  LATE_HEADER,
  parseAck,
  Publisher,
  PublishRefusedError,
  WRONG_LAST_SEQUENCE,
} from "../../src/nats/mod.ts";

/** Run `fn` with a publisher on a connection to a private server; all removed after. */
async function withPublisher(
  fn: (publisher: Publisher, url: string, nc: NatsConnection) => Promise<void>,
): Promise<void> {
  const server = await startNats();
  const nc = await connect({ servers: server.url.replace("nats://", "") });
  const publisher = new Publisher(nc);
  try {
    await fn(publisher, server.url, nc);
  } finally {
    publisher.close();
    await nc.close();
    await server.destroy();
  }
}

/** The error a promise rejects with (failing when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a rejection");
}

Deno.test({
  name: "acknowledgements in order, duplicates reported, a wrong last sequence refused as such",
  ignore: NATS_IGNORE,
  fn: () =>
    withPublisher(async (publisher, url) => {
      await createStream(url, 60_000);
      const acks = await Promise.all(
        [0, 1, 2].map((i) =>
          publisher.publish(`scan.v1.events.PICKUP.${i}`, `{"n":${i}}`, `id-${i}`, i, 5000)
        ),
      );
      assertEquals(acks, [1, 2, 3].map((seq) => ({ seq, duplicate: false })));
      // The same id again (the last sequence not checked): the stream keeps its first copy.
      assertEquals(
        await publisher.publish("scan.v1.events.PICKUP.1", "{}", "id-1", null, 5000),
        { seq: 2, duplicate: true },
      );
      const wrong = await rejection(
        publisher.publish("scan.v1.events.PICKUP.9", "{}", "id-9", 1, 5000),
      );
      assertOk(wrong instanceof PublishRefusedError, String(wrong));
      assertEquals((wrong as PublishRefusedError).code, WRONG_LAST_SEQUENCE);
      assertEquals(
        (await readStream(url)).map((m) => [m.seq, m.id, m.body]),
        [[1, "id-0", '{"n":0}'], [2, "id-1", '{"n":1}'], [3, "id-2", '{"n":2}']],
      );
    }),
});

Deno.test({
  name: "no stream on the subject is refused with 503; no answer at all times out",
  ignore: NATS_IGNORE,
  fn: () =>
    withPublisher(async (publisher, _url, nc) => {
      const none = await rejection(publisher.publish("scan.v1.events.X.1", "{}", "a", 0, 5000));
      assertOk(none instanceof PublishRefusedError, String(none));
      assertEquals((none as PublishRefusedError).code, 503);

      // A listener that never answers, in place of a stream: the broker sends no refusal, and
      // the publisher gives up after its timeout.
      const silent = nc.subscribe("scan.v1.events.X.>");
      const late = await rejection(publisher.publish("scan.v1.events.X.1", "{}", "b", 0, 200));
      assertOk(late instanceof AckTimeoutError, String(late));
      assertEquals(
        late.message,
        "no acknowledgement for a message to scan.v1.events.X.1 within 200 ms",
      );
      silent.unsubscribe();
    }),
});

Deno.test("an acknowledgement's body: stored, duplicate, refused, empty, garbage", () => {
  const msg = (text: string, code?: number) => ({
    data: new TextEncoder().encode(text),
    headers: code === undefined ? undefined : { code } as never,
    string: () => text,
  });
  assertEquals(parseAck(msg('{"stream":"S","seq":7}')), { seq: 7, duplicate: false });
  assertEquals(parseAck(msg('{"stream":"S","seq":7,"duplicate":true}')), {
    seq: 7,
    duplicate: true,
  });
  const refused = parseAck(
    msg('{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 5"}}'),
  );
  assertOk(refused instanceof PublishRefusedError);
  assertEquals([refused.code, refused.message], [10071, "wrong last sequence: 5 (10071)"]);
  const empty = parseAck(msg("", 503));
  assertOk(empty instanceof PublishRefusedError);
  assertEquals(empty.code, 503);
  for (const garbage of ["not json", '{"stream":"S"}', "[]"]) {
    const parsed = parseAck(msg(garbage));
    assertOk(parsed instanceof PublishRefusedError, garbage);
  }
});

Deno.test({
  name:
    "a message's headers as a subscriber reads them: its id, what it expects, traceparent, late; no traceparent that is not one",
  ignore: NATS_IGNORE,
  fn: () =>
    withPublisher(async (publisher, _url, nc) => {
      const subscription = nc.subscribe("scan.v1.events.HDR.>", { max: 2 });
      const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
      const expected = { lastSeq: 6, lastMsgId: "scan-event-6" };
      publisher.send(
        "scan.v1.events.HDR.1",
        "{}",
        eventHeaders("scan-event-7", expected, traceparent, true),
        null,
      );
      // A traceparent from the database with a line break in it: left out, nothing forged.
      const forged = `${traceparent}\r\nNats-Msg-Id: forged`;
      publisher.send(
        "scan.v1.events.HDR.2",
        "{}",
        eventHeaders("scan-event-8", { lastSeq: 7, lastMsgId: "scan-event-7" }, forged),
        null,
      );
      const received: Msg[] = [];
      for await (const msg of subscription) received.push(msg);
      const [first, second] = received.map((msg) => {
        const headers = msg.headers;
        assertOk(headers !== undefined, `no headers on ${msg.subject}`);
        return Object.fromEntries(headers.keys().map((key) => [key, headers.values(key)]));
      });
      assertEquals(first, {
        "Nats-Msg-Id": ["scan-event-7"],
        "Nats-Expected-Last-Sequence": ["6"],
        "Nats-Expected-Last-Msg-Id": ["scan-event-6"],
        traceparent: [traceparent],
        [LATE_HEADER]: ["true"],
      });
      assertEquals(second, {
        "Nats-Msg-Id": ["scan-event-8"],
        "Nats-Expected-Last-Sequence": ["7"],
        "Nats-Expected-Last-Msg-Id": ["scan-event-7"],
      });
    }),
});
