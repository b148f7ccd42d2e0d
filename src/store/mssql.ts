/**
 * The SQL Server store (SQL Server 2017+) through `mssql`: one round trip per page, set-based
 * writes from a JSON document (`OPENJSON … WITH`), one transaction with `XACT_ABORT ON`.
 *
 * It mirrors the SQLite store statement for statement; the same contract suite runs against it
 * whenever `MSSQL_TEST_URL` is set.
 *
 * @module
 */

// @ts-types="npm:@types/mssql@^12.3.0"
import sql from "mssql";
import type { PageResult } from "../domain/project.ts";
import init from "../../sql/mssql/001_init.sql" with { type: "text" };
import { retryTransient } from "../worker/backoff.ts";
import { defineMigrations, type Migration, pendingMigrations } from "./migrate.ts";
import {
  type AppliedMigration,
  CheckpointMovedError,
  FEED_ID,
  FEED_LOCK_NAME,
  type FeedLock,
  type ParcelState,
  type RejectedEvent,
  SchemaMissingError,
  type Store,
  type StoreStatus,
} from "./store.ts";

/** The SQL Server migrations, embedded in the program (SPEC §4). */
export const MSSQL_MIGRATIONS: readonly Migration[] = defineMigrations({
  "001_init.sql": init,
});

/** The table where applied migrations are recorded. */
export const MSSQL_MIGRATIONS_TABLE = `IF OBJECT_ID(N'dbo.SchemaMigrations', N'U') IS NULL
CREATE TABLE dbo.SchemaMigrations (
    Version      int           NOT NULL CONSTRAINT PK_SchemaMigrations PRIMARY KEY,
    Name         nvarchar(200) NOT NULL,
    Checksum     char(64)      NOT NULL,
    AppliedAtUtc datetime2(7)  NOT NULL
);`;

/** Serialises migrators: two instances starting together cannot both migrate. */
const TAKE_MIGRATION_LOCK = `
DECLARE @result int;
EXEC @result = sp_getapplock @Resource = N'scan-worker:migrations', @LockMode = N'Exclusive',
    @LockOwner = N'Transaction', @LockTimeout = 60000;
IF @result < 0
BEGIN
    DECLARE @message nvarchar(200) =
        N'scan-worker: could not take the migration lock (sp_getapplock returned '
        + CAST(@result AS nvarchar(11)) + N')';
    THROW 50001, @message, 1;
END;`;

/**
 * One page in one batch and one transaction. The checkpoint moves first, guarded by its
 * expected old value: it takes the feed row's lock, so a second writer waits here and then finds
 * the checkpoint moved and rolls back. Parcel rows: UPDATE then INSERT … WHERE NOT EXISTS under
 * UPDLOCK, HOLDLOCK (no MERGE), with the §3.6–3.7 guards; rejections once per (EventId, Payload).
 */
