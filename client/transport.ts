/**
 * The client side of one network connection, seen as frames. {@link FlashConnection} owns
 * one transport per connection attempt; `ws_transport.ts` (WebSocket, also in browsers) and
 * `tcp_transport.ts` (TCP and TLS, Deno only) implement it, and any other can be plugged in
 * through the `connectTransport` option.
 *
 * Contract:
 * - The factory resolves once frames can be sent (socket open, TLS handshake done), or
 *   rejects; a rejected attempt leaves nothing open. Aborting `signal` before then rejects.
 * - `send()` encodes and queues one frame and never blocks: it returns `false` (and drops
 *   the frame) when the bounded outbound queue is full or the transport is closing.
 *   It throws `RangeError` for a frame over `maxFrameSize` or without a valid kind.
 * - Received frames are decoded and handed to `onFrame`, in order. Bytes that are not a
 *   valid frame close the transport with `CloseCode.BadFrame` (after a `Close` frame) and a
 *   `ProtocolError` in `onClose`.
 * - `onClose` is called exactly once, after the socket is fully released (no pending reads
 *   or writes), whoever closed it.
 *
 * @module
 */

import type { Frame, FrameInit } from "../protocol/mod.ts";

/**
 * Why a transport ended, given to {@link TransportHandlers.onClose}.
 *
 * @example
 * ```ts
 * onClose: (info) => log.info({ code: info.code, local: info.local, error: info.error })
 * ```
 */
export interface TransportCloseInfo {
  /**
   * The close status when there is one: the WebSocket close code (from the peer or our own
   * `close(code)`), or the code given to `close()` on TCP. `undefined` on TCP when the peer
   * ended the stream, and when the socket failed.
   */
  readonly code?: number;
  /** Detail for logs (WebSocket close reason, or the reason given to `close()`). */
  readonly reason?: string;
  /** The failure, when the socket failed or sent bytes that are not frames. */
  readonly error?: unknown;
  /** `close()` was called on this side (including after a bad frame). */
  readonly local: boolean;
}

/**
 * Callbacks a transport reports to. They must not throw.
 *
 * @example
 * ```ts
 * const handlers: TransportHandlers = { onFrame: (f) => frames.push(f), onClose: () => {} };
 * ```
 */
export interface TransportHandlers {
  /** A decoded frame from the peer. */
  onFrame(frame: Frame): void;
  /** The transport ended; called once, last. */
  onClose(info: TransportCloseInfo): void;
}

/**
 * One open connection, seen as frames.
 *
 * @example
 * ```ts
 * if (!transport.send({ id: u64(1), kind: FrameKind.PING })) transport.close(4005, "slow");
 * ```
 */
export interface Transport {
  /**
   * Encodes and queues a frame. Returns `false` (frame dropped) when the outbound queue is
   * over its bound or the transport is closing/closed.
   *
   * @throws {RangeError} for a frame over `maxFrameSize` or with an invalid kind.
   */
  send(frame: FrameInit): boolean;
  /**
   * Closes the connection after the queued frames are written (bounded wait): idempotent.
   * `code` is the WebSocket close status (1000 or 4000-4999); TCP only reports it back.
   */
  close(code?: number, reason?: string): void;
  /** Bytes queued but not yet handed to the network. */
  readonly bufferedBytes: number;
}

/**
 * Options every transport factory receives.
 *
 * @example
 * ```ts
 * const options: TransportOptions = { maxFrameSize: 65536, maxBufferedBytes: 1 << 20 };
 * ```
 */
export interface TransportOptions {
  /** Largest frame body sent or received, in bytes. */
  readonly maxFrameSize: number;
  /** Bound of the outbound queue in bytes; `send()` returns `false` past it. */
  readonly maxBufferedBytes: number;
  /** Extra CA certificates (PEM) to trust for `tls://` (ignored by other transports). */
  readonly caCerts?: readonly string[];
  /** Aborts the attempt while it is connecting. */
  readonly signal?: AbortSignal;
}

/**
 * Opens a transport to `url` (`tcp:`, `tls:`, `ws:` or `wss:`), reporting to `handlers`.
 * Rejects when the connection cannot be opened or `signal` aborts first.
 *
 * @example
 * ```ts
 * // Count the bytes every frame costs, around the stock WebSocket transport.
 * const counting: TransportFactory = async (url, handlers, options) => {
 *   const inner = await connectWebSocket(url, handlers, options);
 *   return {
 *     send: (frame) => (sent++, inner.send(frame)),
 *     close: (code, reason) => inner.close(code, reason),
 *     get bufferedBytes() { return inner.bufferedBytes; },
 *   };
 * };
 * new FlashConnection({ url, token, deviceId, connectTransport: counting });
 * ```
 */
export type TransportFactory = (
  url: URL,
  handlers: TransportHandlers,
  options: TransportOptions,
) => Promise<Transport>;
