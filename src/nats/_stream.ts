/**
 * The worker's stream on the broker: made sure of at connection (created when absent, used as
 * it is when present; a stream that cannot hold the worker's subjects is a configuration error),
 * and read by EventId (where it ends, where an EventId starts, whether it holds one).
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { nanos } from "@nats-io/transport-node";
import {
  JetStreamApiCodes,
  JetStreamApiError,
  StorageType,
  type StoredMsg,
  type StreamInfo,
} from "@nats-io/jetstream";
import { eventIdOf, filterCovers, messageId, SUBJECTS } from "../domain/message.ts";
import { ConfigError } from "../errors.ts";
import type { NatsLink } from "./_link.ts";
import { LATE_HEADER } from "./_publisher.ts";

/** The duplicate window of a stream the worker creates. */
export const DUPLICATE_WINDOW_MS = 10 * 60_000;

/**
 * JetStream's error code for a stream whose subjects overlap another stream's
 * (`JSStreamSubjectOverlapErr` in nats-server's errors.json; the client names no constant).
 */
export const SUBJECTS_OVERLAP = 10065;

/** Whether an error is the JetStream API error `code`. */
function isApiError(error: unknown, code: number): error is JetStreamApiError {
  return error instanceof JetStreamApiError && error.code === code;
}

/**
 * The stream: created when absent (file storage, subjects `scan.v1.events.>`, a 10-minute
 * duplicate window, `NATS_STREAM_MAX_AGE`), used as it is when present (its settings logged).
 * @throws ConfigError naming NATS_STREAM when the stream cannot hold `scan.v1.events.>`: another
 * stream holds those subjects, or the existing one holds others.
 */
export async function ensureStream(
  link: NatsLink,
  maxAgeMs: number,
  logger: Logger,
): Promise<StreamInfo> {
  try {
    const info = await link.jsm.streams.info(link.stream);
    const subjects = info.config.subjects ?? [];
    if (!subjects.some((filter) => filterCovers(filter, SUBJECTS))) {
      throw new ConfigError(
        "NATS_STREAM",
        `the stream ${link.stream} holds ${
          subjects.join(", ") || "no subjects"
        }, not ${SUBJECTS}: ` +
          `name the stream that holds ${SUBJECTS} (the subject space is fixed)`,
      );
    }
    logger.info(
      "Using the existing stream {stream}: subjects {subjects}, duplicate window {duplicateWindowS} s, max age {maxAgeS} s, {messages} messages",
      {
        stream: link.stream,
        subjects: subjects.join(", "),
        duplicateWindowS: (info.config.duplicate_window ?? 0) / 1e9,
        maxAgeS: (info.config.max_age ?? 0) / 1e9,
        messages: info.state.messages,
      },
    );
    return info;
  } catch (error) {
    if (!isApiError(error, JetStreamApiCodes.StreamNotFound)) throw error;
  }
  return await createStream(link, maxAgeMs, logger);
}

/** Create the stream; another stream holding the subjects already is a configuration error. */
async function createStream(link: NatsLink, maxAgeMs: number, logger: Logger): Promise<StreamInfo> {
  let info: StreamInfo;
  try {
    info = await link.jsm.streams.add({
      name: link.stream,
      subjects: [SUBJECTS],
      storage: StorageType.File,
      duplicate_window: nanos(DUPLICATE_WINDOW_MS),
      max_age: nanos(maxAgeMs),
      num_replicas: 1,
    });
  } catch (error) {
    if (!isApiError(error, SUBJECTS_OVERLAP)) throw error;
    const holder = await link.jsm.streams.find(`${SUBJECTS.slice(0, -1)}EVENT.1`).catch(() => null);
    throw new ConfigError(
      "NATS_STREAM",
      `there is no stream ${link.stream}, and ${holder ?? "another stream"} already holds ` +
        `${SUBJECTS} (JetStream error ${SUBJECTS_OVERLAP}): set NATS_STREAM to ${
          holder ?? "that stream"
        } (the subject space is fixed)`,
    );
  }
  logger.info("Created the stream {stream} ({subjects})", {
    stream: link.stream,
    subjects: SUBJECTS,
  });
  return info;
}

/**
 * The stream's message at `seq`; null when the stream no longer holds that sequence (deleted, or
 * before its first sequence now). The broker answers "no message" for any message it fails to
 * load, not only a deleted one (nats-server's message-get handler gives that answer for every
 * store error): a sequence it answers so for but still counts is an error, to be retried, never
 * taken for a hole (a reader positioned past it would lose the message).
 * @throws Error when the broker has no message at a sequence its stream has not deleted.
 */
export function messageAt(link: NatsLink, seq: number): Promise<StoredMsg | null> {
  return new Lookup(link).at(seq);
}

/**
 * Messages read by sequence for one search (a position, the stream's end, an event looked for),
 * as {@link messageAt} reads them, with the stream's list of deleted sequences asked for once:
 * at the first "no message", and again only for a sequence that list does not name (deleted
 * since, or one the broker failed to load). A search that crosses many deleted messages would
 * otherwise fetch the list once per message.
 */
class Lookup {
  readonly #link: NatsLink;
  /** The stream's sequences when last asked; null before. */
  #held: HeldSequences | null = null;

  constructor(link: NatsLink) {
    this.#link = link;
  }