const APPLY_PAGE = `
SET XACT_ABORT ON;
SET NOCOUNT ON;
BEGIN TRANSACTION;

UPDATE dbo.WorkerStates
SET LastProcessedEventId = @to, UpdatedAtUtc = SYSUTCDATETIME()
WHERE Id = @id AND LastProcessedEventId = @from;

IF @@ROWCOUNT <> 1
BEGIN
    ROLLBACK TRANSACTION;
    SELECT CAST(0 AS bit) AS moved,
        (SELECT LastProcessedEventId FROM dbo.WorkerStates WHERE Id = @id) AS actual;
    RETURN;
END;

DECLARE @c TABLE (
    ParcelId           bigint        NOT NULL PRIMARY KEY,
    LastEventId        bigint        NOT NULL,
    Type               nvarchar(100) NOT NULL,
    StatusCode         nvarchar(100) NOT NULL,
    RunId              nvarchar(50)  NULL,
    CreatedDateTimeUtc datetime2(7)  NOT NULL,
    PickupEventId      bigint        NULL,
    PickupTimeUtc      datetime2(7)  NULL,
    DeliveryEventId    bigint        NULL,
    DeliveryTimeUtc    datetime2(7)  NULL
);

INSERT INTO @c
SELECT j.ParcelId, j.LastEventId, j.Type, j.StatusCode, j.RunId,
    CONVERT(datetime2(7), j.Created, 126),
    j.PickupEventId, CONVERT(datetime2(7), j.Pickup, 126),
    j.DeliveryEventId, CONVERT(datetime2(7), j.Delivery, 126)
FROM OPENJSON(@changes) WITH (
    ParcelId        bigint        '$.p',
    LastEventId     bigint        '$.e',
    Type            nvarchar(100) '$.t',
    StatusCode      nvarchar(100) '$.s',
    RunId           nvarchar(50)  '$.r',
    Created         varchar(27)   '$.c',
    PickupEventId   bigint        '$.pe',
    Pickup          varchar(27)   '$.pt',
    DeliveryEventId bigint        '$.de',
    Delivery        varchar(27)   '$.dt'
) AS j;

UPDATE p SET
    LastEventId = CASE WHEN c.LastEventId > p.LastEventId THEN c.LastEventId ELSE p.LastEventId END,
    Type = CASE WHEN c.LastEventId > p.LastEventId THEN c.Type ELSE p.Type END,
    StatusCode = CASE WHEN c.LastEventId > p.LastEventId THEN c.StatusCode ELSE p.StatusCode END,
    RunId = CASE WHEN c.LastEventId > p.LastEventId THEN c.RunId ELSE p.RunId END,
    CreatedDateTimeUtc = CASE WHEN c.LastEventId > p.LastEventId
        THEN c.CreatedDateTimeUtc ELSE p.CreatedDateTimeUtc END,
    PickupEventId = CASE WHEN c.PickupEventId < ISNULL(p.PickupEventId, 9007199254740992)
        THEN c.PickupEventId ELSE p.PickupEventId END,
    PickupTimeUtc = CASE WHEN c.PickupEventId < ISNULL(p.PickupEventId, 9007199254740992)
        THEN c.PickupTimeUtc ELSE p.PickupTimeUtc END,
    DeliveryEventId = CASE WHEN c.DeliveryEventId < ISNULL(p.DeliveryEventId, 9007199254740992)
        THEN c.DeliveryEventId ELSE p.DeliveryEventId END,
    DeliveryTimeUtc = CASE WHEN c.DeliveryEventId < ISNULL(p.DeliveryEventId, 9007199254740992)
        THEN c.DeliveryTimeUtc ELSE p.DeliveryTimeUtc END,
    UpdatedAtUtc = SYSUTCDATETIME()
FROM dbo.ParcelStates AS p WITH (UPDLOCK, HOLDLOCK)
INNER JOIN @c AS c ON c.ParcelId = p.ParcelId
WHERE c.LastEventId > p.LastEventId
   OR c.PickupEventId < ISNULL(p.PickupEventId, 9007199254740992)
   OR c.DeliveryEventId < ISNULL(p.DeliveryEventId, 9007199254740992);

INSERT INTO dbo.ParcelStates (ParcelId, LastEventId, Type, StatusCode, RunId, CreatedDateTimeUtc,
    PickupEventId, PickupTimeUtc, DeliveryEventId, DeliveryTimeUtc, UpdatedAtUtc)
SELECT c.ParcelId, c.LastEventId, c.Type, c.StatusCode, c.RunId, c.CreatedDateTimeUtc,
    c.PickupEventId, c.PickupTimeUtc, c.DeliveryEventId, c.DeliveryTimeUtc, SYSUTCDATETIME()
FROM @c AS c
WHERE NOT EXISTS (
    SELECT 1 FROM dbo.ParcelStates AS p WITH (UPDLOCK, HOLDLOCK) WHERE p.ParcelId = c.ParcelId);

INSERT INTO dbo.RejectedEvents (EventId, Reason, Payload, RejectedAtUtc)
SELECT r.EventId, r.Reason, r.Payload, SYSUTCDATETIME()
FROM OPENJSON(@rejections) WITH (
    EventId bigint         '$.e',
    Reason  nvarchar(1000) '$.why',
    Payload nvarchar(max)  '$.raw'
) AS r
WHERE NOT EXISTS (
    SELECT 1 FROM dbo.RejectedEvents AS x WITH (UPDLOCK, HOLDLOCK)
    WHERE (x.EventId = r.EventId OR (x.EventId IS NULL AND r.EventId IS NULL))
      AND x.Payload = r.Payload);

COMMIT TRANSACTION;
SELECT CAST(1 AS bit) AS moved, @to AS actual;`;

