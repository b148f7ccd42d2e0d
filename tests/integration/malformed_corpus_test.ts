/**
 * A corpus of malformed inputs, each a test case with its expected outcome: a RejectedEvents row
 * with its reason, or a page retried with a logged failure. In every case the worker does not
 * crash, does not stall, and keeps the valid events around the bad input.
 *
 * Event cases are sent as the middle of a page [valid 1, BAD, valid 99]; body cases are the
 * first response, after which the feed answers properly.
 */
import { configure, getLogger, type LogRecord, reset } from "@logtape/logtape";
import { assertEquals, assertOk } from "../helpers/assert.ts";
import { COURIER, edited, scanEvent } from "../helpers/events.ts";
import { readTables, tempDatabase } from "../helpers/tables.ts";
import { type AttemptFailure, ScanApiClient } from "../../src/api/client.ts";
import { SqliteStore } from "../../src/store/sqlite.ts";
import { runLoop } from "../../src/worker/loop.ts";

const records: LogRecord[] = [];
await configure({
  reset: true,
  sinks: { memory: (record) => records.push(record) },
  loggers: [
    { category: ["corpus"], sinks: ["memory"], lowestLevel: "debug" },
    { category: ["logtape", "meta"], sinks: [], lowestLevel: "error" },
  ],
});

const VALID_1 = JSON.stringify({
  EventId: 1,
  ParcelId: 1001,
  Type: "PICKUP",
  CreatedDateTimeUtc: "2021-05-11T08:00:00.1234567Z",
});
const VALID_99 = JSON.stringify({
  EventId: 99,
  ParcelId: 1002,
  Type: "DELIVERY",
  CreatedDateTimeUtc: "2021-05-11T09:00:00Z",
});
const GOOD_PAGE = `{"ScanEvents":[${VALID_1},${VALID_99}]}`;

/** A valid event 50 with fields replaced or removed, as JSON text. */
const event50 = (changes: Record<string, unknown>, remove: string[] = []) =>
  JSON.stringify(
    edited(scanEvent(50, 1050, "STATUS", "2021-05-11T08:30:00Z", COURIER), changes, remove),
  );

interface Outcome {
  rejected?: [number | null, string][];
  retried?: string;
  parcels?: number[];
}

interface Case {
  name: string;
  /** Raw JSON text of the bad event (put in the middle of the page). */
  event?: string;
  /** The whole first response. */
  body?: { text: string; status?: number; headers?: Record<string, string> };
  /** What follows the first good page (e.g. a page that goes backwards). */
  then?: string;
  expect: Outcome;
}

const huge = "x".repeat(200_000);
const injection = "'; DROP TABLE ParcelStates; --";

