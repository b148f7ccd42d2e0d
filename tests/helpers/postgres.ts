/**
 * A fresh PostgreSQL database per test, on the server named by PG_TEST_URL (default: the local
 * one). In CI a missing server fails the tests; elsewhere they are skipped with a printed reason.
 *
 * @module
 */

// @ts-types="npm:@types/pg@^8.15.6"
import pg from "pg";

/** The server the tests use. */
export const PG_TEST_URL = Deno.env.get("PG_TEST_URL") ?? "postgres://postgres@127.0.0.1:5432/test";

async function reachable(): Promise<string | null> {
  const client = new pg.Client({ connectionString: PG_TEST_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return null;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.end().catch(() => {});
  }
}

const problem = await reachable();
/** Why the PostgreSQL tests cannot run here, or null when they can. */
export const PG_SKIP: string | null = problem === null || Deno.env.get("CI") === "true"
  ? null
  : `PostgreSQL at ${PG_TEST_URL} is not reachable (${problem})`;

/** A database made for one test. */
export interface TestDatabase {
  /** Its connection URL. */
  readonly url: string;
  /** Its name. */
  readonly name: string;
  /** Run a query on it. */
  query<T extends pg.QueryResultRow>(text: string, params?: unknown[]): Promise<T[]>;
  /** Drop it (closing every connection to it). */
  drop(): Promise<void>;
}

/** Create a fresh database on the test server. */
export async function createTestDatabase(prefix = "scan_worker_test"): Promise<TestDatabase> {
  const name = `${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const admin = new pg.Client({ connectionString: PG_TEST_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(PG_TEST_URL);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.href, max: 2 });
  return {
    url: url.href,
    name,
    query: async <T extends pg.QueryResultRow>(text: string, params: unknown[] = []) =>
      (await pool.query<T>(text, params)).rows,
    drop: async () => {
      await pool.end();
      const client = new pg.Client({ connectionString: PG_TEST_URL });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
