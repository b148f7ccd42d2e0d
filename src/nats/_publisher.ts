/**
 * Publishing to a JetStream stream with acknowledgements, many in flight, at a fraction of the
 * client's per-message cost. A JetStream publish is a core NATS message with a reply subject;
 * the stream answers that subject with its acknowledgement (`{"stream","seq","duplicate"}` or
 * `{"error":{"code","err_code","description"}}`). `JetStreamClient.publish` does the same with
 * a request, a timer and a parsed object per message: measured here at about 115 µs of client
 * CPU per message (9k messages/s, CPU-bound, window 256); this publisher, with the client's core
 * `publish`, headers and one wildcard subscription for every reply, at about 22 µs (36k/s).
 *
 * A message may also go without a reply subject ({@link Publisher.send} with no timeout): the
 * stream stores it and answers nothing. Chained on `Nats-Expected-Last-Msg-Id` (each message
 * expects the one before it to be the stream's last), the acknowledgement of a later message
 * says every one before it was stored, in order: the stream refuses the first message after one
 * it did not store, and every one after that, whatever else was written to the stream. So the
 * relay asks for one acknowledgement per batch.
 *
 * @module
 */

import {
  createInbox,
  type Msg,
  type MsgHdrs,
  MsgHdrsImpl,
  type NatsConnection,
} from "@nats-io/transport-node";
import { TRACEPARENT_HEADER } from "../domain/message.ts";

/** The stream's acknowledgement of a stored (or already held) message. */
export interface Ack {
  /** The message's sequence in the stream. */
  readonly seq: number;
  /** The stream already held a message with this `Nats-Msg-Id` (in its duplicate window). */
  readonly duplicate: boolean;
}

/**
 * The header of a late event's message (docs/rules.md §3.10): it follows events with higher
 * EventIds, so a reader that looks for its place in the stream by EventId steps over it.
 */
export const LATE_HEADER = "Scan-Late-Event";

/** The stream refused a message (an `error` in its acknowledgement), or no stream answered. */
export class PublishRefusedError extends Error {
  /** The JetStream error code (10071: wrong last sequence), or 503 when no stream answered. */
  readonly code: number;

  /** @param code the JetStream `err_code`; @param description the stream's words. */
  constructor(code: number, description: string) {
    super(`${description} (${code})`);
    this.name = "PublishRefusedError";
    this.code = code;
  }
}

/** No acknowledgement came in time. */
export class AckTimeoutError extends Error {
  /** @param subject the message's subject; @param ms how long it waited. */
  constructor(subject: string, ms: number) {
    super(`no acknowledgement for a message to ${subject} within ${ms} ms`);
    this.name = "AckTimeoutError";
  }
}

/** JetStream's error code for a publish whose `Nats-Expected-Last-Sequence` did not hold. */
export const WRONG_LAST_SEQUENCE = 10071;

/** JetStream's error code for a publish whose `Nats-Expected-Last-Msg-Id` did not hold. */
export const WRONG_LAST_MSG_ID = 10070;

const WIRE = new TextEncoder();

/**
 * A message's headers as their wire text, written once: the client encodes the block as it is
 * (the client's own header object validates and rebuilds each key on every `set`). For
 * publishing only: `get` and the other readers see no values. This leans on the client calling
 * `encode()` of the headers it is given (`@nats-io/transport-node` and `@nats-io/jetstream` are
 * pinned to exact versions in deno.json; tests/integration/publisher_test.ts reads a message's
 * headers back, so an upgrade that stops calling it fails there).
 */
class WireHeaders extends MsgHdrsImpl {
  readonly #bytes: Uint8Array;

  constructor(text: string) {
    super();
    this.#bytes = WIRE.encode(text);
  }

  override encode(): Uint8Array {
    return this.#bytes;
  }
}

/** What a message expects of the stream before it: its last sequence, its last message's id. */
export interface Expected {
  /** `Nats-Expected-Last-Sequence`, unless null. */
  readonly lastSeq: number | null;
  /** `Nats-Expected-Last-Msg-Id`, unless null or absent. */
  readonly lastMsgId?: string | null;
}

