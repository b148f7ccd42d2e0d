/**
 * The relay prunes exactly the rows it published (docs/rules.md §7), against a real (private)
 * NATS server and real SQLite and PostgreSQL stores: a row committed below the relay's cursor
 * while it publishes a batch — here a replay after `reset` that newly accepts an event, as a late
 * event is — is published after the batch, not deleted unpublished. (The relay of the release
 * before late events deleted every row between its old and new cursor by EventId, and lost it.)
 */
import { getLogger } from "@logtape/logtape";
import { assertEquals } from "../helpers/assert.ts";
import { scanEvent } from "../helpers/events.ts";
import {
  linkTo,
  NATS_IGNORE,
  type PrivateNats,
  readStream,
  startNats,
} from "../helpers/nats_server.ts";
import { createTestDatabase, PG_SKIP } from "../helpers/postgres.ts";
import { tempDatabase } from "../helpers/tables.ts";
import { messageId } from "../../src/domain/message.ts";
import { projectPage } from "../../src/domain/project.ts";
import { Relay } from "../../src/relay/mod.ts";
import { PostgresStore } from "../../src/store/postgres.ts";
import { SqliteStore } from "../../src/store/sqlite.ts";
import type { OutboxStore, Store } from "../../src/store/store.ts";

const logger = getLogger(["test"]);
const backoff = { baseMs: 10, capMs: 100 };

/** `outbox`, but `meanwhile` runs once, after the relay has read its first batch. */
function interrupted(outbox: OutboxStore, meanwhile: () => Promise<void>): OutboxStore {
  let done = false;
  return new Proxy(outbox, {
    get(target, name) {
      if (name === "outboxAfter") {
        return async (after: number, limit: number) => {
          const rows = await target.outboxAfter(after, limit);
          if (!done && rows.length > 0) {
            done = true;
            await meanwhile();
          }
          return rows;
        };
      }
      const value = Reflect.get(target, name, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

const event = (id: number) => scanEvent(id, 10 + id, "STATUS");

/** Wait until the stream (once the relay made it) holds `count` messages, or 20 s pass. */
async function streamIds(server: PrivateNats, count: number): Promise<string[]> {
  let ids: string[] = [];
  for (let i = 0; i < 200; i++) {
    ids = (await readStream(server.url).catch(() => [])).map((m) => m.id);
    if (ids.length >= count) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return ids;
}

const STORES = [
  {
    name: "SQLite",
    ignore: NATS_IGNORE,
    open: () => {
      const db = tempDatabase("scan-worker-prune-");
      return Promise.resolve({
        store: new SqliteStore(db.path, { outbox: true }) as Store,
        drop: () => Deno.remove(db.dir, { recursive: true }),
      });
    },
  },
  {
    name: "PostgreSQL",
    ignore: NATS_IGNORE || PG_SKIP !== null,
    open: async () => {
      const db = await createTestDatabase("scan_worker_prune");
      return {
        store: new PostgresStore({ connectionString: db.url }, undefined, {
          outbox: true,
        }) as Store,
        drop: () => db.drop(),
      };
    },
  },
];

for (const { name, ignore, open } of STORES) {
  Deno.test({
    name:
      `${name}: a row committed below the relay's cursor while it publishes is published, not deleted`,
    ignore,
    async fn() {
      const server = await startNats();
      const { store, drop } = await open();
      let relay: Relay | null = null;
      try {
        await store.migrate();
        const page = projectPage(0, [1, 2, 4, 5].map(event));
        await store.applyPage(page);
        // While the relay publishes 1, 2, 4, 5: a reset to 2 and a replay that newly accepts 3.
        const replay = async () => {
          await store.resetCheckpoint(2);
          await store.applyPage(projectPage(2, [event(3)]));
        };
        relay = new Relay({
          store: interrupted(store.outbox, replay),
          connect: linkTo(server),
          logger,
          backoff,
          maxRows: 1000,
          pollMs: 50,
        });
        relay.start();
        const ids = await streamIds(server, 5);
        assertEquals(ids, [1, 2, 4, 5, 3].map(messageId), "3 is published after the batch");
        assertEquals((await store.outbox.outboxBacklog()).rows, 0, "and then pruned");
      } finally {
        await relay?.stop();
        await store.close();
        await drop();
        await server.destroy();
      }
    },
  });
}
