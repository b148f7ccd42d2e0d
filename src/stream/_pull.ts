/**
 * The ordered reader's wire: an ephemeral JetStream consumer (no acknowledgements, from one
 * stream sequence on) pulled on one core subscription, with several pages' worth of messages
 * asked for ahead, so the broker keeps sending while the worker writes. A message is kept as
 * little as possible (its body's bytes, its position, and its `traceparent` header only when
 * asked for) instead of the client's message object, delivery info and parsed headers: those
 * cost more than the rest of the reader together (docs/performance.md).
 *
 * It holds the guarantees of the client's ordered consumer: messages come in stream order, each
 * once; a gap in the delivery sequence, a reconnection, an error status or a broker that stops
 * answering makes it unusable (`take` throws), and its owner positions a new one.
 *
 * @module
 */

import {
  createInbox,
  type Msg,
  nanos,
  type Status,
  type Subscription,
} from "@nats-io/transport-node";
import { AckPolicy, DeliverPolicy, ReplayPolicy } from "@nats-io/jetstream";
import { TRACEPARENT_HEADER } from "../domain/message.ts";
import type { NatsLink } from "../nats/mod.ts";

/** Messages taken from the wire: bodies, and where they leave the stream. */
export interface Taken {
  /** Each message's body, as received. */
  readonly bodies: Uint8Array[];
  /** Each message's `traceparent` header (all null unless asked for). */
  readonly traceparents: (string | null)[];
  /** Milliseconds spent receiving these messages since the last take (the client's parse included). */
  readonly receiveMs: number;
}

/** How a pull runs. */
export interface PullOptions {
  /** Messages per pull request. */
  readonly batch: number;
  /** Pull requests kept open at once (the messages asked for ahead: `batch` × this). */
  readonly ahead: number;
  /** Read each message's `traceparent` header (telemetry on). */
  readonly traceparents: boolean;
  /** The broker's idle heartbeat while a request waits (5000 ms); silence for 3 of them fails. */
  readonly heartbeatMs?: number;
}

/** How long a pull request stays open at the broker (30 s). */
const EXPIRES_MS = 30_000;

/** The ephemeral consumer goes away this long after its reader does (5 min). */
const INACTIVE_MS = 5 * 60_000;

/** One reader's consumer and subscription. */
export class StreamPull {
  readonly #link: NatsLink;
  readonly #options: PullOptions;
  readonly #consumer: string;
  readonly #inbox = createInbox();
  #sub: Subscription | null = null;
  /** Received, not yet taken. */
  #bodies: Uint8Array[] = [];
  #traceparents: (string | null)[] = [];
  /** Messages asked for and not yet received. */
  #credit = 0;
  #deliverSeq = 0;
  /** Messages left in the stream after the last one received (-1: none received yet). */
  #pending = -1;
  #heardAt = performance.now();
  #burstAt = -1;
  #receiveMs = 0;
  #broken: Error | null = null;
  /** Wakes a waiting take. */
  #wake: (() => void) | null = null;

  /** Positioned at stream sequence `seq`; {@link start} creates its consumer. */
  constructor(link: NatsLink, options: PullOptions) {
    this.#link = link;
    this.#options = options;
    this.#consumer = `scan_worker_${this.#inbox.slice(this.#inbox.lastIndexOf(".") + 1)}`;
  }