/** The JSON documents sent with one page: its parcel changes and its rejections. */
export interface PageDocument {
  /** `[{p, e, t, s, r, c, pe, pt, de, dt}, …]`: one object per parcel change. */
  readonly changes: string;
  /** `[{e, why, raw}, …]`: one object per rejection. */
  readonly rejections: string;
}

/** A SPEC §3.5 UTC text as SQL Server reads it for datetime2 (style 126): without the `Z`. */
function sqlTime(text: string | null): string | null {
  return text === null ? null : text.replace(/Z$/, "");
}

/**
 * The page as the two JSON documents the batch reads with OPENJSON.
 * @example pageDocument(result).changes // '[{"p":7,"e":1,"t":"PICKUP",…,"c":"2021-05-11T21:11:34.1506147",…}]'
 */
export function pageDocument(result: PageResult): PageDocument {
  return {
    changes: JSON.stringify(result.changes.map((c) => ({
      p: c.parcelId,
      e: c.lastEventId,
      t: c.type,
      s: c.statusCode,
      r: c.runId,
      c: sqlTime(c.createdDateTimeUtc),
      pe: c.pickupEventId,
      pt: sqlTime(c.pickupTimeUtc),
      de: c.deliveryEventId,
      dt: sqlTime(c.deliveryTimeUtc),
    }))),
    rejections: JSON.stringify(
      result.rejections.map((r) => ({ e: r.eventId, why: r.reason, raw: r.payload })),
    ),
  };
}

/** SQL Server error numbers worth retrying: deadlock, lock timeout, Azure failover and throttling. */
export const TRANSIENT_ERROR_NUMBERS: ReadonlySet<number> = new Set([
  -2, // client timeout
  64,
  233,
  1205, // deadlock victim
  1222, // lock request timeout
  4060, // cannot open database (during failover)
  4221,
  10053,
  10054,
  10060,
  10928,
  10929,
  40197,
  40501, // service busy
  40540,
  40613, // database unavailable
  49918,
  49919,
  49920,
]);

/** Driver error codes meaning the connection failed or dropped. */
const TRANSIENT_CODES = new Set(["ESOCKET", "ECONNCLOSED", "ECONNRESET", "ETIMEOUT"]);

/** Whether an error from `mssql` is worth retrying. */
export function isTransientMssqlError(error: unknown): boolean {
  const e = error as {
    number?: number;
    code?: string;
    originalError?: { info?: { number?: number } };
  };
  const number = e?.number ?? e?.originalError?.info?.number;
  return (number !== undefined && TRANSIENT_ERROR_NUMBERS.has(number)) ||
    (e?.code !== undefined && TRANSIENT_CODES.has(e.code));
}

function isMissingObject(error: unknown): boolean {
  return (error as { number?: number })?.number === 208;
}

/** A datetime2 read back with CONVERT(char(27), x, 121) as SPEC §3.5 text. */
export function fromSqlTime(text: string | null): string | null {
  return text === null ? null : `${text.trim().replace(" ", "T")}Z`;
}

/** The SQL Server store. */
export class MssqlStore implements Store {
  readonly #config: sql.config;
  #connecting: Promise<sql.ConnectionPool> | null = null;

  /** @param config from {@link mssqlConfig}; nothing connects until the first call. */
  constructor(config: sql.config) {
    this.#config = config;
  }

