/**
 * The relay and the stream source against a real (private) NATS server with JetStream: the
 * stream holds each accepted event once, in order, whatever the relay finds there when it
 * starts; a downstream source reads it back page by page.
 */
import { getLogger } from "@logtape/logtape";
import { assertEquals, assertOk } from "../helpers/assert.ts";
import {
  ingest,
  linkTo,
  NATS_IGNORE,
  type PrivateNats,
  readStream,
  relayEvents,
  relayTo,
  startNats,
} from "../helpers/nats_server.ts";
import { tempDatabase } from "../helpers/tables.ts";
import { messageId } from "../../src/domain/message.ts";
import type { NatsLink } from "../../src/nats/mod.ts";
import { Relay } from "../../src/relay/mod.ts";
import { SqliteStore } from "../../src/store/sqlite.ts";
import { StreamSource } from "../../src/stream/mod.ts";

const logger = getLogger(["test"]);
/** A signal that never aborts: wait for the drain itself. */
const never = new AbortController().signal;
const backoff = { baseMs: 10, capMs: 100 };

/** Every message of the stream: its message id and body. */
async function streamMessages(server: PrivateNats): Promise<{ id: string; body: string }[]> {
  return (await readStream(server.url)).map((m) => ({ id: m.id, body: m.body }));
}

