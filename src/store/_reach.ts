/**
 * A server database that is not up yet at start-up (a container that starts a second after the
 * worker, a server restarting) is waited for: until a first call succeeds, each call that fails
 * with a passing error is tried again, within `DB_CONNECT_TIMEOUT_MS` from the first call. Then
 * the store's calls go straight through.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { DatabaseUnavailableError } from "../errors.ts";
import { sleep } from "../retry.ts";
import { type Store } from "./store.ts";
import {
  MigrationError,
  PermanentStoreError,
  SchemaMissingError,
  UnsupportedDatabaseError,
} from "../errors.ts";

/** Which database is waited for, and for how long. */
export interface ReachTarget {
  /** The store's name: `PostgreSQL`, `SQL Server`. */
  readonly store: string;
  /** `DATABASE_URL`, masked, for the one line said when it cannot be reached. */
  readonly database: string;
  /** `DB_CONNECT_TIMEOUT_MS`: how long start-up waits for the database in all. */
  readonly timeoutMs: number;
}

/** The pause between two tries at start-up. */
const RETRY_MS = 250;

/** Whether an error says something about the schema, not about reaching the database. */
function aboutTheSchema(error: unknown): boolean {
  return error instanceof SchemaMissingError || error instanceof MigrationError ||
    error instanceof UnsupportedDatabaseError;
}

/** The cause's own words: node's AggregateError (both addresses refused) has no message. */
export function causeText(error: unknown): string {
  const e = error as { message?: string; errors?: unknown[]; code?: string };
  if (e?.message) return e.message;
  if (Array.isArray(e?.errors) && e.errors.length > 0) {
    return e.errors.map((inner) => causeText(inner)).join("; ");
  }
  return e?.code ?? String(error);
}

/**
 * `store` with its first calls waiting for the database: a call that fails before any call has
 * succeeded is tried again every 250 ms while the error passes (refused, reset, timed out) and
 * `target.timeoutMs` has not run out since the first call; then it fails with one
 * {@link DatabaseUnavailableError}. A refused login fails so at once; schema errors stay as
 * they are. Once a call has succeeded, calls go to `store`'s own method (bound through the proxy,
 * no retry, no wait). The same holds for the calls of `store.outbox`.
 * (`openStore` applies it to the server stores; `tests/unit/store_reach_test.ts` shows it at work.)
 */
export function waitingAtStart<T extends Store>(store: T, target: ReachTarget, log: Logger): T {
  let reached = false;
  let deadline: number | null = null;
  let said = false;
  const attempt = async <R>(call: () => Promise<R>): Promise<R> => {
    deadline ??= Date.now() + target.timeoutMs;
    for (;;) {
      try {
        const result = await call();
        reached = true;
        return result;
      } catch (error) {
        if (reached || aboutTheSchema(error)) throw error;
        if (error instanceof PermanentStoreError) {
          const problem = `${error.code} while ${error.doing}: ${causeText(error.cause)}`;
          throw new DatabaseUnavailableError(target.store, target.database, problem, error);
        }
        if (Date.now() + RETRY_MS >= deadline) {
          throw new DatabaseUnavailableError(
            target.store,
            target.database,
            `not reachable within ${target.timeoutMs} ms (DB_CONNECT_TIMEOUT_MS): ${
              causeText(error)
            }`,
            error,
          );
        }
        if (!said) {
          said = true;
          log.warn(
            "{store} at {database} does not answer yet ({error}); trying again for up to {timeoutMs} ms (DB_CONNECT_TIMEOUT_MS)",
            { ...target, error: causeText(error) },
          );
        }
        await sleep(RETRY_MS);
      }
    }
  };
  const waiting = <O extends object>(object: O): O =>
    new Proxy(object, {
      get(target, key) {
        const value = Reflect.get(target, key, target);
        if (typeof value !== "function") return value;
        const method = value.bind(target) as (...args: unknown[]) => Promise<unknown>;
        if (reached || key === "close") return method;
        return (...args: unknown[]) => attempt(() => method(...args));
      },
    });
  const outbox = waiting(store.outbox);
  return new Proxy(waiting(store), {
    get(target, key) {
      return key === "outbox" ? outbox : Reflect.get(target, key);
    },
  });
}
