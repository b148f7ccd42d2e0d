import { assertEquals } from "../helpers/assert.ts";
import { toDecimalText, validateEvent } from "../../src/domain/validate.ts";

/** A valid event as the API documents it, with fields replaced or removed by `changes`. */
function raw(changes: Record<string, unknown> = {}): Record<string, unknown> {
  const event: Record<string, unknown> = {
    EventId: 83269,
    ParcelId: 5002,
    Type: "PICKUP",
    CreatedDateTimeUtc: "2021-05-11T21:11:34.1506147Z",
    StatusCode: "",
    Device: { DeviceTransactionId: 83269, DeviceId: 103 },
    User: { UserId: "NC1001", CarrierId: "NC", RunId: "100" },
  };
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined) delete event[key];
    else event[key] = value;
  }
  return event;
}

/** The rejection reason for `event`, or "valid". */
function reasonOf(event: unknown): string {
  const result = validateEvent(event);
  return result.ok ? "valid" : result.rejection.reason;
}

function rejectedId(event: unknown): number | null | "valid" {
  const result = validateEvent(event);
  return result.ok ? "valid" : result.rejection.eventId;
}

Deno.test("the documented example event is valid and normalised", () => {
  assertEquals(validateEvent(raw()), {
    ok: true,
    event: {
      eventId: 83269,
      parcelId: 5002,
      type: "PICKUP",
      statusCode: "",
      runId: "100",
      createdDateTimeUtc: "2021-05-11T21:11:34.1506147Z",
    },
  });
});

Deno.test("Type is trimmed and upper-cased, unknown types are kept", () => {
  const mixed = validateEvent(raw({ Type: "  Delivery " }));
  assertEquals(mixed.ok && mixed.event.type, "DELIVERY");
  const unknown = validateEvent(raw({ Type: "customs-hold" }));
  assertEquals(unknown.ok && unknown.event.type, "CUSTOMS-HOLD");
});

Deno.test("a Type of exactly 50 characters after trimming is valid, 51 is not", () => {
  assertEquals(reasonOf(raw({ Type: `  ${"A".repeat(50)}  ` })), "valid");
  assertEquals(reasonOf(raw({ Type: "A".repeat(51) })), "Type is longer than 50 characters (51)");
});

Deno.test("an empty or blank Type is rejected", () => {
  assertEquals(reasonOf(raw({ Type: "" })), "Type is empty");
  assertEquals(reasonOf(raw({ Type: "   " })), "Type is empty");
});

Deno.test("a Type that is not a string is rejected", () => {
  assertEquals(reasonOf(raw({ Type: 1 })), "Type must be a string, got the number 1");
  assertEquals(reasonOf(raw({ Type: null })), "Type must be a string, got null");
  assertEquals(reasonOf(raw({ Type: undefined })), "Type is missing");
});

Deno.test("EventId must be an integer JSON number in 1..2^53-1", () => {
  assertEquals(
    reasonOf(raw({ EventId: "83269" })),
    "EventId must be an integer JSON number, got a string",
  );
  assertEquals(reasonOf(raw({ EventId: 0 })), "EventId 0 is outside 1..2^53-1");
  assertEquals(reasonOf(raw({ EventId: -5 })), "EventId -5 is outside 1..2^53-1");
  assertEquals(
    reasonOf(raw({ EventId: 1.5 })),
    "EventId must be an integer JSON number, got the number 1.5",
  );
  assertEquals(
    reasonOf(raw({ EventId: 2 ** 53 })),
    "EventId 9007199254740992 is outside 1..2^53-1",
  );
  assertEquals(
    reasonOf(raw({ EventId: null })),
    "EventId must be an integer JSON number, got null",
  );
  assertEquals(reasonOf(raw({ EventId: undefined })), "EventId is missing");
  assertEquals(reasonOf(raw({ EventId: 2 ** 53 - 1 })), "valid");
});

Deno.test("a rejection keeps the EventId only when it is usable", () => {
  assertEquals(rejectedId(raw({ EventId: "83269" })), null);
  assertEquals(rejectedId(raw({ ParcelId: "5002" })), 83269);
  assertEquals(rejectedId(raw({ CreatedDateTimeUtc: "yesterday" })), 83269);
});

Deno.test("ParcelId must be an integer JSON number in 1..2^53-1", () => {
  assertEquals(
    reasonOf(raw({ ParcelId: "5002" })),
    "ParcelId must be an integer JSON number, got a string",
  );
  assertEquals(reasonOf(raw({ ParcelId: 0 })), "ParcelId 0 is outside 1..2^53-1");
  assertEquals(reasonOf(raw({ ParcelId: undefined })), "ParcelId is missing");
  assertEquals(
    reasonOf(raw({ ParcelId: 5002.25 })),
    "ParcelId must be an integer JSON number, got the number 5002.25",
  );
});

