/**
 * WebSocket transport (`ws://`, `wss://`): one binary message is one frame, no length
 * prefix (`encodeFrameBody`/`decodeFrameBody`). Uses only the web `WebSocket`, so it runs in
 * browsers and in Deno alike. The global `WebSocket` takes no CA option: for `wss://` to a
 * private CA, Deno needs `--cert ca.crt` (or `DENO_CERT`); browsers need the CA installed.
 *
 * - The outbound bound is `bufferedAmount`: `send()` returns `false` past
 *   `maxBufferedBytes`.
 * - A text message or a message that is not a valid frame closes the socket with
 *   `CloseCode.BadFrame` (after a `Close` frame saying why).
 * - `close()` starts the closing handshake; if the peer does not finish it within 1 s the
 *   socket is abandoned (its handlers detached) and the close is reported anyway, so a dead
 *   peer cannot hold the connection open.
 *
 * @module
 */

import {
  closeBody,
  CloseCode,
  decodeFrameBody,
  encodeFrameBody,
  ErrorCode,
  type FrameError,
  type FrameInit,
  FrameKind,
  ProtocolError,
} from "../protocol/mod.ts";
import { deferred } from "./_deferred.ts";
import type { Transport, TransportHandlers, TransportOptions } from "./transport.ts";

/** How long `close()` waits for the peer's half of the closing handshake. */
const CLOSE_HANDSHAKE_MS = 1000;
/** WebSocket close reasons are limited to 123 bytes of UTF-8. */
const MAX_REASON_BYTES = 123;

/**
 * Opens a WebSocket to `url` (`ws:` or `wss:`) and returns it as a {@link Transport} once
 * it is open. `FlashConnection` uses it for `ws:`/`wss:` URLs; call it directly to wrap or
 * test the transport.
 *
 * @throws {TypeError} (rejects) for another scheme; rejects when the socket closes before
 * opening (refused, TLS failure, HTTP error), or with `signal.reason` when aborted.
 *
 * @example
 * ```ts
 * const transport = await connectWebSocket(new URL("ws://127.0.0.1:7200/ws"), {
 *   onFrame: (frame) => console.log(frame.body),
 *   onClose: (info) => console.log("closed", info.code),
 * }, { maxFrameSize: 65536, maxBufferedBytes: 1 << 20 });
 * transport.send({ id: u64(1), kind: FrameKind.PING });
 * ```
 */
export function connectWebSocket(
  url: URL,
  handlers: TransportHandlers,
  options: TransportOptions,
): Promise<Transport> {
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    return Promise.reject(
      new TypeError(`Cannot open a WebSocket transport for ${url.href}: expected ws: or wss:`),
    );
  }
  const signal = options.signal;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const { promise, resolve, reject } = deferred<Transport>();
  const socket = new WebSocket(url);
  socket.binaryType = "arraybuffer";
  let failure: unknown;
  const onAbort = () => {
    failure = signal?.reason;
    socket.close();
  };
  const cleanup = () => {
    socket.onopen = null;
    socket.onerror = null;
    socket.onclose = null;
    signal?.removeEventListener("abort", onAbort);
  };
  socket.onopen = () => {
    cleanup();
    resolve(new WebSocketTransport(socket, handlers, options));
  };
  socket.onerror = (event) => {
    failure ??= (event as ErrorEvent).error ?? (event as ErrorEvent).message;
  };
  // A socket that fails to open fires `error` then `close`: settle on `close`, when the
  // socket holds nothing any more.
  socket.onclose = (event) => {
    cleanup();
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const detail = failure instanceof Error ? failure.message : String(failure ?? event.code);
    reject(new Error(`Cannot open WebSocket ${url.href}: ${detail}`, { cause: failure }));
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  return promise;
}

class WebSocketTransport implements Transport {
  readonly #socket: WebSocket;
  readonly #handlers: TransportHandlers;
  readonly #maxFrameSize: number;
  readonly #maxBuffered: number;
  #closing = false;
  #done = false;
  #local: { code?: number; reason?: string; error?: unknown } | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(socket: WebSocket, handlers: TransportHandlers, options: TransportOptions) {
    this.#socket = socket;
    this.#handlers = handlers;
    this.#maxFrameSize = options.maxFrameSize;
    this.#maxBuffered = options.maxBufferedBytes;
    socket.onmessage = (event) => this.#message(event.data);
    socket.onclose = (event) => this.#finish({ code: event.code, reason: event.reason });
    socket.onerror = () => {}; // the close event that follows carries the outcome
  }

  get bufferedBytes(): number {
    return this.#socket.bufferedAmount;
  }

  send(frame: FrameInit): boolean {
    if (this.#closing || this.#socket.readyState !== WebSocket.OPEN) return false;
    const bytes = encodeFrameBody(frame, { maxFrameSize: this.#maxFrameSize });
    const buffered = this.#socket.bufferedAmount;
    if (buffered > 0 && buffered + bytes.length > this.#maxBuffered) return false;
    this.#socket.send(bytes);
    return true;
  }

  close(code?: number, reason?: string): void {
    this.#close({ code, reason });
  }

  #message(data: unknown): void {
    if (this.#closing) return;
    if (!(data instanceof ArrayBuffer)) {
      this.#badFrame({
        code: ErrorCode.FrameUndecodable,
        message: "Cannot decode frame: text WebSocket messages are not frames",
      });
      return;
    }
    const result = decodeFrameBody(new Uint8Array(data), { maxFrameSize: this.#maxFrameSize });
    if (result.ok) this.#handlers.onFrame(result.frame);
    else this.#badFrame(result.error);
  }

  #badFrame(error: FrameError): void {
    const close = closeBody(CloseCode.BadFrame, { errorCode: error.code, reason: error.message });
    try {
      this.#socket.send(encodeFrameBody({ kind: FrameKind.NOTIFY, close }));
    } catch { /* the socket is closing anyway */ }
    this.#close({
      code: CloseCode.BadFrame,
      reason: error.message,
      error: ProtocolError.from(error),
    });
  }

  #close(local: { code?: number; reason?: string; error?: unknown }): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#local = local;
    try {
      this.#socket.close(validCloseCode(local.code), truncateReason(local.reason ?? ""));
    } catch (error) {
      this.#local = { ...local, error: local.error ?? error };
    }
    this.#timer = setTimeout(() => {
      // The peer did not answer the closing handshake: stop waiting for it.
      this.#socket.onmessage = null;
      this.#socket.onclose = null;
      this.#finish({ code: local.code, reason: local.reason });
    }, CLOSE_HANDSHAKE_MS);
  }

  #finish(remote: { code?: number; reason?: string }): void {
    if (this.#done) return;
    this.#done = true;
    this.#closing = true;
    clearTimeout(this.#timer);
    const local = this.#local;
    this.#handlers.onClose(
      local
        ? { code: local.code ?? remote.code, reason: local.reason, error: local.error, local: true }
        : { code: remote.code, reason: remote.reason, local: false },
    );
  }
}

/** A code the WebSocket API accepts from a script: 1000 or 3000-4999, else 1000. */
function validCloseCode(code: number | undefined): number {
  if (code === 1000 || (code !== undefined && code >= 3000 && code <= 4999)) return code;
  return 1000;
}

function truncateReason(reason: string): string {
  const bytes = new TextEncoder().encode(reason);
  if (bytes.length <= MAX_REASON_BYTES) return reason;
  // Cut at a character boundary: drop a partial UTF-8 sequence at the end.
  let end = MAX_REASON_BYTES;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end));
}
