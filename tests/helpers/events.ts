/**
 * Raw feed events for the tests, as the Scan Event API sends them: one builder and a few named
 * parts, so every test writes its events the same way.
 *
 * @module
 */

/** A raw event: JSON the API could send (valid unless a test breaks it). */
export type RawEvent = Record<string, unknown>;

/** The default CreatedDateTimeUtc of {@link scanEvent}. */
export const T0 = "2021-05-11T10:00:00Z";

/** The fields a courier's scanner fills in beyond the required ones. */
export const COURIER: RawEvent = { StatusCode: "", User: { RunId: "R1" } };

/**
 * A raw event with the required fields, plus `extra` (which may replace any of them).
 * @example scanEvent(1, 7, "PICKUP") // { EventId: 1, ParcelId: 7, Type: "PICKUP", CreatedDateTimeUtc: T0 }
 */
export function scanEvent(
  eventId: unknown,
  parcelId: unknown,
  type: unknown = "STATUS",
  created: unknown = T0,
  extra: RawEvent = {},
): RawEvent {
  return {
    EventId: eventId,
    ParcelId: parcelId,
    Type: type,
    CreatedDateTimeUtc: created,
    ...extra,
  };
}

/**
 * `2021-05-11T10:MM:00.1234567Z`: a time `m` minutes after 10:00, to keep cases short.
 * @example minute(5) // "2021-05-11T10:05:00.1234567Z"
 */
export function minute(m: number): string {
  return `2021-05-11T10:${String(m).padStart(2, "0")}:00.1234567Z`;
}

/** `event` with `changes` applied and the fields named in `remove` taken out. */
export function edited(
  event: RawEvent,
  changes: RawEvent,
  remove: readonly string[] = [],
): RawEvent {
  const copy: RawEvent = { ...event, ...changes };
  for (const key of remove) delete copy[key];
  return copy;
}
