/**
 * The ordered reader's wire: an ephemeral JetStream consumer (no acknowledgements, from one
 * stream sequence on) pulled on one core subscription, with several pages' worth of messages
 * asked for ahead, so the broker keeps sending while the worker writes. A message is kept as
 * little as possible (its body's bytes, its position, and its `traceparent` header only when
 * asked for) instead of the client's message object, delivery info and parsed headers: those
 * cost more than the rest of the reader together (docs/performance.md).
 *
 * It holds the guarantees of the client's ordered consumer: messages come in stream order, each
 * once; a gap in the delivery or stream sequence, a reconnection, an error status or a broker
 * that stops answering makes it unusable (`take` hands over what came before, then throws), and
 * its owner positions a new one after the last message taken.
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
import { Bodies, replyBytes, type TakenBodies } from "./_bodies.ts";

/** Messages taken from the wire: their bodies, and how long receiving them took. */
export interface Taken extends TakenBodies {
  /** Milliseconds spent receiving these messages since the last take (the client's parse included). */
  readonly receiveMs: number;
  /** The stream sequence of the pull's first message (0 while none has come). */
  readonly firstSeq: number;
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

/**
 * How long the reader's thread spends receiving: the client hands over a read's messages in one
 * go, timed from the first until the client is done (once per read: timing each message would
 * cost 5 % of a page).
 */
class ReceiveClock {
  /** When the broker was last heard from. */
  heardAt = performance.now();
  #burstAt = -1;
  #ms = 0;

  /** A message arrived: time the client's work on the read it came in, until that is done. */
  tick(): void {
    if (this.#burstAt >= 0) return;
    this.#burstAt = this.heardAt = performance.now();
    queueMicrotask(() => {
      this.#ms += performance.now() - this.#burstAt;
      this.#burstAt = -1;
    });
  }

  /** The milliseconds since the last call. */
  take(): number {
    const ms = this.#ms;
    this.#ms = 0;
    return ms;
  }
}

/** One reader's consumer and subscription. */
export class StreamPull {
  readonly #link: NatsLink;
  readonly #options: PullOptions;
  /** The inbox, the consumer's name, and the subject pull requests go to. */
  readonly #names: { inbox: string; consumer: string; next: string };
  #sub: Subscription | null = null;
  /** Received, not yet taken. */
  readonly #bodies = new Bodies();
  readonly #clock = new ReceiveClock();
  /** Messages asked for and not yet received. */
  #credit = 0;
  /**
   * The delivery and stream sequences of the last message received, and the stream sequence of
   * the first (0: none yet; the first message may be at any stream sequence, the consumer starts
   * at the first one it holds: its owner checks it).
   */
  readonly #last = { dseq: 0, sseq: 0, first: 0 };
  /** Messages left in the stream after the last one received (-1: none received yet). */
  #pending = -1;
  #broken: Error | null = null;
  /** Wakes a waiting take. */
  #wake: (() => void) | null = null;

  /** @param link the connection; @param options how it pulls. */
  constructor(link: NatsLink, options: PullOptions) {
    this.#link = link;
    this.#options = options;
    const inbox = createInbox();
    const consumer = `scan_worker_${inbox.slice(inbox.lastIndexOf(".") + 1)}`;
    const next = `${link.js.apiPrefix}.CONSUMER.MSG.NEXT.${link.stream}.${consumer}`;
    this.#names = { inbox, consumer, next };
  }

