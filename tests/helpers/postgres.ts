/**
 * A fresh PostgreSQL database per test, on the server named by PG_TEST_URL (default: the local
 * one). In CI a missing server fails the tests; elsewhere they are skipped with a printed reason.
 *
 * @module
 */

// @ts-types="npm:@types/pg@^8.15.6"
import pg from "pg";
import { roundToMicroseconds } from "../../src/domain/timestamps.ts";
import type { ParcelStateRow, Tables } from "./tables.ts";

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
if (PG_SKIP !== null) {
  // deno-lint-ignore no-console -- every test that needs PostgreSQL is skipped: say why, once
  console.log(`PostgreSQL tests skipped: ${PG_SKIP}`);
}

/** Run one statement on the test server's own database (for cluster-wide objects: roles). */
export async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_TEST_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** A database made for one test. */
export interface TestDatabase {
  /** Its connection URL. */
  readonly url: string;
  /** Its name. */
  readonly name: string;
  /** Run a query on it. */
  query<T extends pg.QueryResultRow>(text: string, params?: unknown[]): Promise<T[]>;
  /** Run queries in one read-only REPEATABLE READ transaction: one snapshot for all of them. */
  snapshot<R>(
    work: (query: <T extends pg.QueryResultRow>(text: string) => Promise<T[]>) => Promise<R>,
  ): Promise<R>;
  /** Drop it (closing every connection to it). */
  drop(): Promise<void>;
}

/**
 * Create a fresh database on the test server (or on `server`, a private cluster's URL).
 */
export async function createTestDatabase(
  prefix = "scan_worker_test",
  server = PG_TEST_URL,
): Promise<TestDatabase> {
  const name = `${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(server);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.href, max: 2 });
  // `pool.end()` resolves once its clients are told to end, not once their sessions are gone;
  // the DROP … WITH (FORCE) that follows may then terminate one, and the pool reports that as an
  // error. Nothing is lost by then: without a listener it would be an uncaught error.
  pool.on("error", () => {});
  return {
    url: url.href,
    name,
    query: async <T extends pg.QueryResultRow>(text: string, params: unknown[] = []) =>
      (await pool.query<T>(text, params)).rows,
    snapshot: async (work) => {
      const client = await pool.connect();
      try {
        await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        const result = await work(async (text) => (await client.query(text)).rows);
        await client.query("COMMIT");
        return result;
      } finally {
        client.release();
      }
    },
    drop: async () => {
      await pool.end();
      const client = new pg.Client({ connectionString: server });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** A query on a test database (or in one of its snapshots). */
type Query = <T extends pg.QueryResultRow>(text: string) => Promise<T[]>;

/** A timestamptz as UTC text at microseconds: `2021-05-11T10:00:00.123457Z`. */
const utc = (column: string) =>
  `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** parcel_states in the shape of {@link ParcelStateRow}, by ParcelId, times at microseconds. */
export async function postgresParcels(query: Query): Promise<ParcelStateRow[]> {
  const rows = await query<Record<string, string | null>>(
    `SELECT parcel_id, last_event_id, type, status_code, run_id,
       ${utc("created_date_time_utc")} AS created, ${utc("pickup_time_utc")} AS pickup,
       ${utc("delivery_time_utc")} AS delivery
     FROM parcel_states ORDER BY parcel_id`,
  );
  return rows.map((r) => ({
    ParcelId: Number(r.parcel_id),
    LastEventId: Number(r.last_event_id),
    Type: String(r.type),
    StatusCode: String(r.status_code),
    RunId: r.run_id ?? null,
    CreatedDateTimeUtc: String(r.created),
    PickupTimeUtc: r.pickup ?? null,
    DeliveryTimeUtc: r.delivery ?? null,
  }));
}

/** rejected_events by Id: EventId, Reason, Payload. */
export async function postgresRejections(
  query: Query,
): Promise<{ EventId: number | null; Reason: string; Payload: string }[]> {
  const rows = await query<{ event_id: string | null; reason: string; payload: string }>(
    "SELECT event_id, reason, payload FROM rejected_events ORDER BY id",
  );
  return rows.map((r) => ({
    EventId: r.event_id === null ? null : Number(r.event_id),
    Reason: r.reason,
    Payload: r.payload,
  }));
}

/**
 * A test database's tables in the shape of {@link Tables}, times at microseconds, read from one
 * snapshot (a killed worker's last statement may still be committing while they are read).
 */
export function readPostgresTables(db: TestDatabase): Promise<Tables> {
  return db.snapshot(async (query) => {
    const [state] = await query<{ c: string }>(
      "SELECT last_processed_event_id AS c FROM worker_states WHERE id = 'scan-events'",
    );
    return {
      checkpoint: Number(state?.c ?? 0),
      parcels: await postgresParcels(query),
      rejected: (await postgresRejections(query)).map(({ EventId, Reason }) => ({
        EventId,
        Reason,
      })),
    };
  });
}

/** SQLite tables with their times rounded to microseconds, to compare with PostgreSQL's. */
export function atMicroseconds(tables: Tables): Tables {
  const micro = (text: string | null) => (text === null ? null : roundToMicroseconds(text));
  return {
    ...tables,
    parcels: tables.parcels.map((p) => ({
      ...p,
      CreatedDateTimeUtc: roundToMicroseconds(p.CreatedDateTimeUtc),
      PickupTimeUtc: micro(p.PickupTimeUtc),
      DeliveryTimeUtc: micro(p.DeliveryTimeUtc),
    })),
  };
}
