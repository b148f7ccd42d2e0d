/**
 * The store, as the rest of the program uses it: the seam's interfaces, {@link openStore}, and
 * the moved-checkpoint error the loop acts on. The adapters (`sqlite.ts`, `postgres.ts`,
 * `mssql.ts`), their outboxes (`*_outbox.ts`, a store's `outbox`), their SQL (`*_sql.ts`) and
 * error sorting (`*_errors.ts`), and the private machinery (`_call.ts`, `_reach.ts`) stay behind
 * it; the store error classes are in `src/errors.ts`.
 *
 * ```ts
 * import { openStore } from "./mod.ts";
 *
 * const store = await openStore({
 *   database: { kind: "sqlite", path: ":memory:" },
 *   connectTimeoutMs: 15_000,
 *   databaseForLog: "sqlite::memory:",
 * });
 * await store.migrate();
 * if (await store.readCheckpoint() !== 0) throw new Error("a new database starts at 0");
 * await store.close();
 * ```
 *
 * @module
 */

export type {
  AppliedMigration,
  FeedLock,
  FeedStore,
  OutboxStore,
  PageWrite,
  ParcelState,
  RejectedEvent,
  Store,
  StoreAdmin,
  StoreOptions,
  StoreStatus,
} from "./store.ts";
export { CheckpointMovedError, isFatalStoreError } from "./store.ts";
export { openStore } from "./open.ts";