  #pool(): Promise<sql.ConnectionPool> {
    if (this.#connecting === null) {
      const pool = new sql.ConnectionPool(this.#config);
      pool.on("error", () => {
        // Idle connection failures surface on the next query, which is retried.
      });
      this.#connecting = pool.connect().catch((error) => {
        this.#connecting = null;
        throw error;
      });
    }
    return this.#connecting;
  }

  /** Run `work`, retrying transient errors a few times with backoff before giving up. */
  #retry<T>(work: (pool: sql.ConnectionPool) => Promise<T>): Promise<T> {
    return retryTransient(async () => work(await this.#pool()), isTransientMssqlError);
  }

  async #applied(request: sql.Request): Promise<AppliedMigration[]> {
    const result = await request.query<
      { version: number; name: string; checksum: string; appliedAtUtc: string }
    >(
      `SELECT Version AS version, Name AS name, Checksum AS checksum,
         CONVERT(char(27), AppliedAtUtc, 121) AS appliedAtUtc
       FROM dbo.SchemaMigrations ORDER BY Version`,
    );
    return result.recordset.map((row) => ({
      ...row,
      appliedAtUtc: fromSqlTime(row.appliedAtUtc) ?? "",
    }));
  }

  /** Apply pending migrations in one transaction under an application lock. */
  migrate(): Promise<AppliedMigration[]> {
    return this.#retry(async (pool) => {
      const transaction = new sql.Transaction(pool);
      await transaction.begin();
      try {
        await new sql.Request(transaction).batch(TAKE_MIGRATION_LOCK);
        await new sql.Request(transaction).batch(MSSQL_MIGRATIONS_TABLE);
        const pending = pendingMigrations(
          MSSQL_MIGRATIONS,
          await this.#applied(new sql.Request(transaction)),
        );
        const applied: AppliedMigration[] = [];
        for (const m of pending) {
          await new sql.Request(transaction).batch(m.sql);
          const row = await new sql.Request(transaction)
            .input("version", sql.Int, m.version)
            .input("name", sql.NVarChar(200), m.name)
            .input("checksum", sql.Char(64), m.checksum)
            .query<{ appliedAtUtc: string }>(
              `DECLARE @now datetime2(7) = SYSUTCDATETIME();
               INSERT INTO dbo.SchemaMigrations (Version, Name, Checksum, AppliedAtUtc)
               VALUES (@version, @name, @checksum, @now);
               SELECT CONVERT(char(27), @now, 121) AS appliedAtUtc;`,
            );
          applied.push({
            version: m.version,
            name: m.name,
            checksum: m.checksum,
            appliedAtUtc: fromSqlTime(row.recordset[0]?.appliedAtUtc ?? null) ?? "",
          });
        }
        await transaction.commit();
        return applied;
      } catch (error) {
        await transaction.rollback().catch(() => {});
        throw error;
      }
    });
  }

  /** Fail unless every migration is applied and unchanged. */
  verifySchema(): Promise<void> {
    return this.#retry(async (pool) => {
      let applied: AppliedMigration[];
      try {
        applied = await this.#applied(pool.request());
      } catch (error) {
        if (isMissingObject(error)) throw new SchemaMissingError("no dbo.SchemaMigrations table");
        throw error;
      }
      const pending = pendingMigrations(MSSQL_MIGRATIONS, applied);
      if (pending.length > 0) {
        throw new SchemaMissingError(`migration ${pending[0]?.version} is not applied`);
      }
    });
  }

  /** The stored checkpoint (0 before the first page). */
  readCheckpoint(): Promise<number> {
    return this.#retry(async (pool) => {
      let rows: { checkpoint: string | number }[];
      try {
        rows = (await pool.request().input("id", sql.NVarChar(100), FEED_ID)
          .query<{ checkpoint: string | number }>(
            "SELECT LastProcessedEventId AS checkpoint FROM dbo.WorkerStates WHERE Id = @id",
          )).recordset;
      } catch (error) {
        if (isMissingObject(error)) throw new SchemaMissingError("no dbo.WorkerStates table");
        throw error;
      }
      const row = rows[0];
      if (row === undefined) throw new SchemaMissingError(`no WorkerStates row '${FEED_ID}'`);
      return Number(row.checkpoint);
    });
  }

  /** Write one page in one round trip and one transaction (SPEC §3.8). */
  applyPage(result: PageResult): Promise<void> {
    if (result.empty && result.rejections.length === 0) return Promise.resolve();
    const document = pageDocument(result);
    return this.#retry(async (pool) => {
      const outcome = await pool.request()
        .input("id", sql.NVarChar(100), FEED_ID)
        .input("from", sql.BigInt, result.from)
        .input("to", sql.BigInt, result.to)
        .input("changes", sql.NVarChar(sql.MAX), document.changes)
        .input("rejections", sql.NVarChar(sql.MAX), document.rejections)
        .query<{ moved: boolean; actual: string | number | null }>(APPLY_PAGE);
      const row = outcome.recordset[0];
      if (row === undefined || !row.moved) {
        throw new CheckpointMovedError(
          result.from,
          row?.actual === null || row?.actual === undefined ? null : Number(row.actual),
        );
      }
    });
  }

  /** Checkpoint, counts and schema version. */
  status(): Promise<StoreStatus> {
    return this.#retry(async (pool) => {
      try {
        const result = await pool.request().input("id", sql.NVarChar(100), FEED_ID).query<{
          checkpoint: string | number | null;
          updatedAt: string | null;
          parcels: string | number;
          rejected: string | number;
          version: number | null;
          newest: string | null;
        }>(
          `SELECT
             (SELECT LastProcessedEventId FROM dbo.WorkerStates WHERE Id = @id) AS checkpoint,
             (SELECT CONVERT(char(27), UpdatedAtUtc, 121) FROM dbo.WorkerStates WHERE Id = @id)
               AS updatedAt,
             (SELECT COUNT_BIG(*) FROM dbo.ParcelStates) AS parcels,
             (SELECT COUNT_BIG(*) FROM dbo.RejectedEvents) AS rejected,
             (SELECT MAX(Version) FROM dbo.SchemaMigrations) AS version,
             (SELECT TOP (1) CONVERT(char(27), CreatedDateTimeUtc, 121) FROM dbo.ParcelStates
               ORDER BY LastEventId DESC) AS newest`,
        );
        const row = result.recordset[0];
        return {
          checkpoint: Number(row?.checkpoint ?? 0),
          checkpointUpdatedAtUtc: fromSqlTime(row?.updatedAt ?? null),
          parcels: Number(row?.parcels ?? 0),
          rejected: Number(row?.rejected ?? 0),
          schemaVersion: row?.version ?? 0,
          newestEventUtc: fromSqlTime(row?.newest ?? null),
        };
      } catch (error) {
        if (isMissingObject(error)) throw new SchemaMissingError((error as Error).message);
        throw error;
      }
    });
  }

  /**
   * Take `sp_getapplock` with a session owner on a one-connection pool of its own, kept for as
   * long as the lock is held; `APPLOCK_MODE` tells whether that session still holds it.
   */
  async tryLockFeed(): Promise<FeedLock | null> {
    const pool = await new sql.ConnectionPool({
      ...this.#config,
      pool: { min: 1, max: 1, idleTimeoutMillis: 2_147_483_647 },
    }).connect();
    pool.on("error", () => {
      // A dropped session shows in held().
    });
    const taken = await pool.request().input("resource", sql.NVarChar(255), FEED_LOCK_NAME)
      .query<{ result: number }>(
        `DECLARE @result int;
         EXEC @result = sp_getapplock @Resource = @resource, @LockMode = N'Exclusive',
             @LockOwner = N'Session', @LockTimeout = 0;
         SELECT @result AS result;`,
      ).catch(async (error) => {
        await pool.close();
        throw error;
      });
    if ((taken.recordset[0]?.result ?? -1) < 0) {
      await pool.close();
      return null;
    }
    return {
      held: async () => {
        try {
          const mode = await pool.request().input("resource", sql.NVarChar(255), FEED_LOCK_NAME)
            .query<{ mode: string }>(
              "SELECT APPLOCK_MODE(N'public', @resource, N'Session') AS mode",
            );
          return mode.recordset[0]?.mode === "Exclusive";
        } catch {
          return false;
        }
      },
      release: async () => {
        await pool.request().input("resource", sql.NVarChar(255), FEED_LOCK_NAME)
          .query("EXEC sp_releaseapplock @Resource = @resource, @LockOwner = N'Session'")
          .catch(() => {});
        await pool.close();
      },
    };
  }

  /** One parcel's row, or null. */
  parcel(parcelId: number): Promise<ParcelState | null> {
    return this.#retry(async (pool) => {
      const rows = (await pool.request().input("id", sql.BigInt, parcelId)
        .query<Record<string, string | number | null>>(
          `SELECT ParcelId, LastEventId, Type, StatusCode, RunId,
             CONVERT(char(27), CreatedDateTimeUtc, 121) AS Created,
             CONVERT(char(27), PickupTimeUtc, 121) AS Pickup,
             CONVERT(char(27), DeliveryTimeUtc, 121) AS Delivery,
             CONVERT(char(27), UpdatedAtUtc, 121) AS Updated
           FROM dbo.ParcelStates WHERE ParcelId = @id`,
        )).recordset;
      const r = rows[0];
      if (r === undefined) return null;
      const text = (value: string | number | null | undefined) =>
        value === null || value === undefined ? null : String(value);
      return {
        parcelId: Number(r.ParcelId),
        lastEventId: Number(r.LastEventId),
        type: String(r.Type),
        statusCode: String(r.StatusCode),
        runId: text(r.RunId),
        createdDateTimeUtc: fromSqlTime(text(r.Created)) ?? "",
        pickupTimeUtc: fromSqlTime(text(r.Pickup)),
        deliveryTimeUtc: fromSqlTime(text(r.Delivery)),
        updatedAtUtc: fromSqlTime(text(r.Updated)) ?? "",
      };
    });
  }

  /** The newest rejections, newest first. */
  rejections(limit: number): Promise<RejectedEvent[]> {
    return this.#retry(async (pool) =>
      (await pool.request().input("limit", sql.Int, limit)
        .query<{ Id: string; EventId: string | null; Reason: string; Payload: string; At: string }>(
          `SELECT TOP (@limit) Id, EventId, Reason, Payload,
             CONVERT(char(27), RejectedAtUtc, 121) AS At
           FROM dbo.RejectedEvents ORDER BY Id DESC`,
        )).recordset.map((r) => ({
          id: Number(r.Id),
          eventId: r.EventId === null ? null : Number(r.EventId),
          reason: r.Reason,
          payload: r.Payload,
          rejectedAtUtc: fromSqlTime(r.At) ?? "",
        }))
    );
  }

  /** Move the checkpoint; returns the old one. */
  resetCheckpoint(eventId: number): Promise<number> {
    return this.#retry(async (pool) => {
      const result = await pool.request()
        .input("id", sql.NVarChar(100), FEED_ID)
        .input("to", sql.BigInt, eventId)
        .query<{ old: string | number }>(
          `UPDATE dbo.WorkerStates SET LastProcessedEventId = @to, UpdatedAtUtc = SYSUTCDATETIME()
           OUTPUT deleted.LastProcessedEventId AS old
           WHERE Id = @id`,
        );
      const row = result.recordset[0];
      if (row === undefined) throw new SchemaMissingError(`no WorkerStates row '${FEED_ID}'`);
      return Number(row.old);
    });
  }

  /** Close the pool. */
  async close(): Promise<void> {
    const connecting = this.#connecting;
    this.#connecting = null;
    if (connecting !== null) await (await connecting.catch(() => null))?.close();
  }
}

