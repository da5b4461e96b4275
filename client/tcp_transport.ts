/**
 * TCP and TLS transport (Deno only): `tcp://host:port` with `Deno.connect`,
 * `tls://host:port` with `Deno.connectTls({ caCerts })`. Frames carry the 4-byte length
 * prefix (`encodeFrame`/`FrameDecoder`). This is the only client file that uses Deno APIs;
 * `connection.ts` loads it with a dynamic `import()`, so browsers never do.
 *
 * - Reads go through one 4 KiB buffer (decoded frames never reference it).
 * - Writes are merged: `send()` encodes and queues; a write loop started on the next
 *   microtask takes everything queued as one buffer per `write` (loops over partial writes).
 *   The queue is bounded by `maxBufferedBytes` (`send()` returns `false` past it).
 * - `close()` lets queued frames leave for at most 1 s, then closes the socket.
 *
 * @module
 */

import {
  closeBody,
  CloseCode,
  encodeFrame,
  FrameDecoder,
  type FrameError,
  type FrameInit,
  FrameKind,
  ProtocolError,
} from "../protocol/mod.ts";
import type {
  Transport,
  TransportCloseInfo,
  TransportHandlers,
  TransportOptions,
} from "./transport.ts";

const READ_BUFFER_BYTES = 4096;
/** Longest wait for queued frames to be written after `close()`. */
const CLOSE_DRAIN_MS = 1000;

/**
 * Opens a TCP (`tcp:`) or TLS (`tls:`) connection to `url` and returns it as a
 * {@link Transport}. TLS trusts the system roots plus `options.caCerts`, and completes the
 * handshake before resolving (a bad certificate rejects here).
 *
 * @throws {TypeError} (rejects) for another scheme or a URL without a port; rejects with
 * the network error when the connection fails, or with `signal.reason` when aborted.
 */
export async function connectTcp(
  url: URL,
  handlers: TransportHandlers,
  options: TransportOptions,
): Promise<Transport> {
  const conn = await openConn(url, options);
  return new TcpTransport(conn, handlers, options);
}

async function openConn(url: URL, options: TransportOptions): Promise<Deno.Conn> {
  if (url.protocol !== "tcp:" && url.protocol !== "tls:") {
    throw new TypeError(`Cannot open a TCP transport for ${url.href}: expected tcp: or tls:`);
  }
  const port = Number(url.port);
  if (!Number.isInteger(port) || port < 1) {
    throw new TypeError(`Cannot open a TCP transport for ${url.href}: the URL has no port`);
  }
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const signal = options.signal;
  signal?.throwIfAborted();
  if (url.protocol === "tcp:") {
    const conn = await Deno.connect({ hostname, port, signal });
    conn.setNoDelay(true);
    return conn;
  }
  // connectTls takes no signal: the handshake below is where an abort takes effect.
  const conn = await Deno.connectTls({
    hostname,
    port,
    caCerts: options.caCerts ? [...options.caCerts] : undefined,
  });
  const release = () => {
    try {
      conn.close();
    } catch { /* already closed */ }
  };
  signal?.addEventListener("abort", release, { once: true });
  try {
    signal?.throwIfAborted();
    await conn.handshake();
    signal?.throwIfAborted();
  } catch (error) {
    release();
    signal?.throwIfAborted();
    throw error;
  } finally {
    signal?.removeEventListener("abort", release);
  }
  return conn;
}

