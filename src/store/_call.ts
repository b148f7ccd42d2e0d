/**
 * What every store shares and nothing outside `src/store/` needs: the WorkerStates row ids, the
 * error policy and {@link storeCall} (a short retry of passing errors, permanent ones named), the
 * clock of UpdatedAtUtc columns, and the reading every dialect does alike: a missing table or
 * feed row as {@link SchemaMissingError}, the server stores' status row.
 *
 * @module
 */

import type { PageResult } from "../domain/project.ts";
import { ConnectTimeoutError, PermanentStoreError, SchemaMissingError } from "../errors.ts";
import { retryTransient, TRANSIENT_RETRY } from "../retry.ts";
import type { StoreStatus } from "./store.ts";

/** The feed's row in WorkerStates. */
export const FEED_ID = "scan-events";

/** The relay's row in WorkerStates: the last EventId the stream holds. */
export const RELAY_ID = "scan-events:nats";

/** The name of the feed lock in the server databases. */
export const FEED_LOCK_NAME = `scan-worker:feed:${FEED_ID}`;

/**
 * How a store sorts one of its driver's errors: `transient` (a passing condition: retried),
 * `permanent` (retrying cannot help: the worker stops), or `unknown` (retried, as a transient
 * one, but not by the store's own short retry). `code` names it as the database documents it.
 */
export interface ErrorClass {
  /** What retrying can do about it. */
  readonly kind: "transient" | "permanent" | "unknown";
  /** The database's own name for it: `SQLSTATE 42P01`, `error 208`, `SQLITE_BUSY`; or null. */
  readonly code: string | null;
  /**
   * A transient error that came after a whole timeout (connecting, or a request): the store
   * does not retry it at once, which would multiply the wait; the loop retries it, logged.
   */
  readonly slow?: boolean;
}

/** What a connection attempt that ran out of time is called in {@link ErrorClass.code}. */
export const CONNECT_TIMEOUT = "connect timeout";

/** A store's error policy: its name in messages and how it sorts its driver's errors. */
export interface ErrorPolicy {
  /** The store's name in messages: `SQLite`, `PostgreSQL`, `SQL Server`. */
  readonly store: string;
  /** Sort one error. */
  classify(error: unknown): ErrorClass;
  /** How long connecting may take (`DB_CONNECT_TIMEOUT_MS`), for messages. */
  readonly connectTimeoutMs?: number;
}

/**
 * Run one store operation: retry its transient errors a few times with backoff (`attempts` in
 * all; not those that already waited a whole timeout), and turn a permanent one into a
 * {@link PermanentStoreError} that says what was being done, a connection that timed out into
 * a {@link ConnectTimeoutError}. Unknown and still-transient errors are rethrown as they are,
 * for the loop to retry.
 */
export async function storeCall<T>(
  policy: ErrorPolicy,
  doing: string,
  work: () => Promise<T>,
  attempts: number = TRANSIENT_RETRY.attempts,
): Promise<T> {
  const retryNow = (error: unknown) => {
    const sorted = policy.classify(error);
    return sorted.kind === "transient" && sorted.slow !== true;
  };
  try {
    return await retryTransient(work, retryNow, { attempts, backoff: TRANSIENT_RETRY.backoff });
  } catch (error) {
    const sorted = policy.classify(error);
    if (sorted.kind === "permanent") {
      throw new PermanentStoreError(policy.store, sorted.code ?? "error", doing, error);
    }
    if (sorted.code === CONNECT_TIMEOUT && policy.connectTimeoutMs !== undefined) {
      throw new ConnectTimeoutError(policy.store, doing, policy.connectTimeoutMs, error);
    }
    throw error;
  }
}

/** What a store's page write is called in errors: `writing page 101..200`. */
export function writingPage(result: PageResult): string {
  return `writing page ${result.from + 1}..${result.to}`;
}

/** What a store's batch write is called in errors: `writing a batch of 3 events (EventIds 4..9)`. */
export function writingBatch(result: PageResult): string {
  const first = result.events[0]?.eventId ?? result.rejections[0]?.eventId ?? null;
  const ids = first === null ? "" : ` (EventIds ${first}..${result.to})`;
  return `writing a batch of ${result.events.length + result.rejections.length} events${ids}`;
}

/** The current time as stored in UpdatedAtUtc columns: UTC, seven fraction digits. */
export function nowUtc(): string {
  return new Date().toISOString().replace("Z", "0000Z");
}

/**
 * What to throw for `error`: a {@link SchemaMissingError} (saying `message`, else the error's own
 * message) when `isMissing` says it names a missing table, else `error` itself.
 */
export function missingSchema(
  error: unknown,
  isMissing: (error: unknown) => boolean,
  message?: string,
): unknown {
  if (!isMissing(error)) return error;
  return new SchemaMissingError(message ?? (error as Error).message);
}

/**
 * The feed's WorkerStates row as read (`table`: the store's name for WorkerStates).
 * @throws SchemaMissingError when there is none (a schema made by hand, or the row deleted).
 */
export function feedRow<T>(row: T | null | undefined, table: string): T {
  if (row === null || row === undefined) {
    throw new SchemaMissingError(`no ${table} row '${FEED_ID}'`);
  }
  return row;
}

/** The figures of `status` as a server store's status query returns them. */
export interface StatusRow {
  readonly checkpoint: string | number | null;
  readonly updatedAt: string | null;
  readonly parcels: string | number;
  readonly rejected: string | number;
  readonly version: number | null;
  readonly newest: string | null;
}

/**
 * A server store's status row (none before the schema has a feed row) and settled EventId, as
 * {@link StoreStatus}; `time` turns the server's time text into ISO-8601 UTC.
 */
export function statusOf(
  row: StatusRow | undefined,
  settled: string | number | null,
  time: (text: string | null) => string | null = (text) => text,
): StoreStatus {
  return {
    settledEventId: settled === null ? null : Number(settled),
    checkpoint: Number(row?.checkpoint ?? 0),
    checkpointUpdatedAtUtc: time(row?.updatedAt ?? null),
    parcels: Number(row?.parcels ?? 0),
    rejected: Number(row?.rejected ?? 0),
    schemaVersion: row?.version ?? 0,
    newestEventUtc: time(row?.newest ?? null),
  };
}
