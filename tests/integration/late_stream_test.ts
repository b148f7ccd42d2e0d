/**
 * Late events on the stream (docs/rules.md §3.10, §7), against a real (private) NATS server: the
 * relay publishes a late event after the page that found it, marked with its header; a reader
 * that looks for its place by EventId steps over such a message, and starts before it when it
 * follows the last event below that place, so a downstream worker restarted there still gets it.
 */
import { getLogger } from "@logtape/logtape";
import { assertEquals } from "../helpers/assert.ts";
import { scanEvent } from "../helpers/events.ts";
import { linkTo, NATS_IGNORE, readStream, relayTo, startNats } from "../helpers/nats_server.ts";
import { tempDatabase } from "../helpers/tables.ts";
import { projectLate, projectPage } from "../../src/domain/project.ts";
import { holdsEvent, LATE_HEADER, type NatsLink, seqOfEventId } from "../../src/nats/mod.ts";
import { SqliteStore } from "../../src/store/sqlite.ts";
import { StreamSource } from "../../src/stream/mod.ts";

const logger = getLogger(["test"]);
const backoff = { baseMs: 10, capMs: 100 };
const event = (id: number) => scanEvent(id, 10 + id, "STATUS");

Deno.test({
  name:
    "a late event's message is marked and follows its page; a reader placed by EventId starts before it",
  ignore: NATS_IGNORE,
  async fn() {
    const server = await startNats();
    const db = tempDatabase("scan-worker-late-stream-");
    const store = new SqliteStore(db.path, { outbox: true });
    const relay = relayTo(server, store.outbox);
    const connect = linkTo(server);
    const link = await connect(new AbortController().signal);
    const source = new StreamSource({ connect, limit: 10, waitMs: 1000, backoff, logger });
    try {
      await store.migrate();
      // Pages 1, 2, 4, 5, 6; then 3, late; then 7, 8.
      const holes = { found: [], holes: "[[3,3,0]]", settled: 2 };
      await store.applyPage({ ...projectPage(0, [1, 2, 4, 5, 6].map(event)), late: holes });
      const late = projectLate(6, [event(3)], (id) => id === 3);
      await store.applyPage({ ...late, late: { found: [3], holes: "[]", settled: 6 } });
      await store.applyPage(projectPage(6, [7, 8].map(event)));
      relay.start();
      let messages = await readStream(server.url).catch(() => []);
      for (let i = 0; i < 200 && messages.length < 8; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        messages = await readStream(server.url).catch(() => []);
      }
      assertEquals(
        messages.map((m) => JSON.parse(m.body).EventId),
        [1, 2, 4, 5, 6, 3, 7, 8],
        "the late event after the page that found it",
      );
      const marked = [];
      for (const m of messages) {
        const stored = await link?.jsm.streams.getMessage("SCAN_EVENTS", { seq: m.seq });
        marked.push(stored?.header?.get(LATE_HEADER) || null);
      }
      assertEquals(marked, [null, null, null, null, null, "true", null, null]);
      // Where a reader starts for each EventId: the message after the last event below it.
      const starts = [];
      for (let id = 1; id <= 9; id++) starts.push(await seqOfEventId(link as NatsLink, id));
      assertEquals(starts, [1, 2, 3, 3, 4, 5, 6, 8, 9]);
      // Whether the stream holds an event at or before a sequence (the relay's check of the
      // stream's end): one in its place by EventId, a late one among the last messages.
      const holds = (id: number, isLate: boolean, lastSeq: number) =>
        holdsEvent(link as NatsLink, id, isLate, lastSeq);
      assertEquals(
        [
          await holds(4, false, 8),
          await holds(4, false, 2),
          await holds(3, true, 8),
          await holds(3, true, 5),
          await holds(9, false, 8),
        ],
        [true, false, true, false, false],
      );
      // A downstream worker at checkpoint 6 (which never saw 3) reads 3, then 7 and 8.
      const page = await source.fetchPage(7, new AbortController().signal);
      assertEquals(page.events.map((e) => (e as { EventId: number }).EventId), [3, 7, 8]);
    } finally {
      await source.close();
      await relay.stop();
      await link?.close();
      await store.close();
      Deno.removeSync(db.dir, { recursive: true });
      await server.destroy();
    }
  },
});
