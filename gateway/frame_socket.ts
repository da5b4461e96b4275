/**
 * One client socket seen as frames: TCP/TLS streams (length-prefixed) and WebSocket
 * (one binary message per frame) behind the same small interface.
 *
 * @module
 */

import {
  closeBody,
  CloseCode,
  decodeFrameBody,
  encodeFrame,
  encodeFrameBody,
  ErrorCode,
  type Frame,
  FrameDecoder,
  type FrameError,
  type FrameInit,
  FrameKind,
  PREFIX_BYTES,
  u64,
} from "../protocol/mod.ts";
import { connWriter, Outbound, type OutboundLimits } from "./outbound.ts";

/** What the socket reports to its owner (the connection actor's shell). */
export interface SocketEvents {
  /** A decoded frame. */
  frame(frame: Frame): void;
  /** Undecodable input: the socket stops reading; the owner closes with BadFrame. */
  badFrame(error: FrameError): void;
  /** The peer closed or the transport failed. Called once. */
  ended(reason: string): void;
}

/** A client connection as frames. */
export interface FrameSocket {
  readonly transport: "tcp" | "tls" | "ws";
  readonly remote: string;
  /** Clock time (ms) of the last frame received; kept by the socket for the idle sweep. */
  lastSeen: number;
  /** Starts reading; events go to `events`. */
  start(events: SocketEvents): void;
  /**
   * Queues a frame, or a frame already encoded by `encodeFrame` (with its length prefix);
   * false when the outbound queue is full (slow consumer) or closed.
   *
   * @throws {RangeError} when the frame is larger than the socket's `maxFrameSize`.
   */
  send(frame: FrameInit | Uint8Array): boolean;
  /**
   * Sends a Close frame (when there is room), waits up to `drainMs` for queued frames to
   * leave, then closes the transport. Idempotent.
   */
  close(
    code: CloseCode,
    options?: { reason?: string; errorCode?: ErrorCode; drainMs?: number },
  ): Promise<void>;
  /** Closes the transport at once (no Close frame, nothing drained). Idempotent. */
  destroy(): void;
  /** Frames received but not yet handled: reading pauses above a high-water mark. */
  readonly backlog: Backlog;
}

/**
 * Flow control between a socket's read loop and the actor that handles its frames: the
 * loop counts frames in, the actor counts them out, and reading pauses while too many wait.
 */
export class Backlog {
  readonly high: number;
  readonly low: number;
  #pending = 0;
  #resume: PromiseWithResolvers<void> | undefined;

  constructor(high = 64, low = 16) {
    this.high = high;
    this.low = low;
  }

  get pending(): number {
    return this.#pending;
  }

  added(): void {
    this.#pending++;
  }

