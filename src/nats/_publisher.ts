/**
 * Publishing to a JetStream stream with acknowledgements, many in flight, at a fraction of the
 * client's per-message cost. A JetStream publish is a core NATS message with a reply subject;
 * the stream answers that subject with its acknowledgement (`{"stream","seq","duplicate"}` or
 * `{"error":{"code","err_code","description"}}`). `JetStreamClient.publish` does the same with
 * a request, a timer and a parsed object per message: measured here at about 115 µs of client
 * CPU per message (9k messages/s, CPU-bound, window 256); this publisher, with the client's core
 * `publish`, headers and one wildcard subscription for every reply, at about 22 µs (36k/s).
 *
 * @module
 */

import { createInbox, headers, type Msg, type NatsConnection } from "@nats-io/transport-node";

/** The stream's acknowledgement of a stored (or already held) message. */
export interface Ack {
  /** The message's sequence in the stream. */
  readonly seq: number;
  /** The stream already held a message with this `Nats-Msg-Id` (in its duplicate window). */
  readonly duplicate: boolean;
}

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
   * `Nats-Expected-Last-Sequence: expectLastSeq`. Resolves with the stream's acknowledgement;
   * rejects with PublishRefusedError, or AckTimeoutError after `timeoutMs`.
   */
  publish(
    subject: string,
    body: string,
    msgId: string,
    expectLastSeq: number | null,
    timeoutMs: number,
  ): Promise<Ack> {
    if (this.#closed) return Promise.reject(new Error("the publisher is closed"));
    const id = this.#next++;
    const h = headers();
    h.set("Nats-Msg-Id", msgId);
    if (expectLastSeq !== null) h.set("Nats-Expected-Last-Sequence", String(expectLastSeq));
    const { promise, resolve, reject } = Promise.withResolvers<Ack>();
    const timer = setTimeout(() => {
      this.#pending.delete(id);
      reject(new AckTimeoutError(subject, timeoutMs));
    }, timeoutMs);
    this.#pending.set(id, { resolve, reject, timer });
    try {
      this.#nc.publish(subject, body, { reply: `${this.#prefix}.${id}`, headers: h });
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
