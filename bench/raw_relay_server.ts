/**
 * The raw baseline of the `messages` suite: a bare Deno TCP relay. No store, no auth, no
 * actors, no protobuf: length-prefixed frames, each addressed to a client id; the server
 * writes the frame to the addressee's socket and a small ack back to the sender (so the
 * generator can keep a window of sends in flight exactly as with flash-im's `SendAck`).
 *
 * Frame: `u32 length` (big endian, bytes after it) `u8 kind` `u32 peer` `body`.
 * - {@link RawKind.Hello} from a client: `peer` is its own id (sent once, first);
 * - {@link RawKind.Message} from a client: `peer` is the addressee; relayed with `peer`
 *   rewritten to the sender's id;
 * - {@link RawKind.Ack} to the sender: empty body, after the relayed frame was queued.
 *
 * Run as `deno run -A bench/raw_relay_server.ts --host 127.0.0.1 --port 0`; prints
 * `listening <port>` and exits when its stdin closes or on SIGTERM/SIGINT.
 *
 * @module
 */

import { listenForBench } from "./_raw_server.ts";

/** Frame kinds. */
export const RawKind = { Hello: 1, Message: 2, Ack: 3 } as const;

/** Bytes before the body: length, kind, peer. */
export const RAW_HEADER_BYTES = 9;

/** Encodes one frame. */
export function encodeRawFrame(kind: number, peer: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(RAW_HEADER_BYTES + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, 5 + body.length);
  out[4] = kind;
  view.setUint32(5, peer);
  out.set(body, RAW_HEADER_BYTES);
  return out;
}

/** Splits a byte stream into frames: `push` bytes, get `[kind, peer, body, frame]`s. */
export class RawFrameDecoder {
  #buf = new Uint8Array(0);

  /** Feeds `chunk` (copied as needed) and calls `onFrame` for each complete frame. */
  push(
    chunk: Uint8Array,
    onFrame: (kind: number, peer: number, body: Uint8Array, frame: Uint8Array) => void,
  ): void {
    let buf: Uint8Array;
    if (this.#buf.length === 0) buf = chunk;
    else {
      buf = new Uint8Array(this.#buf.length + chunk.length);
      buf.set(this.#buf);
      buf.set(chunk, this.#buf.length);
    }
    let at = 0;
    while (buf.length - at >= 4) {
      const view = new DataView(buf.buffer, buf.byteOffset + at);
      const len = view.getUint32(0);
      if (buf.length - at < 4 + len) break;
      const frame = buf.subarray(at, at + 4 + len);
      onFrame(frame[4]!, view.getUint32(5), frame.subarray(RAW_HEADER_BYTES), frame);
      at += 4 + len;
    }
    this.#buf = at === buf.length ? new Uint8Array(0) : buf.slice(at);
  }
}

/** Coalesces writes to one socket: one `write` in flight, the rest batched behind it. */
export class RawWriter {
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #writing = false;
  #closed = false;

  constructor(private readonly conn: Deno.Conn) {}

  /** Queues `frame` (which must not change afterwards). */
  write(frame: Uint8Array): void {
    if (this.#closed) return;
    this.#pending.push(frame);
    this.#pendingBytes += frame.length;
    if (!this.#writing) void this.#flush();
  }

  async #flush(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#pending.length > 0) {
        let out: Uint8Array;
        if (this.#pending.length === 1) out = this.#pending[0]!;
        else {
          out = new Uint8Array(this.#pendingBytes);
          let at = 0;
          for (const part of this.#pending) (out.set(part, at), at += part.length);
        }
        this.#pending = [];
        this.#pendingBytes = 0;
        let done = 0;
        while (done < out.length) done += await this.conn.write(out.subarray(done));
      }
    } catch {
      this.#closed = true;
    } finally {
      this.#writing = false;
    }
  }
}

const clients = new Map<number, RawWriter>();
const EMPTY = new Uint8Array(0);

async function serve(conn: Deno.Conn): Promise<void> {
  const writer = new RawWriter(conn);
  const decoder = new RawFrameDecoder();
  const buffer = new Uint8Array(64 * 1024);
  let id = -1;
  try {
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      decoder.push(buffer.subarray(0, n), (kind, peer, body) => {
        if (kind === RawKind.Hello) {
          id = peer;
          clients.set(id, writer);
        } else if (kind === RawKind.Message) {
          clients.get(peer)?.write(encodeRawFrame(RawKind.Message, id, body));
          writer.write(encodeRawFrame(RawKind.Ack, peer, EMPTY));
        }
      });
    }
  } catch { /* reset by the peer */ }
  if (clients.get(id) === writer) clients.delete(id);
  try {
    conn.close();
  } catch { /* already closed */ }
}

async function main(): Promise<void> {
  const listener = listenForBench();
  for await (const conn of listener) {
    conn.setNoDelay(true);
    void serve(conn);
  }
}

if (import.meta.main) await main();