  handled(): void {
    if (this.#pending > 0) this.#pending--;
    if (this.#resume && this.#pending <= this.low) {
      this.#resume.resolve();
      this.#resume = undefined;
    }
  }

  /** Resolves at once below the high-water mark, else when the actor caught up. */
  wait(): Promise<void> | undefined {
    if (this.#pending < this.high) return undefined;
    return (this.#resume ??= Promise.withResolvers<void>()).promise;
  }

  /** Releases a paused reader (the socket is closing). */
  release(): void {
    this.#resume?.resolve();
    this.#resume = undefined;
  }
}

/** Options shared by both socket kinds. */
export interface FrameSocketOptions {
  readonly maxFrameSize: number;
  readonly outbound?: OutboundLimits;
  /** Read buffer per TCP/TLS connection. Default 4 KiB (see the connection bench). */
  readonly readBufferBytes?: number;
  readonly now: () => number;
}

/** How long a closing socket keeps reading so that its close sends FIN rather than RST. */
const LINGER_MS = 2000;

function closeFrame(
  code: CloseCode,
  options: { reason?: string; errorCode?: ErrorCode },
): FrameInit {
  return { id: u64(0), kind: FrameKind.NOTIFY, close: closeBody(code, options) };
}

/** A TCP or TLS connection carrying length-prefixed frames. */
export class StreamFrameSocket implements FrameSocket {
  readonly transport: "tcp" | "tls";
  readonly remote: string;
  readonly backlog = new Backlog();
  lastSeen: number;
  readonly #conn: Deno.Conn;
  readonly #options: FrameSocketOptions;
  readonly #out: Outbound;
  #closing: Promise<void> | undefined;
  #ended = false;
  /** Set while a close waits for the read loop to see the peer's FIN (made lazily: idle
   * connections should not each hold a promise). */
  #readDone: PromiseWithResolvers<void> | undefined;
  #reading = true;

  constructor(conn: Deno.Conn, transport: "tcp" | "tls", options: FrameSocketOptions) {
    this.#conn = conn;
    this.transport = transport;
    const addr = conn.remoteAddr as Deno.NetAddr;
    this.remote = `${addr.hostname}:${addr.port}`;
    this.#options = options;
    this.#out = new Outbound(connWriter(conn), options.outbound);
    this.lastSeen = options.now();
  }

  start(events: SocketEvents): void {
    this.#read(events);
  }

  send(frame: FrameInit | Uint8Array): boolean {
    if (this.#closing) return false;
    const max = this.#options.maxFrameSize;
    return this.#out.push(
      frame instanceof Uint8Array
        ? checkedEncoded(frame, max)
        : encodeFrame(frame, { maxFrameSize: max }),
    );
  }

  close(
    code: CloseCode,
    options: { reason?: string; errorCode?: ErrorCode; drainMs?: number } = {},
  ): Promise<void> {
    return this.#closing ??= this.#close(code, options);
  }

  async #close(
    code: CloseCode,
    options: { reason?: string; errorCode?: ErrorCode; drainMs?: number },
  ): Promise<void> {
    this.#out.pushFinal(
      encodeFrame(closeFrame(code, options), { maxFrameSize: this.#options.maxFrameSize }),
    );
    const drainMs = options.drainMs ?? 1000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#out.drained(),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, drainMs))),
    ]);
    clearTimeout(timer);
    this.backlog.release();
    // Closing a socket with unread input makes the kernel send RST, and the peer may then
    // lose the frames it has not read yet (our Close among them). So: send FIN first, keep
    // reading (and discarding) until the peer closes too, for at most LINGER_MS.
    try {
      await this.#conn.closeWrite();
      await Promise.race([
        this.#reading ? (this.#readDone ??= Promise.withResolvers<void>()).promise : undefined,
        new Promise<void>((resolve) => (timer = setTimeout(resolve, LINGER_MS))),
      ]);
      clearTimeout(timer);
    } catch {
      // The peer is gone already.
    }
    try {
      this.#conn.close();
    } catch {
      // Already closed by the peer or by the read loop.
    }
  }

  destroy(): void {
    this.#closing ??= Promise.resolve();
    this.#out.close();
    this.backlog.release();
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  async #read(events: SocketEvents): Promise<void> {
    const decoder = new FrameDecoder({ maxFrameSize: this.#options.maxFrameSize });
    const buffer = new Uint8Array(this.#options.readBufferBytes ?? 4096);
    let reason = "peer closed";
    let discard = false;
    try {
      while (true) {
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        // After a bad frame or a close, input is drained and dropped (see #close).
        if (discard || this.#closing) continue;
        this.lastSeen = this.#options.now();
        // The decoder copies what it keeps, so the buffer is reused at once.
        const result = decoder.push(buffer.subarray(0, n));
        for (const frame of result.frames) {
          this.backlog.added();
          events.frame(frame);
        }
        if (!result.ok) {
          events.badFrame(result.error);
          reason = "bad frame";
          discard = true;
          continue;
        }
        const paused = this.backlog.wait();
        if (paused) await paused;
      }
    } catch (error) {
      reason = this.#closing
        ? "closed"
        : `read failed: ${error instanceof Error ? error.message : error}`;
    }
    this.#reading = false;
    this.#readDone?.resolve();
    if (!this.#ended) {
      this.#ended = true;
      events.ended(reason);
    }
  }
}

/** A WebSocket carrying one frame per binary message. */
export class WebSocketFrameSocket implements FrameSocket {
  readonly transport = "ws" as const;
  readonly remote: string;
  readonly backlog = new Backlog();
  lastSeen: number;
  readonly #ws: WebSocket;
  readonly #options: FrameSocketOptions;
  readonly #maxBuffered: number;
  #closing: Promise<void> | undefined;

  constructor(ws: WebSocket, remote: string, options: FrameSocketOptions) {
    this.#ws = ws;
    ws.binaryType = "arraybuffer";
    this.remote = remote;
    this.#options = options;
    this.#maxBuffered = options.outbound?.maxBytes ?? 256 * 1024;
    this.lastSeen = options.now();
  }

  start(events: SocketEvents): void {
    let ended = false;
    const end = (reason: string) => {
      if (ended) return;
      ended = true;
      events.ended(reason);
    };
    this.#ws.onmessage = (event) => {
      if (this.#closing) return;
      this.lastSeen = this.#options.now();
      if (typeof event.data === "string") {
        events.badFrame(
          { code: 1102, message: "Text messages are not frames: send binary" } as FrameError,
        );
        return;
      }
      const result = decodeFrameBody(new Uint8Array(event.data as ArrayBuffer), {
        maxFrameSize: this.#options.maxFrameSize,
      });
      if (!result.ok) {
        events.badFrame(result.error);
        return;
      }
      this.backlog.added();
      events.frame(result.frame);
    };
    this.#ws.onclose = (event) => end(`peer closed (${event.code})`);
    this.#ws.onerror = () => end("websocket error");
  }

  send(frame: FrameInit | Uint8Array): boolean {
    if (this.#closing || this.#ws.readyState !== WebSocket.OPEN) return false;
    // The WebSocket buffers internally; its bufferedAmount is our outbound queue bound.
    if (this.#ws.bufferedAmount > this.#maxBuffered) return false;
    const max = this.#options.maxFrameSize;
    // One binary message is one frame: an encoded frame goes without its length prefix.
    this.#ws.send(
      frame instanceof Uint8Array
        ? checkedEncoded(frame, max).subarray(PREFIX_BYTES)
        : encodeFrameBody(frame, { maxFrameSize: max }),
    );
    return true;
  }

  close(
    code: CloseCode,
    options: { reason?: string; errorCode?: ErrorCode; drainMs?: number } = {},
  ): Promise<void> {
    return this.#closing ??= this.#close(code, options);
  }

  destroy(): void {
    this.#closing ??= Promise.resolve();
    this.backlog.release();
    try {
      this.#ws.close(CloseCode.Normal);
    } catch {
      // Already closing.
    }
  }

  async #close(
    code: CloseCode,
    options: { reason?: string; errorCode?: ErrorCode; drainMs?: number },
  ): Promise<void> {
    this.backlog.release();
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    const frame = closeFrame(code, options);
    this.#ws.send(encodeFrameBody(frame, { maxFrameSize: this.#options.maxFrameSize }));
    const deadline = Date.now() + (options.drainMs ?? 1000);
    while (this.#ws.bufferedAmount > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    // WebSocket close reasons are limited to 123 bytes.
    const reason = (options.reason ?? "").slice(0, 100);
    try {
      this.#ws.close(code, reason);
    } catch {
      // Already closing.
    }
  }
}

/**
 * A frame encoded by `encodeFrame` (length prefix included), checked against the socket's
 * limit.
 *
 * @throws {RangeError} when the frame is over `max` bytes (as `encodeFrame` would).
 */
function checkedEncoded(framed: Uint8Array, max: number): Uint8Array {
  const size = framed.length - PREFIX_BYTES;
  if (size > max) {
    throw new RangeError(`Cannot send a frame of ${size} bytes: the limit is ${max}`);
  }
  return framed;
}