  async at(seq: number): Promise<StoredMsg | null> {
    const link = this.#link;
    const message = await link.jsm.streams.getMessage(link.stream, { seq });
    // A stream never undeletes, but it may have grown past the last it had when asked.
    const held = this.#held;
    if (message !== null || held !== null && seq <= held.last && !holds(held, seq)) return message;
    this.#held = await heldSequences(link);
    if (!holds(this.#held, seq)) return null;
    throw new Error(
      `the broker has no message at sequence ${seq} of the stream ${link.stream}, which has not deleted it`,
    );
  }
}

/** The sequences a stream holds, as its info says: first to last, but the deleted ones. */
interface HeldSequences {
  readonly first: number;
  readonly last: number;
  readonly deleted: ReadonlySet<number>;
}

/** What the stream holds now (its info, with the deleted sequences listed). */
async function heldSequences(link: NatsLink): Promise<HeldSequences> {
  const { state } = await link.jsm.streams.info(link.stream, { deleted_details: true });
  return { first: state.first_seq, last: state.last_seq, deleted: new Set(state.deleted ?? []) };
}

/** Whether `held` has a message at `seq`: not before its first, after its last, or deleted. */
function holds(held: HeldSequences, seq: number): boolean {
  return seq >= held.first && seq <= held.last && !held.deleted.has(seq);
}

/**
 * Whether the stream holds no message at any sequence from `from` up to (not including) `to`:
 * each is before its first sequence, after its last, or among its deleted ones.
 */
export async function deletedBetween(link: NatsLink, from: number, to: number): Promise<boolean> {
  const held = await heldSequences(link);
  for (let seq = Math.max(from, held.first); seq < Math.min(to, held.last + 1); seq++) {
    if (holds(held, seq)) return false;
  }
  return true;
}

/** Where the stream ends: its last sequence, and the last EventId it holds of ours. */
export interface StreamEnd {
  readonly lastSeq: number;
  readonly lastEventId: number;
}

/** How far back from the end to look for a message of ours, past others' messages. */
const LOOK_BACK = 1000;

/**
 * Where the stream ends. The last EventId is read from the last message's `Nats-Msg-Id`
 * (`scan-event-<EventId>`); messages of other writers are stepped over.
 */
export async function streamEnd(link: NatsLink): Promise<StreamEnd> {
  const info = await link.jsm.streams.info(link.stream);
  const lastSeq = info.state.last_seq;
  const lookup = new Lookup(link);
  for (let seq = lastSeq; seq >= Math.max(1, info.state.first_seq, lastSeq - LOOK_BACK); seq--) {
    const message = await lookup.at(seq);
    const eventId = eventIdOf(message?.header?.get("Nats-Msg-Id"));
    if (eventId !== null) return { lastSeq, lastEventId: eventId };
  }
  return { lastSeq, lastEventId: 0 };
}

/**
 * The stream sequence of the first message whose EventId is `eventId` or more: found by halving,
 * a few dozen reads at most. The stream holds EventIds in ascending order but for late events
 * (docs/rules.md §3.10), which follow higher EventIds and are marked with {@link LATE_HEADER}: a
 * probe that lands on one, on a deleted sequence or on another writer's message goes on to the
 * next message in its place (so those right before the position are read too).
 * One past the last sequence when there is none.
 * @throws Error when the broker cannot read a message it holds (see {@link messageAt}).
 */
export async function seqOfEventId(link: NatsLink, eventId: number): Promise<number> {
  const { state } = await link.jsm.streams.info(link.stream);
  let low = Math.max(1, state.first_seq);
  let high = state.last_seq + 1;
  const lookup = new Lookup(link);
  while (low < high) {
    const middle = Math.floor((low + high) / 2);
    const next = await nextInPlace(lookup, middle, high);
    if (next === null || next.eventId >= eventId) high = middle;
    else low = next.seq + 1;
  }
  return low;
}

/**
 * The first message from `seq` on (before `end`) that is in its place (neither late, nor deleted,
 * nor another writer's): its sequence and EventId; null when there is none.
 */
async function nextInPlace(
  lookup: Lookup,
  seq: number,
  end: number,
): Promise<{ seq: number; eventId: number } | null> {
  for (; seq < end; seq++) {
    const message = await lookup.at(seq);
    if (message === null || message.header?.get(LATE_HEADER) === "true") continue;
    const eventId = eventIdOf(message.header?.get("Nats-Msg-Id"));
    if (eventId !== null) return { seq, eventId };
  }
  return null;
}

/**
 * Whether the stream holds the message of `eventId` at or before sequence `lastSeq`. An event in
 * its place is looked for where {@link seqOfEventId} puts it (then over late events' and other
 * writers' messages, up to the first higher EventId); a late event (docs/rules.md §3.10), which
 * follows higher EventIds, among the last 1000 messages up to `lastSeq`.
 */
export async function holdsEvent(
  link: NatsLink,
  eventId: number,
  late: boolean,
  lastSeq: number,
): Promise<boolean> {
  const wanted = messageId(eventId);
  const { state } = await link.jsm.streams.info(link.stream);
  const first = Math.max(1, state.first_seq);
  let seq = late ? Math.max(first, lastSeq - LOOK_BACK) : await seqOfEventId(link, eventId);
  const lookup = new Lookup(link);
  for (const stop = Math.min(lastSeq, seq + LOOK_BACK); seq <= stop; seq++) {
    const message = await lookup.at(seq);
    const id = message?.header?.get("Nats-Msg-Id");
    if (id === wanted) return true;
    const found = eventIdOf(id);
    const stepOver = late || found === null || message?.header?.get(LATE_HEADER) === "true";
    if (!stepOver && (found as number) > eventId) return false;
  }
  return false;
}
