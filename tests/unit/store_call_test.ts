/**
 * The pieces every store shares in `store/_call.ts`: the feed row check, missing tables as
 * SchemaMissingError, and the server stores' status row.
 */
import { assertEquals, assertOk, assertThrows } from "../helpers/assert.ts";
import { feedRow, missingSchema, statusOf } from "../../src/store/_call.ts";
import { SchemaMissingError } from "../../src/errors.ts";

Deno.test("feedRow returns the feed's row, and without one names the table and the row", () => {
  assertEquals(feedRow({ checkpoint: "42" }, "worker_states"), { checkpoint: "42" });
  assertEquals(feedRow(0, "WorkerStates"), 0);
  for (const missing of [undefined, null]) {
    assertThrows(
      () => feedRow(missing, "WorkerStates"),
      SchemaMissingError,
      /no WorkerStates row 'scan-events'/,
    );
  }
});

Deno.test("missingSchema turns only a missing table into SchemaMissingError", () => {
  const missing = new Error('relation "worker_states" does not exist');
  const other = new Error("connection reset");
  const isMissing = (error: unknown) => error === missing;
  const named = missingSchema(missing, isMissing, "no worker_states table");
  assertEquals(
    [named instanceof SchemaMissingError, (named as Error).message.includes("no worker_states")],
    [true, true],
  );
  const own = missingSchema(missing, isMissing);
  assertEquals((own as Error).message.includes('relation "worker_states" does not exist'), true);
  assertOk(missingSchema(other, isMissing, "no worker_states table") === other);
});

Deno.test("statusOf reads a server's row (text numbers, its time text) and its absence", () => {
  const row = {
    checkpoint: "1200",
    updatedAt: "2026-12-03 08:00:00.1234567",
    parcels: "150",
    rejected: 3,
    version: 6,
    newest: "2026-12-03 07:59:59.0000000",
  };
  const iso = (text: string | null) => text === null ? null : `${text.replace(" ", "T")}Z`;
  assertEquals(statusOf(row, "1190", iso), {
    settledEventId: 1190,
    checkpoint: 1200,
    checkpointUpdatedAtUtc: "2026-12-03T08:00:00.1234567Z",
    parcels: 150,
    rejected: 3,
    schemaVersion: 6,
    newestEventUtc: "2026-12-03T07:59:59.0000000Z",
  });
  assertEquals(statusOf(undefined, null), {
    settledEventId: null,
    checkpoint: 0,
    checkpointUpdatedAtUtc: null,
    parcels: 0,
    rejected: 0,
    schemaVersion: 0,
    newestEventUtc: null,
  });
});
