/**
 * Public types of `FlashConnection`: states, events, request options.
 *
 * @module
 */

import type { Frame, FrameInit } from "../protocol/mod.ts";

/**
 * Where a connection is: `idle` (made, `connect()` not called yet), `connecting` (opening
 * the transport), `authenticating` (`Auth` sent), `open` (`AuthOk` received), `reconnecting`
 * (waiting before the next attempt) and `closed` (final).
 *
 * @example
 * ```ts
 * conn.on("state", ({ state }) => statusBar.show(state === "open" ? "online" : state));
 * ```
 */
export type ConnectionState =
  | "idle"
  | "connecting"
  | "authenticating"
  | "open"
  | "reconnecting"
  | "closed";

/**
 * What the server said in `AuthOk`.
 *
 * @example
 * ```ts
 * const session = await conn.connect();
 * const skewMs = session.serverTimeMs - Date.now();
 * ```
 */
export interface Session {
  /** The authenticated user; the connection acts only as this user. */
  readonly userId: string;
  /** Server-assigned id of this session, for logs. */
  readonly sessionId: string;
  /** Server clock at authentication (Unix ms). */
  readonly serverTimeMs: number;
  /** The server's heartbeat interval (0 when it gave none). */
  readonly heartbeatIntervalMs: number;
  /** The server's idle timeout (0 when it gave none). */
  readonly idleTimeoutMs: number;
  /** Largest frame the server accepts (0 when it gave none). */
  readonly maxFrameSize: number;
  /** The protocol version in use. */
  readonly protocolVersion: number;
}

/**
 * The `open` event: authenticated (again).
 *
 * @example
 * ```ts
 * conn.on("open", ({ reconnected }) => {
 *   if (reconnected) void syncConversations(conn); // catch up on what was missed
 * });
 * ```
 */
export interface OpenEvent {
  /** What the server said in `AuthOk`. */
  readonly session: Session;
  /** `true` after a reconnect: the application should sync now. */
  readonly reconnected: boolean;
}

/**
 * The `close` event: an open connection ended, or the connection gave up.
 *
 * @example
 * ```ts
 * conn.on("close", (event) => {
 *   if (!event.willReconnect && event.code === CloseCode.AuthFailed) showLogin();
 * });
 * ```
 */
export interface CloseEvent {
  /**
   * The close code: the server's `Close.code`, ours (`Normal` for `close()`, `IdleTimeout`
   * for a dead peer, `BadFrame` for bad bytes), the WebSocket status, or 1006 when the
   * network failed without one.
   */
  readonly code: number;
  /** Detail for logs. */
  readonly reason: string;
  /** The server's `Close.error_code`, or 0. */
  readonly errorCode: number;
  /** The server's `Close.retry_after_ms`, or 0. */
  readonly retryAfterMs: number;
  /** A reconnect is scheduled (state `reconnecting`); otherwise the state is `closed`. */
  readonly willReconnect: boolean;
  /** This side closed (`close()`, dead peer, bad frame). */
  readonly local: boolean;
  /** Why the connection failed, when it did (`AuthError`, a network error, ...). */
  readonly error?: unknown;
}

/**
 * The `state` event.
 *
 * @example
 * ```ts
 * conn.on("state", ({ previous, state }) => log.debug({ previous, state }));
 * ```
 */
export interface StateEvent {
  /** The new state. */
  readonly state: ConnectionState;
  /** The state before. */
  readonly previous: ConnectionState;
}

/**
 * Events of a `FlashConnection`, by name: listen with `on(name, listener)`.
 *
 * @example
 * ```ts
 * conn.on("notify", (frame) => {
 *   if (frame.body === "messageNotify") render(frame.messageNotify.message);
 * });
 * ```
 */
export interface ConnectionEvents {
  /** The state changed. */
  state: StateEvent;
  /** Authenticated: after `connect()`, and again after each reconnect. */
  open: OpenEvent;
  /** The transport of an open connection ended, or the connection gave up for good. */
  close: CloseEvent;
  /** A NOTIFY frame from the server (messages, receipts, presence, typing, errors). */
  notify: Frame;
}

/**
 * A frame body to send: a frame without `id` and `kind`; exactly one body field.
 *
 * @example
 * ```ts
 * const body: RequestBody = { readReceipt: { conversationId: "g:9", upToSeq: u64(12) } };
 * conn.notify(body);
 * ```
 */
export type RequestBody = FrameInit extends infer F
  ? F extends unknown ? Omit<F, "id" | "kind"> : never
  : never;

/**
 * Options of one request.
 *
 * @example
 * ```ts
 * await conn.request({ syncRequest: {} }, { timeoutMs: 2000, signal: controller.signal });
 * ```
 */
export interface RequestOptions {
  /** Deadline in ms (default: the connection's `requestTimeoutMs`). */
  timeoutMs?: number;
  /** Abandons the request (rejects with `signal.reason`; a late answer is ignored). */
  signal?: AbortSignal;
}

/**
 * What a full notification buffer does with one more notification: `"dropOldest"` drops
 * the oldest buffered one (counted in `NotificationIterator.dropped`); `"error"` ends the
 * iterator with `SlowConsumerError` after it yielded what it holds.
 */
export type OverflowPolicy = "dropOldest" | "error";

/**
 * Options of `FlashConnection.notifications()`.
 *
 * @example
 * ```ts
 * const typing = conn.notifications({ bufferSize: 64, overflow: "dropOldest" });
 * ```
 */
export interface NotificationOptions {
  /** Notifications buffered for a slow consumer (default 1024). */
  bufferSize?: number;
  /**
   * When the buffer is full: `"dropOldest"` (default; counted in `dropped`) or `"error"`
   * (the iterator throws `SlowConsumerError` after yielding what it holds).
   */
  overflow?: OverflowPolicy;
}

/**
 * An async iterator over notifications, with the count of dropped ones.
 *
 * @example
 * ```ts
 * const notes = conn.notifications();
 * for await (const frame of notes) handle(frame); // ends when the connection closes
 * console.log(`${notes.dropped} dropped`);
 * ```
 */
export interface NotificationIterator extends AsyncIterableIterator<Frame> {
  /** Notifications dropped because the consumer was too slow (`dropOldest`). */
  readonly dropped: number;
}
