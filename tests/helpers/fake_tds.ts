/**
 * A stand-in for a SQL Server at the start of a connection, enough to drive the real `mssql`
 * driver through the two steps the store must get right without a server: the PRELOGIN
 * encryption handshake (MS-TDS 2.2.6.5) and a refused LOGIN7 (an ERROR token, 2.2.7.10, then
 * DONE). It records what each connection asked for and never gets further than a login.
 *
 * @module
 */

/** How the fake server answers. */
export interface FakeTdsOptions {
  /** What it says of encryption: 0x00 off, 0x02 not supported, 0x03 required. */
  readonly encryption: 0x00 | 0x02 | 0x03;
  /** The login error it answers LOGIN7 with. */
  readonly loginError: {
    readonly number: number;
    readonly severity: number;
    readonly message: string;
  };
}

/** A running fake server. */
export interface FakeTds {
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** The ENCRYPTION option each PRELOGIN carried, in order (0x01 on, 0x02 not supported). */
  readonly encryptionAsked: number[];
  /** How many LOGIN7 packets arrived. */
  readonly logins: () => number;
  /** Stop it and close every connection. */
  close(): Promise<void>;
}

const TYPE = { prelogin: 0x12, login7: 0x10, reply: 0x04 } as const;

/** One TDS packet around `payload` (a whole message: EOM set). */
function packet(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + payload.length);
  const view = new DataView(out.buffer);
  out[0] = type;
  out[1] = 0x01; // end of message
  view.setUint16(2, out.length); // big-endian, header included
  out[6] = 1; // packet id
  out.set(payload, 8);
  return out;
}

/** A PRELOGIN reply: VERSION (16.0) and ENCRYPTION. */
function preloginReply(encryption: number): Uint8Array {
  const options = 2 * 5 + 1; // two option tokens and the terminator
  const payload = new Uint8Array(options + 6 + 1);
  const view = new DataView(payload.buffer);
  payload[0] = 0x00; // VERSION
  view.setUint16(1, options);
  view.setUint16(3, 6);
  payload[5] = 0x01; // ENCRYPTION
  view.setUint16(6, options + 6);
  view.setUint16(8, 1);
  payload[10] = 0xff;
  payload[options] = 16; // major version
  payload[options + 6] = encryption;
  return packet(TYPE.reply, payload);
}

/** The ENCRYPTION option of a PRELOGIN payload, or -1. */
function askedEncryption(payload: Uint8Array): number {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  for (let offset = 0; offset + 5 <= payload.length && payload[offset] !== 0xff; offset += 5) {
    if (payload[offset] === 0x01) return payload[view.getUint16(offset + 1)] ?? -1;
  }
  return -1;
}

/** UTF-16LE bytes of `text`. */
function ucs2(text: string): number[] {
  return [...text].flatMap((c) => [c.charCodeAt(0) & 0xff, c.charCodeAt(0) >> 8]);
}

/** An ERROR token and a DONE token (with its error bit) as one reply. */
function loginErrorReply(error: FakeTdsOptions["loginError"]): Uint8Array {
  const body = [
    ...new Uint8Array(new Uint32Array([error.number]).buffer), // Number (LE)
    1, // State
    error.severity, // Class
    error.message.length & 0xff,
    error.message.length >> 8,
    ...ucs2(error.message), // MsgText (US_VARCHAR)
    4,
    ...ucs2("fake"), // ServerName (B_VARCHAR)
    0, // ProcName (B_VARCHAR)
    1,
    0,
    0,
    0, // LineNumber (LE)
  ];
  const done = [0xfd, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  return packet(
    TYPE.reply,
    new Uint8Array([0xaa, body.length & 0xff, body.length >> 8, ...body, ...done]),
  );
}

/** Start a fake server on 127.0.0.1 and a free port. */
export function startFakeTds(options: FakeTdsOptions): FakeTds {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const encryptionAsked: number[] = [];
  const connections = new Set<Deno.Conn>();
  const serving = new Set<Promise<void>>();
  let logins = 0;

  const serve = async (conn: Deno.Conn) => {
    let buffer = new Uint8Array(0);
    const chunk = new Uint8Array(8192);
    let preloginSeen = false;
    try {
      for (;;) {
        const read = await conn.read(chunk);
        if (read === null) return;
        buffer = new Uint8Array([...buffer, ...chunk.subarray(0, read)]);
        while (buffer.length >= 8) {
          const length = new DataView(buffer.buffer).getUint16(2);
          if (buffer.length < length) break;
          const type = buffer[0];
          const payload = buffer.subarray(8, length);
          buffer = buffer.slice(length);
          if (type === TYPE.prelogin && !preloginSeen) {
            preloginSeen = true;
            encryptionAsked.push(askedEncryption(payload));
            await conn.write(preloginReply(options.encryption));
          } else if (type === TYPE.login7) {
            logins++;
            await conn.write(loginErrorReply(options.loginError));
          } else {
            return; // a TLS handshake, or anything else: this server goes no further
          }
        }
      }
    } catch {
      // the client went away
    } finally {
      connections.delete(conn);
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
  };

  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        connections.add(conn);
        const done = serve(conn).finally(() => serving.delete(done));
        serving.add(done);
      }
    } catch {
      // closed
    }
  })();

  return {
    port: (listener.addr as Deno.NetAddr).port,
    encryptionAsked,
    logins: () => logins,
    close: async () => {
      listener.close();
      for (const conn of connections) {
        try {
          conn.close();
        } catch {
          // already closed
        }
      }
      await accepting;
      await Promise.all(serving);
    },
  };
}