class TcpTransport implements Transport {
  readonly #conn: Deno.Conn;
  readonly #handlers: TransportHandlers;
  readonly #maxFrameSize: number;
  readonly #maxBuffered: number;
  readonly #decoder: FrameDecoder;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  /** Bytes of the buffer being written that are not written yet. */
  #writingBytes = 0;
  /** The running write loop, if any. */
  #writer: Promise<void> | undefined;
  /** No more sends: `close()` was called or the stream ended. */
  #closing = false;
  #info: TransportCloseInfo | undefined;
  #connClosed = false;
  readonly #released = Promise.withResolvers<void>();
  #drainTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(conn: Deno.Conn, handlers: TransportHandlers, options: TransportOptions) {
    this.#conn = conn;
    this.#handlers = handlers;
    this.#maxFrameSize = options.maxFrameSize;
    this.#maxBuffered = options.maxBufferedBytes;
    this.#decoder = new FrameDecoder({ maxFrameSize: options.maxFrameSize });
    void this.#run();
  }

  get bufferedBytes(): number {
    return this.#queuedBytes + this.#writingBytes;
  }

  send(frame: FrameInit): boolean {
    if (this.#closing) return false;
    return this.#enqueue(encodeFrame(frame, { maxFrameSize: this.#maxFrameSize }));
  }

  close(code?: number, reason?: string): void {
    this.#shutdown({ code, reason, local: true }, true);
  }

  #enqueue(bytes: Uint8Array): boolean {
    const buffered = this.bufferedBytes;
    // One frame always fits in an empty queue, whatever the bound.
    if (buffered > 0 && buffered + bytes.length > this.#maxBuffered) return false;
    this.#queue.push(bytes);
    this.#queuedBytes += bytes.length;
    this.#writer ??= this.#writeLoop();
    return true;
  }

  async #writeLoop(): Promise<void> {
    // Start on the next microtask: frames sent in the same task leave in the same write.
    await null;
    try {
      while (this.#queue.length > 0 && !this.#connClosed) {
        const chunk = this.#take();
        let offset = 0;
        this.#writingBytes = chunk.length;
        while (offset < chunk.length) {
          offset += await this.#conn.write(chunk.subarray(offset));
          this.#writingBytes = chunk.length - offset;
        }
      }
    } catch (error) {
      this.#queue = [];
      this.#queuedBytes = 0;
      if (!this.#connClosed) this.#shutdown({ error, local: false }, false);
    } finally {
      this.#writingBytes = 0;
      this.#writer = undefined;
    }
    if (this.#closing) this.#closeConn();
  }

  /** Everything queued, as one buffer. */
  #take(): Uint8Array {
    const queue = this.#queue;
    this.#queue = [];
    this.#queuedBytes = 0;
    if (queue.length === 1) return queue[0];
    let length = 0;
    for (const bytes of queue) length += bytes.length;
    const merged = new Uint8Array(length);
    let offset = 0;
    for (const bytes of queue) {
      merged.set(bytes, offset);
      offset += bytes.length;
    }
    return merged;
  }

  /** Reads until the stream ends, then reports the close once everything is released. */
  async #run(): Promise<void> {
    const buffer = new Uint8Array(READ_BUFFER_BYTES);
    try {
      while (!this.#closing) {
        const n = await this.#conn.read(buffer);
        if (n === null) {
          const end = this.#decoder.end();
          if (!end.ok) this.#badFrame(end.error);
          else this.#shutdown({ local: false }, false);
          break;
        }
        const result = this.#decoder.push(buffer.subarray(0, n));
        for (const frame of result.frames) {
          if (this.#closing) break;
          this.#handlers.onFrame(frame);
        }
        if (!result.ok) this.#badFrame(result.error);
      }
    } catch (error) {
      // A read interrupted by our own close is the normal way out.
      if (!this.#connClosed) this.#shutdown({ error, local: false }, false);
    }
    await this.#released.promise;
    await this.#writer;
    this.#handlers.onClose(this.#info ?? { local: false });
  }

  #badFrame(error: FrameError): void {
    if (this.#closing) return;
    // Tell the peer why before closing, as the protocol asks of the closing side.
    this.#enqueue(encodeFrame({
      kind: FrameKind.NOTIFY,
      close: closeBody(CloseCode.BadFrame, { errorCode: error.code, reason: error.message }),
    }));
    this.#shutdown({
      code: CloseCode.BadFrame,
      reason: error.message,
      error: ProtocolError.from(error),
      local: true,
    }, true);
  }

  /** Stops sending; closes the socket now, or once the queue is written when `drain`. */
  #shutdown(info: TransportCloseInfo, drain: boolean): void {
    this.#info ??= info;
    if (this.#closing && !drain) {
      this.#closeConn();
      return;
    }
    if (this.#closing) return;
    this.#closing = true;
    if (!drain || this.#writer === undefined) {
      this.#closeConn();
    } else {
      this.#drainTimer = setTimeout(() => this.#closeConn(), CLOSE_DRAIN_MS);
    }
  }

  #closeConn(): void {
    if (this.#connClosed) return;
    this.#connClosed = true;
    clearTimeout(this.#drainTimer);
    try {
      this.#conn.close();
    } catch { /* already closed by the runtime */ }
    this.#released.resolve();
  }
}
