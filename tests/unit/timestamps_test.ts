import { assertEquals } from "../helpers/assert.ts";
import {
  civilFromDays,
  daysFromCivil,
  isNormalised,
  normaliseTimestamp,
  parseTimestamp,
  roundToMicroseconds,
} from "../../src/domain/timestamps.ts";

Deno.test("a 7-digit UTC timestamp is kept as it is", () => {
  assertEquals(normaliseTimestamp("2021-05-11T21:11:34.1506147Z"), "2021-05-11T21:11:34.1506147Z");
});

Deno.test("missing fraction digits are zero-filled to seven", () => {
  assertEquals(normaliseTimestamp("2021-05-11T21:11:34Z"), "2021-05-11T21:11:34.0000000Z");
  assertEquals(normaliseTimestamp("2021-05-11T21:11:34.1Z"), "2021-05-11T21:11:34.1000000Z");
  assertEquals(normaliseTimestamp("2021-05-11T21:11:34.123Z"), "2021-05-11T21:11:34.1230000Z");
  assertEquals(normaliseTimestamp("2021-05-11T21:11:34.123456Z"), "2021-05-11T21:11:34.1234560Z");
});

Deno.test("a +13:00 offset is converted to UTC across a day and month boundary", () => {
  assertEquals(normaliseTimestamp("2024-02-01T10:00:00+13:00"), "2024-01-31T21:00:00.0000000Z");
});

Deno.test("a negative offset moves forward across a year boundary and keeps the fraction", () => {
  assertEquals(
    normaliseTimestamp("2021-12-31T22:30:00.9999999-05:30"),
    "2022-01-01T04:00:00.9999999Z",
  );
});

Deno.test("offset +00:00 and -00:00 equal Z", () => {
  assertEquals(normaliseTimestamp("2021-05-11T21:11:34+00:00"), "2021-05-11T21:11:34.0000000Z");
  assertEquals(normaliseTimestamp("2021-05-11T21:11:34-00:00"), "2021-05-11T21:11:34.0000000Z");
});

Deno.test("an offset lands on Feb 29 of a leap year", () => {
  assertEquals(normaliseTimestamp("2024-03-01T01:00:00+02:00"), "2024-02-29T23:00:00.0000000Z");
});

Deno.test("one space may separate date and time", () => {
  assertEquals(normaliseTimestamp("2021-05-11 21:11:34.15Z"), "2021-05-11T21:11:34.1500000Z");
});

Deno.test("impossible calendar dates are invalid", () => {
  for (
    const text of [
      "2021-02-30T00:00:00Z",
      "2021-02-29T00:00:00Z", // 2021 is not a leap year
      "1900-02-29T00:00:00Z", // 1900 is not a leap year
      "2021-04-31T00:00:00Z",
      "2021-13-01T00:00:00Z",
      "2021-00-10T00:00:00Z",
      "2021-01-00T00:00:00Z",
      "2021-01-01T24:00:00Z",
      "2021-01-01T23:60:00Z",
      "2021-01-01T23:59:60Z",
      "0000-01-01T00:00:00Z",
    ]
  ) {
    assertEquals(normaliseTimestamp(text), null, text);
  }
});

Deno.test("Feb 29 of a leap year and of year 2000 are valid", () => {
  assertEquals(normaliseTimestamp("2024-02-29T12:00:00Z"), "2024-02-29T12:00:00.0000000Z");
  assertEquals(normaliseTimestamp("2000-02-29T12:00:00Z"), "2000-02-29T12:00:00.0000000Z");
});

