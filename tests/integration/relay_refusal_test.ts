/**
 * Review (relay batches): a message the stream refuses for a reason of its own (here a full
 * stream with discard "new": JetStream error 10077) in a batch. The batch's last message is then
 * refused only as a wrong last sequence (10071), which the relay takes for an ordinary resync:
 * no failure is reported, no backoff taken, and it publishes the same rows again at once, for
 * ever. The relay must report the stream's own refusal and back off.
 */
import { getLogger } from "@logtape/logtape";
import { connect } from "@nats-io/transport-node";
import { DiscardPolicy, jetstreamManager, StorageType } from "@nats-io/jetstream";
import { assertEquals, assertOk } from "../helpers/assert.ts";
import { scanEvent } from "../helpers/events.ts";
import { linkTo, NATS_IGNORE, readStream, startNats } from "../helpers/nats_server.ts";
import { messageId } from "../../src/domain/message.ts";
import { tempDatabase } from "../helpers/tables.ts";
import { projectPage } from "../../src/domain/project.ts";
import { Relay } from "../../src/relay/mod.ts";
import type { RelayEvents } from "../../src/relay/mod.ts";
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
    const events: RelayEvents = {
      backlog() {},
      published() {},
      committedToAcked() {},
      resynced() {
        resyncs++;
        wake();
      },
      failed(cause) {
        failures.push(cause);
      },
      paused() {},
    };
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
      let checkpoint = await store.readCheckpoint();
      for (let id = 1; id <= 200; id += 10) {
        const page = Array.from({ length: 10 }, (_, i) => scanEvent(id + i, 1 + (i % 7), "STATUS"));
        const result = projectPage(checkpoint, page);
        await store.applyPage(result);
        checkpoint = result.to;
      }
      relay.start();
      // Wait (for a state, not a time) until the relay has read the stream's end 20 times.
      while (resyncs < 20) await new Promise<void>((resolve) => wake = resolve);
      await relay.stop();
      assertEquals(await store.outbox.readRelayCursor(), 50); // nothing lost or skipped
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
    const relay = new Relay({
      store: store.outbox,
      connect: linkTo(server),
      logger,
      backoff: { baseMs: 10, capMs: 100 },
      maxRows: 1000,
      batch: 40,
    });
    try {
      await store.migrate();
      let checkpoint = await store.readCheckpoint();
      for (let id = 1; id <= 60; id += 10) {
        const page = Array.from({ length: 10 }, (_, i) => scanEvent(id + i, 1 + (i % 7), "STATUS"));
        const result = projectPage(checkpoint, page);
        await store.applyPage(result);
        checkpoint = result.to;
      }
      // Event 30 reaches the stream before the relay ever ran (another writer, a replay tool).
      const link = await linkTo(server)(new AbortController().signal);
      assertOk(link !== null);
      const row = (await store.outbox.outboxAfter(29, 1))[0];
      assertOk(row !== undefined);
      await link.js.publish(row.subject, row.body, { msgID: messageId(30) });
      await link.close();
      relay.start();
      await relay.gate.drained(new AbortController().signal);
      await relay.stop();
      // The relay's resync takes the stream's last event (30) as proof that outbox rows 1..29
      // were published, commits its cursor past them and prunes them: they never reach the stream.
      const ids = new Set((await readStream(server.url)).map((m) => m.id));
      const missing = Array.from({ length: 60 }, (_, i) => i + 1).filter((id) =>
        !ids.has(messageId(id))
      );
      assertEquals(missing, []);
    } finally {
      await relay.stop();
      await store.close();
      await server.destroy();
      Deno.removeSync(db.dir, { recursive: true });
    }
  },
});
