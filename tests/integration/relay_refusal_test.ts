/**
 * The relay against a stream that will not take its events as they come. A message the stream
 * refuses for a reason of its own (here a full stream with discard "new": JetStream error 10077)
 * in a batch: the batch's last message is then refused only as a wrong last sequence (10071); the
 * relay must report the stream's own refusal and back off, not publish the same rows again at
 * once, for ever. An event the stream holds out of its place (another writer): the relay must
 * neither skip nor prune the rows before it, and say so.
 */
import { configure, getLogger, type LogRecord, reset } from "@logtape/logtape";
import { connect } from "@nats-io/transport-node";
import { DiscardPolicy, jetstreamManager, StorageType } from "@nats-io/jetstream";
import { assertEquals, assertOk } from "../helpers/assert.ts";
import {
  ingest,
  linkTo,
  NATS_IGNORE,
  readStream,
  relayEvents,
  startNats,
} from "../helpers/nats_server.ts";
import { messageId } from "../../src/domain/message.ts";
import { tempDatabase } from "../helpers/tables.ts";
import { Relay } from "../../src/relay/mod.ts";
import { SqliteStore } from "../../src/store/sqlite.ts";

const logger = getLogger(["test"]);

Deno.test({
  name:
    "a message the stream refuses mid-batch (stream full) is reported as that refusal, not as a quiet resync",
  ignore: NATS_IGNORE,
  async fn() {
    const server = await startNats();
    const db = tempDatabase("scan-worker-relay-refusal-");
    const store = new SqliteStore(db.path, { outbox: true });
    const failures: string[] = [];
    let resyncs = 0;
    let wake: () => void = () => {};
    const events = relayEvents({
      resynced() {
        resyncs++;
        wake();
      },
      failed: (cause) => void failures.push(cause),
    });
    const nc = await connect({ servers: server.url.replace("nats://", "") });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({
      name: "SCAN_EVENTS",
      subjects: ["scan.v1.events.>"],
      storage: StorageType.File,
      max_msgs: 50,
      discard: DiscardPolicy.New,
    });
    await nc.close();
    const relay = new Relay({
      store: store.outbox,
      connect: linkTo(server),
      logger,
      backoff: { baseMs: 10, capMs: 100 },
      maxRows: 1000,
      batch: 40,
      events,
    });
    try {
      await store.migrate();
      await ingest(store, null, 1, 200);
      relay.start();
      // Wait (for a state, not a time) until the relay has read the stream's end 20 times.
      while (resyncs < 20) await new Promise<void>((resolve) => wake = resolve);
      await relay.stop();
      assertEquals(await store.outbox.readRelayCursor(), 50); // nothing lost or skipped
      // Each EventId the stream took, once and in order.
      assertEquals((await readStream(server.url)).map((m) => m.id), ids(1, 50).map(messageId));
      // The defect: 20 resyncs, each publishing 2 × 40 messages again at once, and not one
      // failure reported (no backoff, no scan_worker_relay_errors_total, no warning).
      assertOk(
        failures.some((cause) => cause === "api_10077"),
        `the stream's refusal (10077) was never reported: failures ${
          JSON.stringify(failures)
        } after ${resyncs} resyncs`,
      );
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
    "an event the stream holds out of its place (another writer of scan-event ids) does not make the relay skip the rows before it",
  ignore: NATS_IGNORE,
  async fn() {
    const server = await startNats();
    const db = tempDatabase("scan-worker-relay-skip-");
    const store = new SqliteStore(db.path, { outbox: true });
    const records: LogRecord[] = [];
    await configure({
      reset: true,
      sinks: { memory: (record) => records.push(record) },
      loggers: [
        { category: ["relay-skip"], sinks: ["memory"], lowestLevel: "info" },
        { category: ["logtape", "meta"], sinks: [], lowestLevel: "error" },
      ],
    });
    const failures: string[] = [];
    let wake: () => void = () => {};
    const events = relayEvents({
      failed(cause) {
        failures.push(cause);
        wake();
      },
    });
    const relay = new Relay({
      store: store.outbox,
      connect: linkTo(server),
      logger: getLogger(["relay-skip"]),
      backoff: { baseMs: 10, capMs: 100 },
      maxRows: 1000,
      batch: 40,
      events,
    });
    try {
      await store.migrate();
      await ingest(store, null, 1, 60);
      // Event 30 reaches the stream before the relay ever ran (another writer, a replay tool).
      const link = await linkTo(server)(new AbortController().signal);
      assertOk(link !== null);
      const row = (await store.outbox.outboxAfter(29, 1))[0];
      assertOk(row !== undefined);
      await link.js.publish(row.subject, row.body, { msgID: messageId(30) });
      await link.close();
      relay.start();
      // Wait (for a state) until the relay has looked at the stream's end three times, or has
      // published everything (the defect: rows 1..29 skipped and pruned).
      const stopWaiting = new AbortController();
      let drained = false;
      const draining = relay.gate.drained(stopWaiting.signal).then(() => {
        drained = !stopWaiting.signal.aborted;
        wake();
      });
      while (failures.length < 3 && !drained) {
        await new Promise<void>((resolve) => wake = resolve);
      }
      stopWaiting.abort();
      await draining;
      await relay.stop();
      assertOk(!drained, "the relay drained the outbox past an event the stream lacks");
      // The stream's last event (30) does not prove that rows 1..29 were published: the stream
      // lacks scan-event-1. Nothing is committed, pruned or published around it; each look is a
      // failure (backoff, the error metric) and an error naming the events.
      assertEquals(new Set(failures), new Set(["stream_out_of_place"]));
      assertEquals(await store.outbox.readRelayCursor(), 0);
      assertEquals((await store.outbox.outboxAfter(0, 100)).map((r) => r.eventId), ids(1, 60));
      assertEquals((await readStream(server.url)).map((m) => m.id), [messageId(30)]);
      const errors = records.filter((r) => r.level === "error").map((r) => errorText(r));
      assertEquals(errors.length, failures.length);
      assertOk(
        errors.every((text) => text.includes("scan-event-30") && text.includes("scan-event-1 ")),
        errors[0],
      );
    } finally {
      await reset();
      await relay.stop();
      await store.close();
      await server.destroy();
      Deno.removeSync(db.dir, { recursive: true });
    }
  },
});

/** The EventIds `from` to `to`. */
function ids(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** A log record's message with its values. */
function errorText(record: LogRecord): string {
  return record.message.map(String).join("");
}