  /** Create the consumer at stream sequence `seq` and subscribe; `pending` messages follow it. */
  async start(seq: number, pending: number): Promise<void> {
    await this.#link.jsm.consumers.add(this.#link.stream, {
      name: this.#names.consumer,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: seq,
      ack_policy: AckPolicy.None,
      replay_policy: ReplayPolicy.Instant,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: nanos(INACTIVE_MS),
    });
    this.#sub = this.#link.nc.subscribe(this.#names.inbox, {
      callback: (_error, msg) => this.#received(msg),
    });
    this.#pending = pending === 0 ? 0 : -1;
    watchReconnects(this.#link, this.#sub, () => {
      this.#fail(new Error("the connection to the broker was lost"));
    });
    this.#refill();
  }

  /**
   * Up to `max` messages: at once when that many are here or the stream has none after them,
   * otherwise once `max` have come, the stream's last has come, or `waitMs` has passed. A broken
   * pull still hands over the messages it received before the break (each followed the one
   * before it), so that its owner positions the next pull after them, past a hole in the stream.
   * @throws when the pull is broken and holds none (its owner positions a new one); on abort,
   * the messages stay.
   */
  async take(max: number, waitMs: number, signal: AbortSignal): Promise<Taken | null> {
    this.#refill();
    if (!this.#ready(max)) {
      const { promise, resolve } = Promise.withResolvers<void>();
      const timer = setTimeout(resolve, waitMs);
      const aborted = () => resolve();
      signal.addEventListener("abort", aborted);
      this.#wake = () => {
        if (this.#ready(max)) resolve();
      };
      await promise.finally(() => {
        this.#wake = null;
        clearTimeout(timer);
        signal.removeEventListener("abort", aborted);
      });
    }
    const silentMs = performance.now() - this.#clock.heardAt;
    if (this.#credit > 0 && silentMs > 3 * (this.#options.heartbeatMs ?? 5000)) {
      this.#fail(new Error(`the broker sent nothing for ${Math.round(silentMs)} ms`));
    }
    if (this.#broken !== null && this.#bodies.count === 0) throw this.#broken;
    if (signal.aborted) return null;
    const taken = this.#bodies.take(Math.min(max, this.#bodies.count));
    this.#refill();
    return { ...taken, receiveMs: this.#clock.take(), firstSeq: this.#last.first };
  }

  /** Stop: unsubscribe and delete the consumer (its inactivity removes it otherwise). */
  async close(): Promise<void> {
    this.#fail(new Error("the stream reader was closed"));
    this.#sub?.unsubscribe();
    this.#sub = null;
    const { stream } = this.#link;
    await this.#link.jsm.consumers.delete(stream, this.#names.consumer).catch(() => {});
  }

  /** Enough to take: `max` messages, or the stream's end reached (or nothing more to come). */
  #ready(max: number): boolean {
    return this.#broken !== null || this.#bodies.count >= max || this.#pending === 0;
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
    while (this.#bodies.count + this.#credit + batch <= batch * ahead) {
      this.#credit += batch;
      try {
        this.#link.nc.publish(this.#names.next, request, { reply: this.#names.inbox });
      } catch (error) {
        this.#fail(error instanceof Error ? error : new Error(String(error)));
        return;
      }
    }
  }

  /** A message on the inbox: a stream message, or the broker's status. */
  #received(msg: Msg): void {
    this.#clock.tick();
    const reply = replyBytes(msg);
    if (reply.length > 0) {
      this.#message(msg, reply);
    } else {
      const status = statusOf(msg);
      if (status instanceof Error) {
        this.#fail(status);
      } else {
        this.#credit = Math.max(0, this.#credit - status);
        this.#refill();
      }
    }
    this.#wake?.();
  }

  /** A stream message: its delivery sequence must follow the last one's. */
  #message(msg: Msg, reply: Uint8Array): void {
    if (!replyPosition(reply)) {
      this.#fail(
        new Error(`a message came with the reply subject ${msg.reply}, not a JetStream one`),
      );
      return;
    }
    const dseq = POSITION[0] ?? 0;
    if (dseq !== this.#last.dseq + 1) {
      this.#fail(new Error(`delivery ${dseq} came after ${this.#last.dseq}: a message was lost`));
      return;
    }
    const sseq = POSITION[2] ?? 0;
    if (this.#last.sseq !== 0 && sseq !== this.#last.sseq + 1) {
      // The consumer reads the whole stream: its messages follow each other. A hole (a message
      // deleted from the stream) costs one new pull, positioned after the messages before it.
      this.#fail(
        new Error(`stream message ${sseq} came after ${this.#last.sseq}: one was skipped`),
      );
      return;
    }
    if (this.#last.first === 0) this.#last.first = sseq;
    this.#last.dseq = dseq;
    this.#last.sseq = sseq;
    this.#pending = POSITION[1] ?? 0;
    this.#credit = Math.max(0, this.#credit - 1);
    this.#bodies.push(
      msg,
      this.#options.traceparents ? msg.headers?.get(TRACEPARENT_HEADER) || null : null,
    );
  }

  #fail(error: Error): void {
    this.#broken ??= error;
    this.#wake?.();
  }
}

