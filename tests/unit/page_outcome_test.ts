/**
 * What a server store's page statement answered, read back (`pageWritten`): the same for
 * PostgreSQL's text columns and SQL Server's typed ones.
 */
import { assertEquals, assertOk } from "../helpers/assert.ts";
import { projectPage } from "../../src/domain/project.ts";
import { pageWritten } from "../../src/store/page_document.ts";
import { CheckpointMovedError } from "../../src/store/store.ts";

const page = projectPage(10, [
  { EventId: 11, ParcelId: 7, Type: "PICKUP", CreatedDateTimeUtc: "2021-05-11T09:00:00Z" },
  { EventId: 12 },
  { EventId: 13 },
]);

/** The error `work` throws, checked to be a CheckpointMovedError. */
function moved(work: () => unknown): CheckpointMovedError {
  try {
    work();
  } catch (error) {
    assertOk(error instanceof CheckpointMovedError, String(error));
    return error;
  }
  throw new Error("expected a CheckpointMovedError");
}

Deno.test("a checkpoint that did not move is a CheckpointMovedError naming what the store holds", () => {
  const pg = { moved: "0", actual: "15", stored: [], outboxed: "0", lastSeq: null };
  assertEquals([
    moved(() => pageWritten(page, pg)).actual,
    moved(() => pageWritten(page, pg)).expected,
  ], [15, 10]);
  const mssql = { moved: false, actual: null, stored: null, outboxed: null };
  assertEquals(moved(() => pageWritten(page, mssql)).actual, null);
  assertEquals(moved(() => pageWritten(page, undefined)).actual, null, "no row at all");
});

Deno.test("a written page: the stored rejections by place, the outbox count and last position", () => {
  const pg = { moved: "1", actual: "10", stored: [1], outboxed: "1", lastSeq: "42" };
  assertEquals(pageWritten(page, pg), {
    rejected: page.rejections.slice(1, 2),
    outboxed: 1,
    lastSeq: 42,
  });
  const mssql = { moved: true, actual: 10, stored: [0, 1], outboxed: 0 };
  assertEquals(pageWritten(page, mssql), { rejected: page.rejections, outboxed: 0 });
});