const CASES: Case[] = [
  // EventId
  {
    name: "EventId as a string",
    event: event50({ EventId: "50" }),
    expect: { rejected: [[null, "EventId must be an integer JSON number, got a string"]] },
  },
  {
    name: "EventId null",
    event: event50({ EventId: null }),
    expect: { rejected: [[null, "EventId must be an integer JSON number, got null"]] },
  },
  {
    name: "EventId missing",
    event: event50({}, ["EventId"]),
    expect: { rejected: [[null, "EventId is missing"]] },
  },
  {
    name: "EventId negative",
    event: event50({ EventId: -50 }),
    expect: { rejected: [[null, "EventId -50 is outside 1..2^53-1"]] },
  },
  {
    name: "EventId zero",
    event: event50({ EventId: 0 }),
    expect: { rejected: [[null, "EventId 0 is outside 1..2^53-1"]] },
  },
  {
    name: "EventId fractional",
    event: event50({ EventId: 50.5 }),
    expect: { rejected: [[null, "EventId must be an integer JSON number, got the number 50.5"]] },
  },
  {
    name: "EventId above 2^53",
    event: event50({ EventId: 1 }).replace('"EventId":1', '"EventId":9007199254740993'),
    expect: { rejected: [[null, "EventId 9007199254740992 is outside 1..2^53-1"]] },
  },
  {
    name: "EventId boolean",
    event: event50({ EventId: true }),
    expect: { rejected: [[null, "EventId must be an integer JSON number, got a boolean"]] },
  },
  {
    name: "EventId array",
    event: event50({ EventId: [50] }),
    expect: { rejected: [[null, "EventId must be an integer JSON number, got an array"]] },
  },
  {
    name: "EventId object",
    event: event50({ EventId: { id: 50 } }),
    expect: { rejected: [[null, "EventId must be an integer JSON number, got an object"]] },
  },
  // ParcelId
  {
    name: "ParcelId as a string",
    event: event50({ ParcelId: "1050" }),
    expect: { rejected: [[50, "ParcelId must be an integer JSON number, got a string"]] },
  },
  {
    name: "ParcelId null",
    event: event50({ ParcelId: null }),
    expect: { rejected: [[50, "ParcelId must be an integer JSON number, got null"]] },
  },
  {
    name: "ParcelId missing",
    event: event50({}, ["ParcelId"]),
    expect: { rejected: [[50, "ParcelId is missing"]] },
  },
  {
    name: "ParcelId negative",
    event: event50({ ParcelId: -1 }),
    expect: { rejected: [[50, "ParcelId -1 is outside 1..2^53-1"]] },
  },
  {
    name: "ParcelId zero",
    event: event50({ ParcelId: 0 }),
    expect: { rejected: [[50, "ParcelId 0 is outside 1..2^53-1"]] },
  },
  {
    name: "ParcelId fractional",
    event: event50({ ParcelId: 1.25 }),
    expect: { rejected: [[50, "ParcelId must be an integer JSON number, got the number 1.25"]] },
  },
  {
    name: "ParcelId 1e300",
    event: event50({ ParcelId: 1e300 }),
    expect: { rejected: [[50, "ParcelId 1e+300 is outside 1..2^53-1"]] },
  },
  // Type
  {
    name: "Type a number",
    event: event50({ Type: 3 }),
    expect: { rejected: [[50, "Type must be a string, got the number 3"]] },
  },
  {
    name: "Type null",
    event: event50({ Type: null }),
    expect: { rejected: [[50, "Type must be a string, got null"]] },
  },
  {
    name: "Type missing",
    event: event50({}, ["Type"]),
    expect: { rejected: [[50, "Type is missing"]] },
  },
  {
    name: "Type empty",
    event: event50({ Type: "" }),
    expect: { rejected: [[50, "Type is empty"]] },
  },
  {
    name: "Type blank",
    event: event50({ Type: " \t " }),
    expect: { rejected: [[50, "Type is empty"]] },
  },
  {
    name: "Type 51 characters",
    event: event50({ Type: "T".repeat(51) }),
    expect: { rejected: [[50, "Type is longer than 50 characters (51)"]] },
  },
  {
    name: "Type huge",
    event: event50({ Type: huge }),
    expect: { rejected: [[50, "Type is longer than 50 characters (200000)"]] },
  },
  {
    name: "Type an array",
    event: event50({ Type: ["PICKUP"] }),
    expect: { rejected: [[50, "Type must be a string, got an array"]] },
  },
  // CreatedDateTimeUtc
  {
    name: "date a number",
    event: event50({ CreatedDateTimeUtc: 1620720000 }),
    expect: { rejected: [[50, "CreatedDateTimeUtc must be a string, got the number 1620720000"]] },
  },
  {
    name: "date null",
    event: event50({ CreatedDateTimeUtc: null }),
    expect: { rejected: [[50, "CreatedDateTimeUtc must be a string, got null"]] },
  },
  {
    name: "date missing",
    event: event50({}, ["CreatedDateTimeUtc"]),
    expect: { rejected: [[50, "CreatedDateTimeUtc is missing"]] },
  },
  {
    name: "date empty",
    event: event50({ CreatedDateTimeUtc: "" }),
    expect: { rejected: [[50, 'CreatedDateTimeUtc "" is not an ISO-8601 date-time']] },
  },
  {
    name: "date Feb 30",
    event: event50({ CreatedDateTimeUtc: "2021-02-30T10:00:00Z" }),
    expect: {
      rejected: [[50, 'CreatedDateTimeUtc "2021-02-30T10:00:00Z" is not an ISO-8601 date-time']],
    },
  },
  {
    name: "date without zone (ambiguous)",
    event: event50({ CreatedDateTimeUtc: "2021-05-11T10:00:00" }),
    expect: {
      rejected: [[50, 'CreatedDateTimeUtc "2021-05-11T10:00:00" is not an ISO-8601 date-time']],
    },
  },
  {
    name: "date day/month order (ambiguous)",
    event: event50({ CreatedDateTimeUtc: "05/11/2021 10:00:00" }),
    expect: {
      rejected: [[50, 'CreatedDateTimeUtc "05/11/2021 10:00:00" is not an ISO-8601 date-time']],
    },
  },
  {
    name: "date with 8 fraction digits",
    event: event50({ CreatedDateTimeUtc: "2021-05-11T10:00:00.12345678Z" }),
    expect: {
      rejected: [[
        50,
        'CreatedDateTimeUtc "2021-05-11T10:00:00.12345678Z" is not an ISO-8601 date-time',
      ]],
    },
  },
  {
    name: "date hour 24",
    event: event50({ CreatedDateTimeUtc: "2021-05-11T24:00:00Z" }),
    expect: {
      rejected: [[50, 'CreatedDateTimeUtc "2021-05-11T24:00:00Z" is not an ISO-8601 date-time']],
    },
  },
  {
    name: "date offset +24:00",
    event: event50({ CreatedDateTimeUtc: "2021-05-11T10:00:00+24:00" }),
    expect: {
      rejected: [[
        50,
        'CreatedDateTimeUtc "2021-05-11T10:00:00+24:00" is not an ISO-8601 date-time',
      ]],
    },
  },
  {
    name: "date only",
    event: event50({ CreatedDateTimeUtc: "2021-05-11" }),
    expect: { rejected: [[50, 'CreatedDateTimeUtc "2021-05-11" is not an ISO-8601 date-time']] },
  },
  {
    name: "date huge",
    event: event50({ CreatedDateTimeUtc: huge }),
    expect: {
      rejected: [[50, `CreatedDateTimeUtc "${"x".repeat(60)}" is not an ISO-8601 date-time`]],
    },
  },
  // StatusCode
  {
    name: "StatusCode an object",
    event: event50({ StatusCode: { Code: 1 } }),
    expect: { rejected: [[50, "StatusCode must be a string or a number, got an object"]] },
  },
  {
    name: "StatusCode a boolean",
    event: event50({ StatusCode: false }),
    expect: { rejected: [[50, "StatusCode must be a string or a number, got a boolean"]] },
  },
  {
    name: "StatusCode an array",
    event: event50({ StatusCode: ["A"] }),
    expect: { rejected: [[50, "StatusCode must be a string or a number, got an array"]] },
  },
  {
    name: "StatusCode 101 characters",
    event: event50({ StatusCode: "s".repeat(101) }),
    expect: { rejected: [[50, "StatusCode is longer than 100 characters (101)"]] },
  },
  {
    name: "StatusCode huge",
    event: event50({ StatusCode: huge }),
    expect: { rejected: [[50, "StatusCode is longer than 100 characters (200000)"]] },
  },
  // RunId
  {
    name: "RunId a boolean",
    event: event50({ User: { RunId: true } }),
    expect: { rejected: [[50, "User.RunId must be a string or a number, got a boolean"]] },
  },
  {
    name: "RunId an object",
    event: event50({ User: { RunId: {} } }),
    expect: { rejected: [[50, "User.RunId must be a string or a number, got an object"]] },
  },
  {
    name: "RunId 51 characters",
    event: event50({ User: { RunId: "r".repeat(51) } }),
    expect: { rejected: [[50, "User.RunId is longer than 50 characters (51)"]] },
  },
  // Whole events
  {
    name: "event null",
    event: "null",
    expect: { rejected: [[null, "event must be a JSON object, got null"]] },
  },
  {
    name: "event a string",
    event: '"PICKUP"',
    expect: { rejected: [[null, "event must be a JSON object, got a string"]] },
  },
  {
    name: "event a number",
    event: "50",
    expect: { rejected: [[null, "event must be a JSON object, got the number 50"]] },
  },
  {
    name: "event an array",
    event: "[50, 1050]",
    expect: { rejected: [[null, "event must be a JSON object, got an array"]] },
  },
  {
    name: "event an empty object",
    event: "{}",
    expect: { rejected: [[null, "EventId is missing"]] },
  },
  {
    name: "the same EventId twice with different content",
    event: `${event50({})},${event50({ ParcelId: 7777 })}`,
    expect: {
      rejected: [[50, "duplicate EventId 50 in the page, different from its first occurrence"]],
      parcels: [1001, 1002, 1050],
    },
  },
  {
    name: "the same event twice",
    event: `${event50({})},${event50({})}`,
    expect: { rejected: [], parcels: [1001, 1002, 1050] },
  },
  {
    name: "SQL in every text field is kept verbatim",
    event: event50({ Type: injection, StatusCode: injection, User: { RunId: injection } }),
    expect: { rejected: [], parcels: [1001, 1002, 1050] },
  },
  // Bodies
  {
    name: "an HTML error page with status 200",
    body: { text: "<html><body>502 Bad Gateway</body></html>" },
    expect: { retried: "body is not JSON" },
  },
  { name: "an empty body", body: { text: "" }, expect: { retried: "body is not JSON" } },
  {
    name: "a truncated body",
    body: { text: GOOD_PAGE.slice(0, 40) },
    expect: { retried: "body is not JSON" },
  },
  {
    name: "ScanEvents missing",
    body: { text: '{"Events":[]}' },
    expect: { retried: "body has no ScanEvents" },
  },
  {
    name: "ScanEvents an object",
    body: { text: '{"ScanEvents":{}}' },
    expect: { retried: "ScanEvents is not an array" },
  },
  {
    name: "ScanEvents null",
    body: { text: '{"ScanEvents":null}' },
    expect: { retried: "ScanEvents is not an array" },
  },
  { name: "body null", body: { text: "null" }, expect: { retried: "body is not a JSON object" } },
  {
    name: "body an array",
    body: { text: `[${VALID_1}]` },
    expect: { retried: "body is not a JSON object" },
  },
  {
    name: "a body above the size limit",
    body: { text: `{"ScanEvents":[],"pad":"${"p".repeat(300_000)}"}` },
    expect: { retried: "response body of 300026 bytes is above the limit of 262144" },
  },
  {
    name: "404 Not Found",
    body: { text: "no such path", status: 404 },
    expect: { retried: "HTTP 404 (no such path)" },
  },
  {
    name: "a UTF-8 byte order mark before the JSON",
    body: { text: `\uFEFF${GOOD_PAGE}` },
    expect: { rejected: [] },
  },
  {
    name: "a page that goes backwards",
    body: { text: GOOD_PAGE },
    then: `{"ScanEvents":[${VALID_1}]}`,
    expect: { rejected: [] },
  },
  {
    name: "a page out of order",
    body: { text: `{"ScanEvents":[${VALID_99},${VALID_1}]}` },
    expect: { rejected: [] },
  },
];

