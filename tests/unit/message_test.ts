import { assertEquals } from "../helpers/assert.ts";
import { COURIER, scanEvent } from "../helpers/events.ts";
import {
  bodyOf,
  eventIdOf,
  filterCovers,
  messageId,
  outboxRows,
  rawEventOf,
  subjectFilter,
  subjectOf,
  SUBJECTS,
  typeToken,
} from "../../src/domain/message.ts";
import { type ScanEvent, validateEvent } from "../../src/domain/validate.ts";

/** The accepted event a raw one becomes, or a failure naming why not. */
function accepted(raw: Record<string, unknown>): ScanEvent {
  const result = validateEvent(raw);
  if (!result.ok) throw new Error(`expected an accepted event: ${result.rejection.reason}`);
  return result.event;
}

Deno.test("the body is the normalised event, keys in the documented order (docs/rules.md §7)", () => {
  const event = accepted(
    scanEvent(1, 7, " pickup ", "2021-05-11T21:11:34.1506147Z", {
      StatusCode: "",
      User: { RunId: 100 },
    }),
  );
  assertEquals(
    bodyOf(event),
    '{"EventId":1,"ParcelId":7,"Type":"PICKUP","CreatedDateTimeUtc":"2021-05-11T21:11:34.1506147Z","StatusCode":"","RunId":"100"}',
  );
});

Deno.test("the body has RunId null and StatusCode empty when the event had neither", () => {
  const event = accepted(scanEvent(2, 8, "STATUS", "2021-05-11T10:00:00+02:00"));
  assertEquals(JSON.parse(bodyOf(event)), {
    EventId: 2,
    ParcelId: 8,
    Type: "STATUS",
    CreatedDateTimeUtc: "2021-05-11T08:00:00.0000000Z",
    StatusCode: "",
    RunId: null,
  });
});

Deno.test("a body survives any text in Type and StatusCode as JSON", () => {
  const nasty = 'QUOTE"\\BACK\u0001\u2028漢字';
  const event = accepted(scanEvent(3, 9, nasty, undefined, { StatusCode: nasty }));
  const body = JSON.parse(bodyOf(event));
  assertEquals([body.Type, body.StatusCode], [nasty.toUpperCase(), nasty]);
});

Deno.test("the type token keeps A-Z 0-9 _ - and replaces everything else with _", () => {
  const cases: [string, string][] = [
    ["PICKUP", "PICKUP"],
    ["CUSTOMS HOLD", "CUSTOMS_HOLD"],
    ["OUT_FOR-DELIVERY2", "OUT_FOR-DELIVERY2"],
    ["A.B*C>D", "A_B_C_D"],
    ["ÉTAT", "_TAT"],
    ["漢字", "__"],
    ["TAB\tNL\n", "TAB_NL_"],
    ["", ""],
  ];
  for (const [type, token] of cases) assertEquals(typeToken(type), token, JSON.stringify(type));
});

Deno.test("every character of a type token is one a subject token allows", () => {
  for (let code = 0; code < 0x3000; code++) {
    const token = typeToken(`X${String.fromCharCode(code)}Y`);
    assertEquals(/^[A-Z0-9_-]+$/.test(token), true, `U+${code.toString(16)}`);
  }
});

Deno.test("the subject is scan.v1.events.<TypeToken>.<ParcelId>, inside the stream's subjects", () => {
  assertEquals(subjectOf({ type: "PICKUP", parcelId: 5002 }), "scan.v1.events.PICKUP.5002");
  assertEquals(
    subjectOf({ type: "IN TRANSIT.HUB", parcelId: 9007199254740991 }),
    "scan.v1.events.IN_TRANSIT_HUB.9007199254740991",
  );
  assertEquals(SUBJECTS, "scan.v1.events.>");
  assertEquals(subjectOf({ type: "X", parcelId: 1 }).split(".").length, 5);
});

Deno.test("a subject filter takes a type as typed on the command line, and a parcel", () => {
  assertEquals(subjectFilter(null, null), "scan.v1.events.*.*");
  assertEquals(subjectFilter(" delivery ", null), "scan.v1.events.DELIVERY.*");
  assertEquals(subjectFilter(null, 5002), "scan.v1.events.*.5002");
  assertEquals(subjectFilter("customs hold", 7), "scan.v1.events.CUSTOMS_HOLD.7");
});