Deno.test("texts that are not ISO-8601 date-times with a zone are invalid", () => {
  for (
    const text of [
      "",
      "2021-05-11",
      "2021-05-11T21:11:34", // no zone
      "2021-05-11T21:11Z", // no seconds
      "2021-05-11T21:11:34.12345678Z", // 8 fraction digits
      "2021-05-11T21:11:34.Z", // empty fraction
      "2021-05-11  21:11:34Z", // two spaces
      "2021-05-11t21:11:34Z",
      "2021-05-11T21:11:34z",
      "2021-05-11T21:11:34+0100", // offset without colon
      "2021-05-11T21:11:34+01", // offset without minutes
      "2021-05-11T21:11:34+24:00", // offset hour out of range
      "2021-05-11T21:11:34+01:60",
      "11/05/2021 21:11:34",
      "Tue, 11 May 2021 21:11:34 GMT",
      " 2021-05-11T21:11:34Z",
      "2021-05-11T21:11:34Z ",
      "+002021-05-11T21:11:34Z",
      "２０２１-05-11T21:11:34Z", // full-width digits
    ]
  ) {
    assertEquals(normaliseTimestamp(text), null, JSON.stringify(text));
  }
});

Deno.test("an offset that pushes the time outside years 0001-9999 is invalid", () => {
  assertEquals(normaliseTimestamp("0001-01-01T00:30:00+01:00"), null);
  assertEquals(normaliseTimestamp("9999-12-31T23:30:00-01:00"), null);
  assertEquals(normaliseTimestamp("9999-12-31T22:30:00-01:00"), "9999-12-31T23:30:00.0000000Z");
});

Deno.test("day counting matches known dates", () => {
  assertEquals(daysFromCivil(1970, 1, 1), 0);
  assertEquals(daysFromCivil(2000, 3, 1), 11_017);
  assertEquals(daysFromCivil(1969, 12, 31), -1);
  assertEquals(civilFromDays(11_016), [2000, 2, 29]);
  assertEquals(civilFromDays(-719_162), [1, 1, 1]);
});

Deno.test("rounding to microseconds is half up and carries into seconds, days and years", () => {
  assertEquals(roundToMicroseconds("2021-05-11T21:11:34.1506144Z"), "2021-05-11T21:11:34.150614Z");
  assertEquals(roundToMicroseconds("2021-05-11T21:11:34.1506145Z"), "2021-05-11T21:11:34.150615Z");
  assertEquals(roundToMicroseconds("2021-05-11T21:11:34.0000000Z"), "2021-05-11T21:11:34.000000Z");
  assertEquals(roundToMicroseconds("2021-05-11T21:11:59.9999995Z"), "2021-05-11T21:12:00.000000Z");
  assertEquals(roundToMicroseconds("2021-12-31T23:59:59.9999996Z"), "2022-01-01T00:00:00.000000Z");
  assertEquals(roundToMicroseconds("2024-02-28T23:59:59.9999999Z"), "2024-02-29T00:00:00.000000Z");
  assertEquals(roundToMicroseconds("9999-12-31T23:59:59.9999999Z"), "9999-12-31T23:59:59.999999Z");
});

Deno.test("the already-normalised shortcut agrees with the general parse on every near miss", () => {
  // Start from normalised texts and change one character at a time to every character that
  // occurs in timestamps: each result must be what the general parse gives.
  const alphabet = "0123456789-:.TZ +x";
  const seeds = [
    "2021-05-11T21:11:34.1500000Z",
    "2024-02-29T23:59:59.9999999Z",
    "0001-01-01T00:00:00.0000000Z",
    "9999-12-31T23:59:59.9999999Z",
    "2100-02-28T12:30:45.0000001Z",
  ];
  let shortcut = 0;
  for (const seed of seeds) {
    for (let i = 0; i < seed.length; i++) {
      for (const c of alphabet) {
        const text = seed.slice(0, i) + c + seed.slice(i + 1);
        assertEquals(normaliseTimestamp(text), parseTimestamp(text), text);
        if (isNormalised(text)) {
          shortcut++;
          assertEquals(parseTimestamp(text), text, text);
        }
      }
    }
  }
  // The shortcut was taken, and rejected impossible days such as Feb 29 of 2100.
  assertEquals(shortcut > 100, true);
  assertEquals(isNormalised("2100-02-29T12:30:45.0000001Z"), false);
  assertEquals(isNormalised("2021-05-11T21:11:34.15Z"), false);
});
