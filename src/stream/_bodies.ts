/**
 * Message bodies as the ordered reader keeps them between their arrival and their page: their
 * bytes copied one after another into one buffer, a NUL after each, so that a page's bodies are
 * decoded to text in one call and no object is made per message (the client's per-message views
 * and strings were most of the reader's garbage, docs/performance.md).
 *
 * @module
 */

import type { Msg } from "@nats-io/transport-node";
import { rawEventOfText } from "../domain/message.ts";

/**
 * The client's message as its class (nats-core's `MsgImpl`) holds it: the bytes it was parsed
 * from (headers, then body) and where the body starts; its reply subject's bytes. Read when
 * present, to take the body and the reply without the views and strings the getters make; the
 * getters are the fallback.
 */
interface RawMsg {
  readonly _rdata?: Uint8Array;
  readonly _msg?: { readonly hdr?: number; readonly reply?: Uint8Array };
}

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();

/** A message's reply subject as bytes (empty when it has none: a status from the broker). */
export function replyBytes(msg: Msg): Uint8Array {
  const raw = (msg as unknown as RawMsg)._msg;
  if (raw !== undefined && typeof raw.hdr === "number") return raw.reply ?? EMPTY;
  return msg.reply ? ENCODER.encode(msg.reply) : EMPTY;
}

const EMPTY = new Uint8Array(0);

/** A page's bodies, taken: their bytes (a NUL after each), each one's length, their headers. */
export interface TakenBodies {
  readonly bytes: Uint8Array;
  readonly lengths: readonly number[];
  readonly traceparents: (string | null)[];
}

/** Bodies received and not yet taken, in order. */
export class Bodies {
  #bytes = new Uint8Array(1 << 20);
  #end = 0;
  #lengths: number[] = [];
  #traceparents: (string | null)[] = [];

  /** How many are held. */
  get count(): number {
    return this.#lengths.length;
  }

  /** Keep a message's body (copied) and its `traceparent` (null when not read). */
  push(msg: Msg, traceparent: string | null): void {
    const raw = msg as unknown as RawMsg;
    const data = raw._rdata;
    const from = raw._msg?.hdr;
    if (data === undefined || typeof from !== "number") {
      this.#append(msg.data, 0, msg.data.length, traceparent);
    } else {
      this.#append(data, Math.max(0, from), data.length, traceparent);
    }
  }

  /** The first `count` bodies, removed. */
  take(count: number): TakenBodies {
    const lengths = this.#lengths.splice(0, count);
    const traceparents = this.#traceparents.splice(0, count);
    let size = lengths.length;
    for (const length of lengths) size += length;
    const bytes = this.#bytes.slice(0, size);
    this.#bytes.copyWithin(0, size, this.#end);
    this.#end -= size;
    return { bytes, lengths, traceparents };
  }

  #append(data: Uint8Array, from: number, to: number, traceparent: string | null): void {
    const length = to - from;
    if (this.#end + length + 1 > this.#bytes.length) {
      const grown = new Uint8Array(Math.max(2 * this.#bytes.length, this.#end + length + 1));
      grown.set(this.#bytes.subarray(0, this.#end));
      this.#bytes = grown;
    }
    const bytes = this.#bytes;
    let at = this.#end;
    for (let i = from; i < to; i++) bytes[at++] = data[i] ?? 0;
    bytes[at++] = 0;
    this.#end = at;
    this.#lengths.push(length);
    this.#traceparents.push(traceparent);
  }
}

/**
 * Taken bodies as the raw events the validation reads (each one's RunId back under `User`):
 * decoded in one call and split at the NULs (no JSON text holds one; a body that does is
 * decoded on its own), then parsed one by one; a body that is not a JSON object is passed on as
 * its text, to be rejected.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseBodies } from "./_bodies.ts";
 * const bytes = new TextEncoder().encode('{"EventId":1,"RunId":"7"}\0oops\0');
 * assert.deepEqual(parseBodies({ bytes, lengths: [25, 4], traceparents: [null, null] }), [
 *   { EventId: 1, User: { RunId: "7" } },
 *   "oops",
 * ]);
 * ```
 */
export function parseBodies(taken: TakenBodies): unknown[] {
  const { bytes, lengths } = taken;
  let texts = DECODER.decode(bytes).split("\0");
  texts.pop(); // after the last NUL
  if (texts.length !== lengths.length) {
    let at = 0;
    texts = lengths.map((length) => {
      const text = DECODER.decode(bytes.subarray(at, at + length));
      at += length + 1;
      return text;
    });
  }
  return texts.map(rawEventOfText);
}