Deno.test("a message id names its EventId, and only ours are read back", () => {
  for (const id of [1, 83269, Number.MAX_SAFE_INTEGER]) {
    assertEquals(messageId(id), `scan-event-${id}`);
    assertEquals(eventIdOf(messageId(id)), id);
  }
  for (
    const other of [
      null,
      undefined,
      "",
      "scan-event-",
      "scan-event-0",
      "scan-event-01",
      "scan-event-1.5",
      "scan-event--1",
      "scan-event-99999999999999999",
      "other-1",
      " scan-event-1",
    ]
  ) {
    assertEquals(eventIdOf(other), null, JSON.stringify(other));
  }
});

Deno.test("outbox rows keep the page's order and pair each event with its subject and body", () => {
  const events = [
    accepted(scanEvent(4, 7, "PICKUP")),
    accepted(scanEvent(5, 8, "DELIVERY")),
    accepted(scanEvent(6, 7, "STATUS")),
  ];
  assertEquals(
    outboxRows(events),
    events.map((event) => ({
      eventId: event.eventId,
      subject: subjectOf(event),
      body: bodyOf(event),
    })),
  );
  assertEquals(outboxRows(events).map((row) => row.eventId), [4, 5, 6]);
  assertEquals(outboxRows([]), []);
});

Deno.test("a body read back as a raw event validates to the event it was made from", () => {
  const raws = [
    scanEvent(1, 7, " pickup ", "2021-05-11T21:11:34.1506147Z", {
      StatusCode: "",
      User: { RunId: 100 },
    }),
    scanEvent(2, 8, "STATUS", "2021-05-11T10:00:00+02:00"),
    scanEvent(3, 9, 'QUOTE"\\BACK\u2028漢字', "2021-05-11T10:00:00.5Z", {
      StatusCode: "HELD AT DEPOT",
      User: { RunId: "R-17" },
    }),
    scanEvent(9007199254740991, 1, "DELIVERY", "2021-05-11T23:59:59.9999999Z", {
      User: { RunId: null },
    }),
  ];
  for (const raw of raws) {
    const event = accepted(raw);
    const again = accepted(rawEventOf(JSON.parse(bodyOf(event))));
    assertEquals(again, event, JSON.stringify(raw));
    assertEquals(bodyOf(again), bodyOf(event));
  }
});

Deno.test("a raw event read back carries RunId under User, as the API sends it", () => {
  const body = JSON.parse(bodyOf(accepted(scanEvent(4, 5, "PICKUP", undefined, COURIER))));
  assertEquals(rawEventOf(body), {
    EventId: 4,
    ParcelId: 5,
    Type: "PICKUP",
    CreatedDateTimeUtc: "2021-05-11T10:00:00.0000000Z",
    StatusCode: "",
    User: { RunId: "R1" },
  });
});

Deno.test("a body of another shape is read back the same way: every key kept, in order, RunId under User", () => {
  const bodies: Record<string, unknown>[] = [
    { EventId: 1, ParcelId: 2, Type: "T", CreatedDateTimeUtc: "x", StatusCode: "", RunId: "r" },
    { ParcelId: 2, EventId: 1, Type: "T", CreatedDateTimeUtc: "x", StatusCode: "", RunId: "r" },
    { EventId: 1, ParcelId: 2, Type: "T", CreatedDateTimeUtc: "x", StatusCode: "" },
    { EventId: 1, ParcelId: 2, Type: "T", CreatedDateTimeUtc: "x", StatusCode: "", RunId: 1, X: 0 },
    { Extra: true, RunId: "r" },
    {},
  ];
  for (const body of bodies) {
    const { RunId, ...rest } = body;
    const read = rawEventOf(body as never);
    assertEquals(read, { ...rest, User: { RunId } }, JSON.stringify(body));
    assertEquals(Object.keys(read), [...Object.keys(rest), "User"], JSON.stringify(body));
  }
});

Deno.test("a stream filter covers the worker's subjects only when it matches every one of them", () => {
  const cases: [string, boolean][] = [
    ["scan.v1.events.>", true],
    ["scan.v1.>", true],
    ["scan.>", true],
    [">", true],
    ["*.v1.events.>", true],
    ["scan.*.events.>", true],
    ["scan.v1.events.*", false],
    ["scan.v1.events.*.*", false],
    ["scan.v1.events.PICKUP.>", false],
    ["scan.v2.events.>", false],
    ["scan.v1.events", false],
    ["orders.>", false],
  ];
  for (const [filter, covers] of cases) {
    assertEquals(filterCovers(filter, SUBJECTS), covers, filter);
  }
});