/** Serve the case: the first response as the case says, then the good page, then empty pages. */
function serveCase(c: Case) {
  let index = 0;
  const first = c.body ?? { text: `{"ScanEvents":[${VALID_1},${c.event ?? ""},${VALID_99}]}` };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const from = Number(new URL(req.url).searchParams.get("FromEventId"));
    const i = index++;
    if (i === 0) {
      return new Response(first.text, { status: first.status ?? 200, headers: first.headers });
    }
    if (from <= 1) return new Response(GOOD_PAGE);
    if (c.then !== undefined && i === 1) return new Response(c.then);
    return new Response('{"ScanEvents":[]}');
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/v1/scans/scanevents`,
    close: () => server.shutdown(),
  };
}

/**
 * Drain `url` into `store` with the real client and loop, short retries, a 10 s bound on the
 * whole drain; failed requests are reported to `onRetry`.
 */
function drain(
  store: SqliteStore,
  url: string,
  options: { limit: number; maxBodyBytes: number; onRetry?: (failure: AttemptFailure) => void },
) {
  const logger = getLogger(["corpus"]);
  const backoff = { baseMs: 1, capMs: 5 };
  const client = new ScanApiClient({
    url,
    limit: options.limit,
    token: null,
    timeoutMs: 2000,
    maxBodyBytes: options.maxBodyBytes,
    backoff,
    logger,
    ...(options.onRetry ? { onRetry: options.onRetry } : {}),
  });
  return runLoop({
    store,
    source: client,
    pollIntervalMs: 0,
    drain: true,
    signal: AbortSignal.timeout(10_000),
    backoff,
    lockRetryMs: 100,
    logger,
  });
}

Deno.test("the corpus has at least 50 cases", () => {
  assertOk(CASES.length >= 50, `${CASES.length} cases`);
});

for (const c of CASES) {
  Deno.test(`malformed input: ${c.name}`, async () => {
    const db = tempDatabase("scan-worker-corpus-");
    const feed = serveCase(c);
    const store = new SqliteStore(db.path);
    const failures: AttemptFailure[] = [];
    try {
      await store.migrate();
      const summary = await drain(store, feed.url, {
        limit: 100,
        maxBodyBytes: 256 * 1024,
        onRetry: (failure) => failures.push(failure),
      });
      assertEquals(summary.reason, "drained", "the worker must not stall");
      const tables = readTables(db.path);
      assertEquals(tables.checkpoint, 99, "the valid events around the bad input are kept");
      assertEquals(
        tables.parcels.map((p) => p.ParcelId),
        c.expect.parcels ?? [1001, 1002],
      );
      if (c.expect.rejected !== undefined) {
        assertEquals(tables.rejected.map((r) => [r.EventId, r.Reason]), c.expect.rejected);
        assertEquals(failures, []);
      }
      if (c.expect.retried !== undefined) {
        assertEquals(tables.rejected, []);
        assertEquals(failures.length, 1);
        assertOk(
          failures[0]?.problem.startsWith(c.expect.retried),
          `problem ${failures[0]?.problem} should start with ${c.expect.retried}`,
        );
      }
    } finally {
      await store.close();
      await feed.close();
      Deno.removeSync(db.dir, { recursive: true });
    }
  });
}

Deno.test("SQL in every text field is stored verbatim", async () => {
  const db = tempDatabase("scan-worker-corpus-sql-");
  const store = new SqliteStore(db.path);
  try {
    await store.migrate();
    const { projectPage } = await import("../../src/domain/project.ts");
    await store.applyPage(
      projectPage(0, [
        JSON.parse(event50({ Type: injection, StatusCode: injection, User: { RunId: injection } })),
      ]),
    );
    const [row] = readTables(db.path).parcels;
    assertEquals([row?.Type, row?.StatusCode, row?.RunId], [
      injection.toUpperCase(),
      injection,
      injection,
    ]);
  } finally {
    await store.close();
    Deno.removeSync(db.dir, { recursive: true });
  }
});

Deno.test("a page with more events than Limit is processed and logged", async () => {
  records.length = 0;
  const db = tempDatabase("scan-worker-corpus-limit-");
  const store = new SqliteStore(db.path);
  const events = Array.from(
    { length: 5 },
    (_, i) => JSON.parse(event50({ EventId: i + 1, ParcelId: i + 1 })),
  );
  let served = false;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    const body = JSON.stringify({ ScanEvents: served ? [] : events });
    served = true;
    return new Response(body);
  });
  try {
    await store.migrate();
    await drain(store, `http://127.0.0.1:${server.addr.port}/x`, {
      limit: 2,
      maxBodyBytes: 1024 * 1024,
    });
    assertEquals(readTables(db.path).checkpoint, 5);
    const warning = records.find((r) =>
      String(r.rawMessage).startsWith("Page from {from} has {events} events")
    );
    assertEquals([warning?.level, warning?.properties.events, warning?.properties.limit], [
      "warning",
      5,
      2,
    ]);
  } finally {
    await store.close();
    await server.shutdown();
    Deno.removeSync(db.dir, { recursive: true });
    await reset();
  }
});