/**
 * The broker's status on the inbox: a heartbeat (0), a request that ended (expired) with this
 * many of its messages not sent, or an error that breaks the pull.
 */
function statusOf(msg: Msg): number | Error {
  const code = msg.headers?.code ?? 0;
  if (code === 100) return 0; // idle heartbeat
  if (code === 404 || code === 408) {
    return Number(msg.headers?.get("Nats-Pending-Messages") || 0);
  }
  const description = msg.headers?.description ?? "";
  return new Error(`the broker answered a pull with ${code} ${description}`.trim());
}

/** Call `lost` when the connection comes back after a loss (its open requests are gone). */
function watchReconnects(link: NatsLink, sub: Subscription, lost: () => void): void {
  // The client's status iterator can be stopped (its type does not say so).
  const status = link.nc.status() as AsyncIterable<Status> & { stop?: () => void };
  (async () => {
    for await (const s of status) {
      if (s.type === "reconnect") lost();
    }
  })().catch(() => {});
  sub.closed.then(() => status.stop?.(), () => status.stop?.());
}

/**
 * Where {@link replyPosition} leaves its answer: the delivery sequence, the messages pending, the
 * stream sequence.
 */
export const POSITION: Float64Array = new Float64Array(3);

/** The dots of a reply subject (at most 16 are looked at). */
const DOTS = new Int32Array(16);

/** `$JS.ACK.` */
const JS_ACK = new TextEncoder().encode("$JS.ACK.");

/**
 * A JetStream message's delivery sequence, pending count and stream sequence from its reply
 * subject's bytes
 * (`$JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<seq>.<dseq>.<time>.<pending>.<token>`,
 * or `$JS.ACK.<stream>.<consumer>.<delivered>.<seq>.<dseq>.<time>.<pending>` from older brokers),
 * into {@link POSITION}, without a string or an array (a message's strings were most of the
 * reader's garbage); false when it is not such a subject.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { POSITION, replyPosition } from "./_pull.ts";
 * const bytes = (text: string) => new TextEncoder().encode(text);
 * assert.ok(replyPosition(bytes("$JS.ACK._.ab.S.C.1.77.5.1700000000000000000.12.x1")));
 * assert.deepEqual([...POSITION], [5, 12, 77]);
 * assert.ok(replyPosition(bytes("$JS.ACK.S.C.1.78.6.1700000000000000000.0")));
 * assert.deepEqual([...POSITION], [6, 0, 78]);
 * assert.equal(replyPosition(bytes("_INBOX.x")), false);
 * ```
 */
export function replyPosition(reply: Uint8Array): boolean {
  for (let i = 0; i < JS_ACK.length; i++) if (reply[i] !== JS_ACK[i]) return false;
  let dots = 0;
  for (let i = 0; i < reply.length && dots < DOTS.length; i++) {
    if (reply[i] === 46) DOTS[dots++] = i;
  }
  const at = dots === 8 ? 5 : dots >= 10 ? 7 : -1; // the dot before the delivery sequence
  if (at < 0) return false;
  const end = dots > at + 3 ? DOTS[at + 3] ?? 0 : reply.length;
  POSITION[0] = digits(reply, DOTS[at] ?? 0, DOTS[at + 1] ?? 0);
  POSITION[1] = digits(reply, DOTS[at + 2] ?? 0, end);
  POSITION[2] = digits(reply, DOTS[at - 1] ?? 0, DOTS[at] ?? 0);
  return POSITION[0] >= 0 && POSITION[1] >= 0 && POSITION[2] >= 0;
}

/** The decimal number strictly between the bytes at `from` and `to`; -1 when it is not one. */
function digits(bytes: Uint8Array, from: number, to: number): number {
  let value = 0;
  for (let i = from + 1; i < to; i++) {
    const d = (bytes[i] ?? 0) - 48;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return to > from + 1 ? value : -1;
}
