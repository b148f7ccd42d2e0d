/**
 * The bench's databases: a fresh SQLite file or PostgreSQL database per measurement, dropped
 * after it.
 *
 * @module
 */

// @ts-types="npm:@types/pg@^8.15.6"
import pg from "pg";
import { PostgresStore } from "../../src/store/postgres.ts";
import { SqliteStore } from "../../src/store/sqlite.ts";
import type { Store, StoreOptions } from "../../src/store/store.ts";

/** The PostgreSQL server the bench creates its databases on. */
export const PG_URL = Deno.env.get("BENCH_PG_URL") ?? Deno.env.get("PG_TEST_URL") ??
  "postgres://postgres@127.0.0.1:5432/test";

/** The stores the bench measures. */
export type StoreKind = "sqlite" | "postgres";

/** A fresh database of one kind, and how to drop it. */
export interface Target {
  readonly kind: StoreKind;
  /** Its `DATABASE_URL`. */
  readonly url: string;
  /** Open it in this process. */
  open(options?: StoreOptions): Store;
  /** Remove it. */
  drop(): Promise<void>;
}

/** A new, empty database of `kind`. */
export async function freshTarget(kind: StoreKind): Promise<Target> {
  if (kind === "sqlite") {
    const dir = await Deno.makeTempDir({ prefix: "scan-worker-bench-" });
    const path = `${dir}/bench.db`;
    return {
      kind,
      url: `sqlite:${path}`,
      open: (options) => new SqliteStore(path, options),
      drop: () => Deno.remove(dir, { recursive: true }),
    };
  }
  const name = `scan_worker_bench_${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return {
    kind,
    url: url.href,
    open: (options) => new PostgresStore({ connectionString: url.href }, undefined, options),
    drop: () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/** Run one statement on the PostgreSQL server's admin database. */
async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** Whether the PostgreSQL server answers. */
export async function postgresReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}