/** A W3C traceparent (version, trace id, parent id, flags): nothing else goes into a header. */
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * The headers of an event's message: `Nats-Msg-Id: msgId`, what it expects of the stream, when
 * given a W3C `traceparent` (read from the database: anything else, a CR or LF above all, is left
 * out), and for a late event (docs/rules.md §3.10) {@link LATE_HEADER}. The other values are ids
 * and numbers the worker makes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const text = (traceparent?: string) =>
 *   new TextDecoder().decode(eventHeaders("scan-event-7", { lastSeq: 6 }, traceparent).encode());
 * assert.equal(text(), "NATS/1.0\r\nNats-Msg-Id: scan-event-7\r\nNats-Expected-Last-Sequence: 6\r\n\r\n");
 * assert.equal(text("00-0af7\r\nNats-Msg-Id: x"), text());
 * ```
 */
export function eventHeaders(
  msgId: string,
  expected: Expected,
  traceparent?: string | null,
  late = false,
): MsgHdrsImpl {
  let text = `NATS/1.0\r\nNats-Msg-Id: ${msgId}`;
  if (expected.lastSeq !== null) text += `\r\nNats-Expected-Last-Sequence: ${expected.lastSeq}`;
  if (expected.lastMsgId) text += `\r\nNats-Expected-Last-Msg-Id: ${expected.lastMsgId}`;
  if (traceparent && TRACEPARENT.test(traceparent)) {
    text += `\r\n${TRACEPARENT_HEADER}: ${traceparent}`;
  }
  if (late) text += `\r\n${LATE_HEADER}: true`;
  return new WireHeaders(`${text}\r\n\r\n`);
}

/** A message waiting for its acknowledgement. */
interface Pending {
  readonly resolve: (ack: Ack) => void;
  readonly reject: (error: Error) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** Publishes on one connection, each message's acknowledgement a promise. */
export class Publisher {
  readonly #nc: NatsConnection;
  readonly #prefix = createInbox();
  readonly #pending = new Map<number, Pending>();
  #next = 0;
  #closed = false;

  /** @param nc the connection; one subscription on it receives every acknowledgement. */
  constructor(nc: NatsConnection) {
    this.#nc = nc;
    nc.subscribe(`${this.#prefix}.*`, { callback: (_error, msg) => this.#answered(msg) });
  }

  /**
   * Publish `body` to `subject` with `Nats-Msg-Id: msgId` and, unless null,
   * `Nats-Expected-Last-Sequence: expectLastSeq`, when given `traceparent`, and for a late event
   * (docs/rules.md §3.10) {@link LATE_HEADER}. Resolves with the stream's acknowledgement; rejects
   * with PublishRefusedError, or AckTimeoutError after `timeoutMs`.
   */
  publish(
    subject: string,
    body: string,
    msgId: string,
    expectLastSeq: number | null,
    timeoutMs: number,
    traceparent?: string | null,
    late = false,
  ): Promise<Ack> {
    try {
      const h = eventHeaders(msgId, { lastSeq: expectLastSeq }, traceparent, late);
      return this.send(subject, body, h, timeoutMs) as Promise<Ack>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Publish `body` to `subject` with `headers` (from {@link eventHeaders}). With `timeoutMs`, it
   * asks for the stream's acknowledgement and resolves with it (rejects with
   * PublishRefusedError, or AckTimeoutError after `timeoutMs`); with null it asks for none and
   * returns null (a failure to hand the message to the client throws).
   */
  send(
    subject: string,
    body: string | Uint8Array,
    headers: MsgHdrs,
    timeoutMs: number | null,
  ): Promise<Ack> | null {
    if (this.#closed) throw new Error("the publisher is closed");
    if (timeoutMs === null) {
      this.#nc.publish(subject, body, { headers });
      return null;
    }
    const id = this.#next++;
    const { promise, resolve, reject } = Promise.withResolvers<Ack>();
    const timer = setTimeout(() => {
      this.#pending.delete(id);
      reject(new AckTimeoutError(subject, timeoutMs));
    }, timeoutMs);
    this.#pending.set(id, { resolve, reject, timer });
    try {
      this.#nc.publish(subject, body, { reply: `${this.#prefix}.${id}`, headers });
    } catch (error) {
      this.#settle(id)?.reject(error as Error);
    }
    return promise;
  }

  /** Reject what still waits and stop (the subscription ends with the connection). */
  close(): void {
    this.#closed = true;
    for (const id of [...this.#pending.keys()]) {
      this.#settle(id)?.reject(new Error("the publisher closed before the acknowledgement"));
    }
  }

  #answered(msg: Msg): void {
    const pending = this.#settle(Number(msg.subject.slice(this.#prefix.length + 1)));
    if (pending === undefined) return; // timed out already
    const parsed = parseAck(msg);
    if (parsed instanceof Error) pending.reject(parsed);
    else pending.resolve(parsed);
  }

  #settle(id: number): Pending | undefined {
    const pending = this.#pending.get(id);
    if (pending === undefined) return undefined;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    return pending;
  }
}

/**
 * A stream's answer to a publish: its acknowledgement, or why it refused. An empty answer with
 * status 503 means no stream listens on the subject.
 */
export function parseAck(msg: Pick<Msg, "data" | "headers" | "string">): Ack | PublishRefusedError {
  if (msg.data.length === 0) {
    const status = msg.headers?.code ?? 0;
    return new PublishRefusedError(
      status || 503,
      status === 503 ? "no stream listens on the subject" : `empty answer (${status})`,
    );
  }
  let body: {
    seq?: unknown;
    duplicate?: unknown;
    error?: { err_code?: unknown; code?: unknown; description?: unknown };
  };
  try {
    body = JSON.parse(msg.string());
  } catch {
    return new PublishRefusedError(0, `not an acknowledgement: ${msg.string().slice(0, 80)}`);
  }
  if (body.error !== undefined) {
    const code = Number(body.error.err_code ?? body.error.code ?? 0);
    return new PublishRefusedError(code, String(body.error.description ?? "refused"));
  }
  if (typeof body.seq !== "number") {
    return new PublishRefusedError(0, `not an acknowledgement: ${msg.string().slice(0, 80)}`);
  }
  return { seq: body.seq, duplicate: body.duplicate === true };
}
