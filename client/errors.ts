/**
 * Errors of the client SDK. Each extends `Error`, sets `name` and accepts `{ cause }`.
 *
 * - {@link ServerError}: the server answered a request with an `Error` body.
 * - {@link AuthError}: the server refused the `Auth` request (or closed during it).
 * - {@link RequestTimeoutError}: no answer before the deadline; the outcome is unknown.
 * - {@link ConnectionClosedError}: the connection is not open, or closed before the answer.
 * - {@link TooManyInFlightError}: `maxInFlight` requests already wait for an answer.
 * - {@link BackpressureError}: the transport's outbound queue is full.
 * - {@link SlowConsumerError}: a notification iterator fell too far behind.
 *
 * Bad arguments (options, oversized frames) are `TypeError`/`RangeError`.
 *
 * @module
 */

import { type ErrorBody, errorInfo } from "../protocol/mod.ts";

/**
 * The server answered a request with an `Error` body.
 *
 * @example
 * ```ts
 * try {
 *   await conn.sendMessage(message);
 * } catch (error) {
 *   if (error instanceof ServerError && error.temporary) retryIn(error.retryAfterMs || 1000);
 *   else if (error instanceof ServerError) markFailed(error.codeName);
 * }
 * ```
 */
export class ServerError extends Error {
  /** Always `"ServerError"`. */
  override name = "ServerError";
  /** The wire error code (`ErrorCode`; codes from newer servers are kept as numbers). */
  readonly code: number;
  /** The code's key in `ErrorCode` (`"NotMember"`), or `"Unknown"`. */
  readonly codeName: string;
  /** The same request may succeed later (the server's flag, or the code's range). */
  readonly temporary: boolean;
  /** Wait at least this long before retrying; 0 = use your own backoff. */
  readonly retryAfterMs: number;

  /** Makes an error from fields; see {@link ServerError.fromBody} for a wire body. */
  constructor(
    code: number,
    message: string,
    options: { temporary?: boolean; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    const info = errorInfo(code);
    this.code = code;
    this.codeName = info.name;
    this.temporary = options.temporary ?? info.temporary;
    this.retryAfterMs = options.retryAfterMs ?? 0;
  }

  /**
   * Builds the error for a decoded `Error` body. `message` is the server's text (or the
   * code's description when empty); `temporary` is the server's flag or the code's class.
   */
  static fromBody(body: ErrorBody): ServerError {
    const code = body.code ?? 0;
    const info = errorInfo(code);
    return new ServerError(code, body.message || info.description, {
      temporary: body.temporary === true || info.temporary,
      retryAfterMs: body.retryAfterMs ?? 0,
    });
  }
}

/**
 * The server refused authentication: an `Error` answer to `Auth`, or a `Close` during the
 * handshake. `code` is the error code (`AuthTokenExpired`, ..., 0 when only a close came);
 * `closeCode` the close code (`AuthFailed`, ..., 0 when the transport ended without one).
 *
 * @example
 * ```ts
 * const error = await conn.connect().catch((e) => e);
 * if (error instanceof AuthError && error.code === ErrorCode.AuthTokenExpired) refreshToken();
 * ```
 */
export class AuthError extends Error {
  /** Always `"AuthError"`. */
  override name = "AuthError";
  /** The wire error code, or 0. */
  readonly code: number;
  /** The close code the server sent, or 0. */
  readonly closeCode: number;
  /** The error code's `temporary` flag (e.g. `AuthTokenUnknownKey`). */
  readonly temporary: boolean;
  /** Wait at least this long before trying again; 0 = no advice. */
  readonly retryAfterMs: number;

  /** Makes an error; `options.cause` as for `Error`. */
  constructor(
    message: string,
    fields: { code?: number; closeCode?: number; temporary?: boolean; retryAfterMs?: number },
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.code = fields.code ?? 0;
    this.closeCode = fields.closeCode ?? 0;
    this.temporary = fields.temporary ?? (this.code !== 0 && errorInfo(this.code).temporary);
    this.retryAfterMs = fields.retryAfterMs ?? 0;
  }
}

/**
 * No answer came before the deadline. The request's id is forgotten (a late answer is
 * ignored); whether the server acted on it is unknown, so retry only idempotent requests
 * (a `sendMessage` with the same `clientMsgId` is one).
 *
 * @example
 * ```ts
 * const send = () => conn.sendMessage(message, { timeoutMs: 5000 }); // same clientMsgId
 * const ack = await send().catch((e) => e instanceof RequestTimeoutError ? send() : Promise.reject(e));
 * ```
 */
export class RequestTimeoutError extends Error {
  /** Always `"RequestTimeoutError"`. */
  override name = "RequestTimeoutError";
  /** The deadline that passed, in ms. */
  readonly timeoutMs: number;

  /** Makes an error; `options.cause` as for `Error`. */
  constructor(message: string, timeoutMs: number, options?: ErrorOptions) {
    super(message, options);
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The connection was not open, or it closed before the answer came. Pending requests are
 * not retried by the SDK: the outcome is unknown and the caller decides.
 *
 * @example
 * ```ts
 * conn.request(body).catch((e) => {
 *   if (e instanceof ConnectionClosedError) outbox.retryAfterReconnect(body);
 * });
 * ```
 */
export class ConnectionClosedError extends Error {
  /** Always `"ConnectionClosedError"`. */
  override name = "ConnectionClosedError";
  /** The close code, when the close had one (0 otherwise). */
  readonly code: number;

  /** Makes an error; `options.cause` as for `Error`. */
  constructor(message: string, code = 0, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/**
 * `maxInFlight` requests already wait for an answer: wait for some, then retry.
 *
 * @example
 * ```ts
 * if (conn.inFlight >= 1024) await nextAck; // or catch TooManyInFlightError and back off
 * ```
 */
export class TooManyInFlightError extends Error {
  /** Always `"TooManyInFlightError"`. */
  override name = "TooManyInFlightError";
  /** The limit that was reached. */
  readonly limit: number;

  /** Makes an error; `options.cause` as for `Error`. */
  constructor(message: string, limit: number, options?: ErrorOptions) {
    super(message, options);
    this.limit = limit;
  }
}

/**
 * The transport's outbound queue is full (the network or the server is slower than us).
 *
 * @example
 * ```ts
 * conn.request(body).catch((e) => e instanceof BackpressureError && slowDown(e.bufferedBytes));
 * ```
 */
export class BackpressureError extends Error {
  /** Always `"BackpressureError"`. */
  override name = "BackpressureError";
  /** Bytes waiting in the transport when the frame was refused. */
  readonly bufferedBytes: number;

  /** Makes an error; `options.cause` as for `Error`. */
  constructor(message: string, bufferedBytes: number, options?: ErrorOptions) {
    super(message, options);
    this.bufferedBytes = bufferedBytes;
  }
}

/**
 * A notification iterator with `overflow: "error"` fell `bufferSize` notifications behind:
 * it throws this once its buffer is drained, and receives nothing more.
 *
 * @example
 * ```ts
 * try {
 *   for await (const f of conn.notifications({ overflow: "error" })) await slowWork(f);
 * } catch (e) {
 *   if (e instanceof SlowConsumerError) await resyncEverything();
 * }
 * ```
 */
export class SlowConsumerError extends Error {
  /** Always `"SlowConsumerError"`. */
  override name = "SlowConsumerError";
  /** The buffer size that was exceeded. */
  readonly bufferSize: number;

  /** Makes an error; `options.cause` as for `Error`. */
  constructor(message: string, bufferSize: number, options?: ErrorOptions) {
    super(message, options);
    this.bufferSize = bufferSize;
  }
}
