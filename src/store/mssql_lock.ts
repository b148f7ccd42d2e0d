/**
 * The SQL Server store's feed lock: `sp_getapplock` owned by a session of its own.
 *
 * @module
 */

// @ts-types="npm:@types/mssql@^12.3.0"
import sql from "mssql";
import { FEED_LOCK_NAME } from "./_call.ts";
import { sendText } from "./mssql_sql.ts";
import type { FeedLock } from "./store.ts";

/**
 * Take `sp_getapplock` with a session owner on `pool`, a one-connection pool of its own kept for
 * as long as the lock is held (a failure of its session shows in `held()`), without waiting;
 * null (and `pool` closed) when another session holds it. `APPLOCK_MODE` tells whether that
 * session still holds it.
 */
export async function mssqlFeedLock(pool: sql.ConnectionPool): Promise<FeedLock | null> {
  const withResource = () => pool.request().input("resource", sql.NVarChar(255), FEED_LOCK_NAME);
  const taken = await sendText(withResource())<{ lockResult: number }>("takeFeedLock")
    .catch(async (error) => {
      await pool.close();
      throw error;
    });
  if ((taken.recordset[0]?.lockResult ?? -1) < 0) {
    await pool.close();
    return null;
  }
  return {
    held: async () => {
      try {
        const mode = await sendText(withResource())<{ lockMode: string }>(
          "feedLockMode",
        );
        return mode.recordset[0]?.lockMode === "Exclusive";
      } catch {
        return false;
      }
    },
    release: async () => {
      await sendText(withResource())("releaseFeedLock").catch(() => {});
      await pool.close();
    },
  };
}