/**
 * The complete SQL Server schema for a DBA to run by hand (`init-db.sql`): the migrations table,
 * every migration, and the rows that record them as applied, so the worker finds nothing to do.
 * Generated from the embedded migrations (`deno task init-db`); a test keeps the file in step.
 */
export function renderInitDb(): string {
  const parts = [
    "-- scan-worker: the complete SQL Server schema (SQL Server 2017+), for a DBA to run by hand",
    "-- in the target database, e.g. sqlcmd -b -S host -d ScanWorkerDb -i init-db.sql.",
    "-- Generated from sql/mssql/*.sql by `deno task init-db`; do not edit by hand.",
    "-- The worker records these migrations as applied, so `scan-worker migrate` finds nothing to do.",
    "",
    "SET XACT_ABORT ON;",
    "GO",
    "",
    MSSQL_MIGRATIONS_TABLE,
    "GO",
  ];
  for (const m of MSSQL_MIGRATIONS) {
    const file = `${String(m.version).padStart(3, "0")}_${m.name}.sql`;
    parts.push(
      "",
      `-- ${file}`,
      "BEGIN TRANSACTION;",
      "GO",
      m.sql.trimEnd(),
      "GO",
      "-- If the batch above failed, XACT_ABORT rolled it back: record nothing, stop here.",
      "IF @@TRANCOUNT = 0",
      `    THROW 50002, N'${file} failed and was rolled back; nothing was recorded', 1;`,
      "INSERT INTO dbo.SchemaMigrations (Version, Name, Checksum, AppliedAtUtc)",
      `VALUES (${m.version}, N'${m.name}', '${m.checksum}', SYSUTCDATETIME());`,
      "COMMIT TRANSACTION;",
      "GO",
    );
  }
  return parts.join("\n") + "\n";
}
