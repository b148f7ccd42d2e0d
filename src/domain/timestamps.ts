/**
 * Timestamp normalisation (docs/rules.md §3.2 and §3.5), done on text and integers only.
 *
 * JavaScript `Date` keeps milliseconds, the feed sends up to seven fraction digits, so the
 * fraction is carried as text and only the whole seconds go through calendar arithmetic.
 *
 * @module
 */

/**
 * `YYYY-MM-DD`, then `T` or one space, `HH:MM:SS`, an optional fraction of 1–7 digits, and a
 * zone `Z` or `±HH:MM`.
 */
const ISO_DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?(Z|[+-]\d{2}:\d{2})$/;

const SECONDS_PER_DAY = 86_400;

/** Whether `year` is a leap year of the proleptic Gregorian calendar. */
export function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/**
 * The number of days in a month of the proleptic Gregorian calendar.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { daysInMonth } from "./timestamps.ts";
 * assert.equal(daysInMonth(2024, 2), 29);
 * ```
 */
export function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { daysFromCivil } from "./timestamps.ts";
 * assert.equal(daysFromCivil(1970, 1, 1), 0);
 * ```
 */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = (month + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

/**
 * The civil date of a day count since 1970-01-01 (inverse of {@link daysFromCivil}).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { civilFromDays } from "./timestamps.ts";
 * assert.deepEqual(civilFromDays(0), [1970, 1, 1]);
 * ```
 */
export function civilFromDays(days: number): [year: number, month: number, day: number] {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) -
      Math.floor(doe / 146_096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  return [year, month, day];
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, "0");
}

/** Character positions of the digits in `YYYY-MM-DDTHH:MM:SS.fffffffZ`. */
const CANONICAL_DIGITS = [
  0,
  1,
  2,
  3,
  5,
  6,
  8,
  9,
  11,
  12,
  14,
  15,
  17,
  18,
  20,
  21,
  22,
  23,
  24,
  25,
  26,
];

/** The number written by the digits of `text` from `start` (inclusive) to `end` (exclusive). */
function digitsAt(text: string, start: number, end: number): number {
  let value = 0;
  for (let i = start; i < end; i++) value = value * 10 + text.charCodeAt(i) - 48;
  return value;
}

/**
 * Whether `text` is already normalised: `YYYY-MM-DDTHH:MM:SS.fffffffZ`, a real date and time
 * of years 0001–9999. Most feeds send exactly this, and it normalises to itself, so checking
 * it character by character spares the general parse.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isNormalised } from "./timestamps.ts";
 * assert.equal(isNormalised("2021-05-11T21:11:34.1500000Z"), true);
 * assert.equal(isNormalised("2021-02-29T21:11:34.1500000Z"), false); // 2021 is not a leap year
 * ```
 */
export function isNormalised(text: string): boolean {
  if (text.length !== 28) return false;
  if (
    text[4] !== "-" || text[7] !== "-" || text[10] !== "T" || text[13] !== ":" ||
    text[16] !== ":" || text[19] !== "." || text[27] !== "Z"
  ) return false;
  for (const i of CANONICAL_DIGITS) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  const year = digitsAt(text, 0, 4), month = digitsAt(text, 5, 7), day = digitsAt(text, 8, 10);
  return year >= 1 && month >= 1 && month <= 12 && day >= 1 &&
    day <= daysInMonth(year, month) && digitsAt(text, 11, 13) <= 23 &&
    digitsAt(text, 14, 16) <= 59 && digitsAt(text, 17, 19) <= 59;
}

/**
 * Normalise an API timestamp to UTC with seven fraction digits (docs/rules.md §3.5).
 *
 * Accepts `T` or one space between date and time, 1–7 fraction digits and a zone `Z` or
 * `±HH:MM` (docs/rules.md §3.2). Rejects impossible calendar dates (Feb 30, month 13, hour 24, second
 * 60) and results outside years 0001–9999, the range every store can hold.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { normaliseTimestamp } from "./timestamps.ts";
 * assert.equal(normaliseTimestamp("2024-02-01T10:00:00+13:00"), "2024-01-31T21:00:00.0000000Z");
 * assert.equal(normaliseTimestamp("2021-05-11 21:11:34.15Z"), "2021-05-11T21:11:34.1500000Z");
 * assert.equal(normaliseTimestamp("2021-05-11"), null);
 * ```
 * @returns the normalised text, or null when the input is not a valid ISO-8601 date-time.
 */
