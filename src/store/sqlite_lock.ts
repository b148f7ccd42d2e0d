/**
 * The SQLite store's feed lock: an exclusive lock on `PATH.lock` beside the database file,
 * released by the OS when the process dies.
 *
 * @module
 */

import type { FeedLock } from "./store.ts";

/**
 * Take the lock on `path`.lock without waiting; null when another process holds it. An
 * in-memory database has no other writer: its lock always succeeds.
 */
export async function sqliteFeedLock(path: string): Promise<FeedLock | null> {
  if (path === ":memory:" || path === "") {
    return { held: () => Promise.resolve(true), release: () => Promise.resolve() };
  }
  const file = await Deno.open(`${path}.lock`, { create: true, write: true });
  if (!await file.tryLock(true)) {
    file.close();
    return null;
  }
  let open = true;
  return {
    held: () => Promise.resolve(open),
    release: async () => {
      if (!open) return;
      open = false;
      await file.unlock();
      file.close();
    },
  };
}