Deno.test({
  name: "the relay publishes the outbox in order, once, and prunes it",
  ignore: NATS_IGNORE,
  async fn() {
    const server = await startNats();
    const db = tempDatabase("scan-worker-relay-");
    const store = new SqliteStore(db.path, { outbox: true });
    const relay = relayTo(server, store.outbox);
    try {
      await store.migrate();
      relay.start();
      await ingest(store, relay, 1, 95);
      await relay.gate.drained(never);
      await ingest(store, relay, 96, 30);
      await relay.gate.drained(never);
      const messages = await streamMessages(server);
      assertEquals(
        messages.map((m) => m.id),
        Array.from({ length: 125 }, (_, i) => messageId(i + 1)),
      );
      assertEquals(JSON.parse(messages[2]?.body ?? "{}"), {
        EventId: 3,
        ParcelId: 4,
        Type: "PICKUP",
        CreatedDateTimeUtc: "2021-05-11T10:00:00.0000000Z",
        StatusCode: "",
        RunId: null,
      });
      assertEquals(await store.outbox.readRelayCursor(), 125);
      assertEquals((await store.outbox.outboxBacklog()).rows, 0);
    } finally {
      await relay.stop();
      await store.close();
      await server.destroy();
      Deno.removeSync(db.dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "a relay that finds its events already in the stream (a crash before its commit) goes on after them",
  ignore: NATS_IGNORE,
  async fn() {
    const server = await startNats();
    const db = tempDatabase("scan-worker-relay-resync-");
    const store = new SqliteStore(db.path, { outbox: true });
    try {
      await store.migrate();
      await ingest(store, null, 1, 40);
      // A first relay published 1..25 and died before recording it.
      let published = 0;
      const first = new Relay({
        store: store.outbox,
        connect: linkTo(server),
        logger,
        backoff,
        maxRows: 1000,
        events: relayEvents({ published: (count) => void (published += count) }),
      });
      const link = await linkTo(server)(new AbortController().signal);
      assertOk(link !== null);
      for (const row of await store.outbox.outboxAfter(0, 25)) {
        await link.js.publish(row.subject, row.body, { msgID: messageId(row.eventId) });
      }
      await link.close();
      assertEquals(await store.outbox.readRelayCursor(), 0);
      first.start();
      await first.gate.drained(never);
      await first.stop();
      const ids = (await streamMessages(server)).map((m) => m.id);
      assertEquals(ids, Array.from({ length: 40 }, (_, i) => messageId(i + 1)));
      assertEquals(published, 40); // the 25 found on the stream count as published too
    } finally {
      await store.close();
      await server.destroy();
      Deno.removeSync(db.dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "the stream source reads the stream back, page by page, from any EventId",
  ignore: NATS_IGNORE,
  async fn() {
    const server = await startNats();
    const db = tempDatabase("scan-worker-source-");
    const store = new SqliteStore(db.path, { outbox: true });
    const relay = relayTo(server, store.outbox);
    const source = new StreamSource({ connect: linkTo(server), limit: 30, logger, backoff });
    const signal = new AbortController().signal;
    try {
      await store.migrate();
      relay.start();
      await ingest(store, relay, 1, 70);
      await relay.gate.drained(never);
      const first = await source.fetchPage(1, signal);
      assertEquals([first.events.length, first.full], [30, true]);
      assertEquals((first.events[0] as { EventId: number }).EventId, 1);
      assertEquals((first.events[0] as { User: unknown }).User, { RunId: null });
      const second = await source.fetchPage(31, signal);
      assertEquals((second.events.at(-1) as { EventId: number }).EventId, 60);
      const last = await source.fetchPage(61, signal);
      assertEquals([last.events.length, last.full], [10, false]);
      const elsewhere = await source.fetchPage(42, signal);
      assertEquals((elsewhere.events[0] as { EventId: number }).EventId, 42);
      assertEquals((await source.fetchPage(71, signal)).events, []);
    } finally {
      await source.close();
      await relay.stop();
      await store.close();
      await server.destroy();
      Deno.removeSync(db.dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "a message another writer puts into the stream mid-flight breaks the chain: the relay reads the stream's end again and publishes each event once",
  ignore: NATS_IGNORE,
  async fn() {
    const server = await startNats();
    const db = tempDatabase("scan-worker-relay-chain-");
    const store = new SqliteStore(db.path, { outbox: true });
    let reads = 0;
    // On its third read the relay has a batch of 40 in flight: a foreign message lands first.
    const meddling = new Proxy(store.outbox, {
      get(target, name) {
        if (name === "outboxAfter") {
          return async (after: number, limit: number) => {
            if (++reads === 3) {
              const link = await linkTo(server)(new AbortController().signal);
              await link?.js.publish("scan.v1.events.OTHER.1", "{}", { msgID: "other-1" });
              await link?.close();
            }
            return await target.outboxAfter(after, limit);
          };
        }
        const value = Reflect.get(target, name, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const relay = new Relay({
      store: meddling,
      connect: linkTo(server),
      logger,
      backoff,
      maxRows: 1000,
      batch: 40,
    });
    try {
      await store.migrate();
      await ingest(store, null, 1, 200);
      relay.start();
      await relay.gate.drained(never);
      const ids = (await streamMessages(server)).map((m) => m.id).filter((id) => id !== "other-1");
      assertEquals(ids, Array.from({ length: 200 }, (_, i) => messageId(i + 1)));
      const outbox = store.outbox;
      assertEquals([await outbox.readRelayCursor(), (await outbox.outboxBacklog()).rows], [200, 0]);
    } finally {
      await relay.stop();
      await store.close();
      await server.destroy();
      Deno.removeSync(db.dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "a relay whose instance lost the feed lock stops until it is active again, then goes on after what the new holder's relay published",
  ignore: NATS_IGNORE,
  async fn() {
    const server = await startNats();
    const db = tempDatabase("scan-worker-relay-handover-");
    const first = new SqliteStore(db.path, { outbox: true });
    const second = new SqliteStore(db.path, { outbox: true });
    const links: NatsLink[] = [];
    const seen = { published: 0, failed: 0 };
    const relay = new Relay({
      store: first.outbox,
      connect: async (signal) => {
        const link = await linkTo(server)(signal);
        if (link !== null) links.push(link);
        return link;
      },
      logger,
      backoff,
      maxRows: 1000,
      pollMs: 10,
      events: relayEvents({
        published: (count) => void (seen.published += count),
        failed: () => void seen.failed++,
      }),
    });
    const other = relayTo(server, second.outbox);
    try {
      await first.migrate();
      await relay.gate.active(true);
      await ingest(first, relay, 1, 40);
      await relay.gate.drained(AbortSignal.timeout(20_000));
      await relay.gate.active(false); // its lock's session ended; another instance takes over
      assertEquals([links.length, links[0]?.nc.isClosed()], [1, true]);
      await other.gate.active(true);
      await ingest(second, other, 41, 40);
      await other.gate.drained(AbortSignal.timeout(20_000));
      await other.stop();
      assertEquals(links.length, 1, "a stopped relay does not connect again");
      await relay.gate.active(true); // the lock is back
      await ingest(first, relay, 81, 20);
      await relay.gate.drained(AbortSignal.timeout(20_000)); // a relay that never goes on fails below
      const ids = (await streamMessages(server)).map((m) => m.id);
      assertEquals(ids, Array.from({ length: 100 }, (_, i) => messageId(i + 1)));
      assertEquals([seen.published, seen.failed, links.length], [60, 0, 2]);
      assertEquals(await first.outbox.readRelayCursor(), 100);
    } finally {
      await relay.stop();
      await other.stop();
      await first.close();
      await second.close();
      await server.destroy();
      Deno.removeSync(db.dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a relay stopped while it connects sends nothing, and closes the connection it got",
  ignore: NATS_IGNORE,
  async fn() {
    const server = await startNats();
    const db = tempDatabase("scan-worker-relay-connecting-");
    const store = new SqliteStore(db.path, { outbox: true });
    const links: NatsLink[] = [];
    let connecting = () => {};
    const asked = new Promise<void>((resolve) => connecting = resolve);
    const relay = new Relay({
      store: store.outbox,
      // A connection that is made just after the stop was asked for, as one under way would be.
      connect: async (signal) => {
        connecting();
        await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
        const link = await linkTo(server)(new AbortController().signal);
        if (link !== null) links.push(link);
        return link;
      },
      logger,
      backoff,
      maxRows: 1000,
    });
    try {
      await store.migrate();
      await ingest(store, null, 1, 20);
      await relay.gate.active(true);
      await asked;
      await relay.gate.active(false);
      assertEquals([links.length, links[0]?.nc.isClosed()], [1, true]);
      assertEquals(await streamMessages(server), []);
      assertEquals(await store.outbox.readRelayCursor(), 0);
    } finally {
      await relay.stop();
      await store.close();
      await server.destroy();
      Deno.removeSync(db.dir, { recursive: true });
    }
  },
});