export function normaliseTimestamp(text: string): string | null {
  return isNormalised(text) ? text : parseTimestamp(text);
}

/**
 * {@link normaliseTimestamp} by the general parse, for any accepted form. Exported so tests can
 * hold the already-normalised shortcut to it.
 */
export function parseTimestamp(text: string): string | null {
  const match = ISO_DATE_TIME.exec(text);
  if (match === null) return null;
  const [, y, mo, d, h, mi, s, fraction = "", zone = "Z"] = match;
  const year = Number(y), month = Number(mo), day = Number(d);
  const hour = Number(h), minute = Number(mi), second = Number(s);
  if (year < 1 || month < 1 || month > 12) return null;
  if (day < 1 || day > daysInMonth(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;

  let offsetSeconds = 0;
  if (zone !== "Z") {
    const offsetHours = Number(zone.slice(1, 3));
    const offsetMinutes = Number(zone.slice(4, 6));
    if (offsetHours > 23 || offsetMinutes > 59) return null;
    offsetSeconds = (zone[0] === "-" ? -1 : 1) * (offsetHours * 3600 + offsetMinutes * 60);
  }

  // Local wall-clock time minus the offset is UTC; whole seconds only, the fraction is text.
  const utcSeconds = daysFromCivil(year, month, day) * SECONDS_PER_DAY + hour * 3600 +
    minute * 60 + second - offsetSeconds;
  const days = Math.floor(utcSeconds / SECONDS_PER_DAY);
  const secondOfDay = utcSeconds - days * SECONDS_PER_DAY;
  const [uy, um, ud] = civilFromDays(days);
  if (uy < 1 || uy > 9999) return null;
  const uh = Math.floor(secondOfDay / 3600);
  const umi = Math.floor((secondOfDay % 3600) / 60);
  const us = secondOfDay % 60;
  return `${pad(uy, 4)}-${pad(um, 2)}-${pad(ud, 2)}T${pad(uh, 2)}:${pad(umi, 2)}:${pad(us, 2)}.${
    fraction.padEnd(7, "0")
  }Z`;
}

/**
 * Round a normalised timestamp (docs/rules.md §3.5 text) to microseconds, half up, carrying into the
 * seconds: what a store that keeps microseconds (PostgreSQL) is sent, so its one documented
 * loss is the same everywhere. Returns six fraction digits; the year 9999 ceiling is kept.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { roundToMicroseconds } from "./timestamps.ts";
 * assert.equal(roundToMicroseconds("2021-05-11T21:11:34.1506145Z"), "2021-05-11T21:11:34.150615Z");
 * assert.equal(roundToMicroseconds("2021-12-31T23:59:59.9999996Z"), "2022-01-01T00:00:00.000000Z");
 * ```
 */
export function roundToMicroseconds(text: string): string {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{6})(\d)Z$/.exec(text);
  if (match === null) throw new Error(`not a normalised timestamp: ${text}`);
  const [, y, mo, d, h, mi, s, micro = "", seventh = "0"] = match;
  if (Number(seventh) < 5) return `${text.slice(0, 26)}Z`;
  const rounded = Number(micro) + 1;
  if (rounded < 1_000_000) return `${text.slice(0, 20)}${pad(rounded, 6)}Z`;
  const seconds = daysFromCivil(Number(y), Number(mo), Number(d)) * SECONDS_PER_DAY +
    Number(h) * 3600 + Number(mi) * 60 + Number(s) + 1;
  const days = Math.floor(seconds / SECONDS_PER_DAY);
  const second = seconds - days * SECONDS_PER_DAY;
  const [uy, um, ud] = civilFromDays(days);
  if (uy > 9999) return `${text.slice(0, 20)}999999Z`;
  return `${pad(uy, 4)}-${pad(um, 2)}-${pad(ud, 2)}T${pad(Math.floor(second / 3600), 2)}:${
    pad(Math.floor(second % 3600 / 60), 2)
  }:${pad(second % 60, 2)}.000000Z`;
}

/**
 * A normalised UTC time as milliseconds since the epoch, for ages and lags (never for what is
 * stored: the digits past the millisecond are dropped).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { epochMs } from "./timestamps.ts";
 * assert.equal(epochMs("2021-05-11T21:11:34.1506147Z"), 1620767494150);
 * ```
 */
export function epochMs(text: string): number {
  return Date.parse(text.replace(/(\.\d{3})\d*Z$/, "$1Z"));
}