  /** Create the consumer at stream sequence `seq` and subscribe; `pending` messages follow it. */
  async start(seq: number, pending: number): Promise<void> {
    await this.#link.jsm.consumers.add(this.#link.stream, {
      name: this.#consumer,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: seq,
      ack_policy: AckPolicy.None,
      replay_policy: ReplayPolicy.Instant,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: nanos(INACTIVE_MS),
    });
    this.#sub = this.#link.nc.subscribe(this.#inbox, {
      callback: (_error, msg) => this.#received(msg),
    });
    this.#pending = pending === 0 ? 0 : -1;
    this.#watchReconnects();
    this.#refill();
  }

  /**
   * Up to `max` messages: at once when that many are here or the stream has none after them,
   * otherwise once `max` have come, the stream's last has come, or `waitMs` has passed.
   * @throws when the pull is broken (its owner positions a new one); on abort, the messages stay.
   */
  async take(max: number, waitMs: number, signal: AbortSignal): Promise<Taken | null> {
    this.#refill();
    if (!this.#ready(max)) await this.#wait(max, waitMs, signal);
    const silentMs = performance.now() - this.#heardAt;
    if (this.#credit > 0 && silentMs > 3 * (this.#options.heartbeatMs ?? 5000)) {
      this.#broken ??= new Error(`the broker sent nothing for ${Math.round(silentMs)} ms`);
    }
    if (this.#broken !== null) throw this.#broken;
    if (signal.aborted) return null;
    const count = Math.min(max, this.#bodies.length);
    const bodies = this.#bodies.splice(0, count);
    const traceparents = this.#traceparents.splice(0, count);
    const receiveMs = this.#receiveMs;
    this.#receiveMs = 0;
    this.#refill();
    return { bodies, traceparents, receiveMs };
  }

  /** Stop: unsubscribe and delete the consumer (its inactivity removes it otherwise). */
  async close(): Promise<void> {
    this.#broken ??= new Error("the stream reader was closed");
    this.#wake?.();
    this.#sub?.unsubscribe();
    this.#sub = null;
    await this.#link.jsm.consumers.delete(this.#link.stream, this.#consumer).catch(() => {});
  }

  /** Enough to take: `max` messages, or the stream's end reached. */
  #ready(max: number): boolean {
    return this.#broken !== null || this.#bodies.length >= max || this.#pending === 0;
  }

  /** Wait for {@link #ready}, `waitMs`, or abort. */
  async #wait(max: number, waitMs: number, signal: AbortSignal): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    const timer = setTimeout(resolve, waitMs);
    const onAbort = () => resolve();
    signal.addEventListener("abort", onAbort);
    this.#wake = () => {
      if (this.#ready(max)) resolve();
    };
    try {
      await promise;
    } finally {
      this.#wake = null;
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** Ask for more while fewer than `ahead` pulls' worth are here or on their way. */
  #refill(): void {
    const { batch, ahead, heartbeatMs = 5000 } = this.#options;
    if (this.#sub === null || this.#broken !== null) return;
    const request = JSON.stringify({
      batch,
      expires: nanos(EXPIRES_MS),
      idle_heartbeat: nanos(heartbeatMs),
    });
    const subject =
      `${this.#link.js.apiPrefix}.CONSUMER.MSG.NEXT.${this.#link.stream}.${this.#consumer}`;
    while (this.#bodies.length + this.#credit + batch <= batch * ahead) {
      this.#credit += batch;
      try {
        this.#link.nc.publish(subject, request, { reply: this.#inbox });
      } catch (error) {
        this.#fail(error instanceof Error ? error : new Error(String(error)));
        return;
      }
    }
  }

  /** A message on the inbox: a stream message, or the broker's status. */
  #received(msg: Msg): void {
    if (this.#burstAt < 0) {
      // The client hands over a whole read's messages in one go: time them until it is done.
      this.#burstAt = this.#heardAt = performance.now();
      queueMicrotask(() => {
        this.#receiveMs += performance.now() - this.#burstAt;
        this.#burstAt = -1;
      });
    }
    const reply = msg.reply ?? "";
    if (reply === "") this.#status(msg);
    else this.#message(msg, reply);
    if (this.#wake !== null) this.#wake();
  }

  /** A stream message: its delivery sequence must follow the last one's. */
  #message(msg: Msg, reply: string): void {
    if (!replyPosition(reply)) {
      this.#fail(new Error(`a message came with the reply subject ${reply}, not a JetStream one`));
      return;
    }
    const dseq = POSITION[0] ?? 0;
    if (dseq !== this.#deliverSeq + 1) {
      this.#fail(new Error(`delivery ${dseq} came after ${this.#deliverSeq}: a message was lost`));
      return;
    }
    this.#deliverSeq = dseq;
    this.#pending = POSITION[1] ?? 0;
    this.#credit = Math.max(0, this.#credit - 1);
    this.#bodies.push(msg.data);
    this.#traceparents.push(
      this.#options.traceparents ? msg.headers?.get(TRACEPARENT_HEADER) || null : null,
    );
  }

  /** The broker's status: a heartbeat, a request that ended, or an error (the pull is broken). */
  #status(msg: Msg): void {
    const code = msg.headers?.code ?? 0;
    if (code === 100) return; // idle heartbeat
    if (code === 404 || code === 408) {
      // The request ended (expired) with this many of its messages not sent.
      const left = Number(msg.headers?.get("Nats-Pending-Messages") || 0);
      this.#credit = Math.max(0, this.#credit - left);
      this.#refill();
      return;
    }
    const description = msg.headers?.description ?? "";
    this.#fail(new Error(`the broker answered the pull with ${code} ${description}`.trim()));
  }

  #fail(error: Error): void {
    this.#broken ??= error;
    this.#wake?.();
  }

  /** A reconnection loses the open requests: the pull is broken, positioned again by its owner. */
  #watchReconnects(): void {
    // The client's status iterator can be stopped (its type does not say so).
    const status = this.#link.nc.status() as AsyncIterable<Status> & { stop?: () => void };
    (async () => {
      for await (const s of status) {
        if (this.#sub === null) break;
        if (s.type === "reconnect") this.#fail(new Error("the connection to the broker was lost"));
      }
    })().catch(() => {});
    this.#sub?.closed.then(() => status.stop?.(), () => status.stop?.());
  }
}