Deno.test("CreatedDateTimeUtc must be a string holding an ISO-8601 date-time", () => {
  assertEquals(
    reasonOf(raw({ CreatedDateTimeUtc: "2021-02-30T10:00:00Z" })),
    'CreatedDateTimeUtc "2021-02-30T10:00:00Z" is not an ISO-8601 date-time',
  );
  assertEquals(
    reasonOf(raw({ CreatedDateTimeUtc: 1620767494 })),
    "CreatedDateTimeUtc must be a string, got the number 1620767494",
  );
  assertEquals(
    reasonOf(raw({ CreatedDateTimeUtc: undefined })),
    "CreatedDateTimeUtc is missing",
  );
});

Deno.test("CreatedDateTimeUtc with an offset is stored in UTC", () => {
  const result = validateEvent(raw({ CreatedDateTimeUtc: "2021-05-12T09:11:34.15+12:00" }));
  assertEquals(result.ok && result.event.createdDateTimeUtc, "2021-05-11T21:11:34.1500000Z");
});

Deno.test("StatusCode absent or null is stored as an empty string", () => {
  const absent = validateEvent(raw({ StatusCode: undefined }));
  assertEquals(absent.ok && absent.event.statusCode, "");
  const nulled = validateEvent(raw({ StatusCode: null }));
  assertEquals(nulled.ok && nulled.event.statusCode, "");
});

Deno.test("a numeric StatusCode is stored as its decimal text", () => {
  const result = validateEvent(raw({ StatusCode: 42 }));
  assertEquals(result.ok && result.event.statusCode, "42");
  const big = validateEvent(raw({ StatusCode: 1e21 }));
  assertEquals(big.ok && big.event.statusCode, "1000000000000000000000");
});

Deno.test("StatusCode is kept verbatim, not trimmed", () => {
  const result = validateEvent(raw({ StatusCode: " Left at door " }));
  assertEquals(result.ok && result.event.statusCode, " Left at door ");
});

Deno.test("a StatusCode of 100 characters is valid, 101 is not", () => {
  assertEquals(reasonOf(raw({ StatusCode: "x".repeat(100) })), "valid");
  assertEquals(
    reasonOf(raw({ StatusCode: "x".repeat(101) })),
    "StatusCode is longer than 100 characters (101)",
  );
});

Deno.test("a StatusCode that is a boolean, object or array is rejected", () => {
  assertEquals(
    reasonOf(raw({ StatusCode: true })),
    "StatusCode must be a string or a number, got a boolean",
  );
  assertEquals(
    reasonOf(raw({ StatusCode: {} })),
    "StatusCode must be a string or a number, got an object",
  );
  assertEquals(
    reasonOf(raw({ StatusCode: [] })),
    "StatusCode must be a string or a number, got an array",
  );
});

Deno.test("RunId absent, null, or without a User object is null", () => {
  for (const user of [undefined, null, {}, { RunId: null }, "NC1001"]) {
    const result = validateEvent(raw({ User: user }));
    assertEquals(result.ok && result.event.runId, null, JSON.stringify(user));
  }
});

Deno.test("a numeric RunId is written in decimal", () => {
  const result = validateEvent(raw({ User: { RunId: 100 } }));
  assertEquals(result.ok && result.event.runId, "100");
  const fraction = validateEvent(raw({ User: { RunId: 2.5 } }));
  assertEquals(fraction.ok && fraction.event.runId, "2.5");
});

Deno.test("a RunId of 50 characters is valid, 51 is not, a boolean is not", () => {
  assertEquals(reasonOf(raw({ User: { RunId: "r".repeat(50) } })), "valid");
  assertEquals(
    reasonOf(raw({ User: { RunId: "r".repeat(51) } })),
    "User.RunId is longer than 50 characters (51)",
  );
  assertEquals(
    reasonOf(raw({ User: { RunId: false } })),
    "User.RunId must be a string or a number, got a boolean",
  );
});

Deno.test("unknown extra fields are ignored", () => {
  const result = validateEvent(raw({ Extra: { nested: [1, 2] }, Device: "gone" }));
  assertEquals(result.ok, true);
});

Deno.test("an event that is not an object is rejected without an EventId", () => {
  for (
    const [value, reason] of [
      [null, "event must be a JSON object, got null"],
      [[1, 2], "event must be a JSON object, got an array"],
      ["PICKUP", "event must be a JSON object, got a string"],
      [7, "event must be a JSON object, got the number 7"],
    ] as const
  ) {
    assertEquals(validateEvent(value), {
      ok: false,
      rejection: { eventId: null, reason, payload: JSON.stringify(value) },
    });
  }
});

Deno.test("a rejection carries the event's JSON as payload", () => {
  const event = raw({ Type: "" });
  const result = validateEvent(event);
  assertEquals(result.ok ? "" : result.rejection.payload, JSON.stringify(event));
});

Deno.test("numbers are written in plain decimal, never in exponent form", () => {
  assertEquals(toDecimalText(100), "100");
  assertEquals(toDecimalText(-2.5), "-2.5");
  assertEquals(toDecimalText(1e21), "1000000000000000000000");
  assertEquals(toDecimalText(1.25e22), "12500000000000000000000");
  assertEquals(toDecimalText(1.5e-7), "0.00000015");
  assertEquals(toDecimalText(-1e-7), "-0.0000001");
});
