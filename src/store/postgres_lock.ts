/**
 * The PostgreSQL store's feed lock: a session-level advisory lock on a connection of its own,
 * kept for as long as the lock is held; if the worker dies or the connection drops, the server
 * releases it.
 *
 * @module
 */

// @ts-types="npm:@types/pg@^8.15.6"
import pg from "pg";
import type { Logger } from "@logtape/logtape";
import { FEED_LOCK_NAME } from "./_call.ts";
import type { FeedLock } from "./store.ts";

/**
 * Take the feed lock on a new connection with `config`, without waiting; null when another
 * session holds it. A failure of the lock's session is reported to `logger` and shows in
 * `held()`.
 */
export async function postgresFeedLock(
  config: pg.ClientConfig,
  logger: Logger,
): Promise<FeedLock | null> {
  const client = new pg.Client({ ...config, application_name: "scan-worker (feed lock)" });
  let alive = true;
  client.on("error", (error) => {
    alive = false;
    logger.warn("The feed lock's PostgreSQL session failed: {error}", {
      error: error.message,
    });
  });
  client.on("end", () => {
    alive = false;
  });
  await client.connect();
  try {
    const result = await client.query<{ locked: boolean }>(
      "SELECT pg_try_advisory_lock(hashtext($1)) AS locked",
      [FEED_LOCK_NAME],
    );
    if (result.rows[0]?.locked !== true) {
      await client.end();
      return null;
    }
  } catch (error) {
    await client.end().catch(() => {});
    throw error;
  }
  return {
    held: async () => {
      if (!alive) return false;
      try {
        await client.query("SELECT 1");
        return true;
      } catch {
        return false;
      }
    },
    release: async () => {
      if (alive) {
        await client.query("SELECT pg_advisory_unlock(hashtext($1))", [FEED_LOCK_NAME])
          .catch(() => {});
      }
      await client.end().catch(() => {});
    },
  };
}