/** Where {@link replyPosition} leaves its answer: the delivery sequence, the messages pending. */
export const POSITION: Float64Array = new Float64Array(2);

/** The dots of a reply subject (at most 16 are looked at). */
const DOTS = new Int32Array(16);

/**
 * A JetStream message's delivery sequence and pending count from its reply subject
 * (`$JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<seq>.<dseq>.<time>.<pending>.<token>`,
 * or `$JS.ACK.<stream>.<consumer>.<delivered>.<seq>.<dseq>.<time>.<pending>` from older brokers),
 * into {@link POSITION}, without splitting it (a message's strings are most of the reader's
 * garbage); false when it is not such a subject.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { POSITION, replyPosition } from "./_pull.ts";
 * assert.ok(replyPosition("$JS.ACK._.ab.S.C.1.77.5.1700000000000000000.12.x1"));
 * assert.deepEqual([...POSITION], [5, 12]);
 * assert.ok(replyPosition("$JS.ACK.S.C.1.78.6.1700000000000000000.0"));
 * assert.deepEqual([...POSITION], [6, 0]);
 * assert.equal(replyPosition("_INBOX.x"), false);
 * ```
 */
export function replyPosition(reply: string): boolean {
  let dots = 0;
  for (let i = 0; i < reply.length && dots < DOTS.length; i++) {
    if (reply.charCodeAt(i) === 46) DOTS[dots++] = i;
  }
  const at = dots === 8 ? 5 : dots >= 10 ? 7 : -1; // the dot before the delivery sequence
  if (at < 0 || !reply.startsWith("$JS.ACK.")) return false;
  POSITION[0] = digits(reply, DOTS[at] ?? 0, DOTS[at + 1] ?? 0);
  POSITION[1] = digits(reply, DOTS[at + 2] ?? 0, dots > at + 3 ? DOTS[at + 3] ?? 0 : reply.length);
  return POSITION[0] >= 0 && POSITION[1] >= 0;
}

/** The decimal number strictly between the dots at `from` and `to`; -1 when it is not one. */
function digits(text: string, from: number, to: number): number {
  let value = 0;
  for (let i = from + 1; i < to; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return to > from + 1 ? value : -1;
}
