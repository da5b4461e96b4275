/**
 * Every wire code, in one place: {@link ErrorCode} (carried by `Error.code` and
 * `Close.error_code`) and {@link CloseCode} (carried by `Close.code` and used as the
 * WebSocket close status).
 *
 * Error code ranges:
 *
 * | Range     | Category    | What                                                       |
 * | --------- | ----------- | ---------------------------------------------------------- |
 * | 1000-1999 | `protocol`  | framing, envelope and field validation                     |
 * | 2000-2999 | `auth`      | authentication and token refusal                           |
 * | 3000-3999 | `messaging` | conversations, messages, sync                              |
 * | 4000-4999 | `limit`     | rate limits and overload                                   |
 * | 5000-5999 | `server`    | server failures                                            |
 *
 * 1000-1099 and 4000-4099 are never error codes: close codes live there (1000 is the
 * WebSocket normal closure, 4000-4099 are ours), so a number always means one thing.
 *
 * `temporary` says whether the same request may succeed when retried later; a close's
 * `reconnect` says whether a client should reconnect by itself (with backoff). Codes unknown
 * to this version are still classified by range ({@link errorInfo}).
 *
 * @module
 */

import type { Close, ErrorBody } from "./schema.ts";

/** Error codes (`Error.code`). See the module docs for the ranges. */
export const ErrorCode = {
  // 1000-1999 protocol
  FrameEmpty: 1100,
  FrameTooLarge: 1101,
  FrameUndecodable: 1102,
  FrameTruncated: 1103,
  FrameKindInvalid: 1104,
  UnsupportedBody: 1105,
  UnexpectedFrame: 1106,
  InvalidField: 1107,
  InvalidRequestId: 1108,
  ProtocolVersionUnsupported: 1109,
  // 2000-2999 auth
  AuthRequired: 2000,
  AuthTokenMalformed: 2001,
  AuthTokenExpired: 2002,
  AuthTokenNotYetValid: 2003,
  AuthTokenBadSignature: 2004,
  AuthTokenWrongAlgorithm: 2005,
  AuthTokenUnknownKey: 2006,
  AuthTokenClaimsInvalid: 2007,
  AuthTokenRevoked: 2008,
  AuthTimeout: 2009,
  AlreadyAuthenticated: 2010,
  DeviceIdInvalid: 2011,
  // 3000-3999 messaging
  ConversationNotFound: 3000,
  NotMember: 3001,
  UserNotFound: 3002,
  Blocked: 3003,
  NotFriends: 3004,
  ContentTooLarge: 3005,
  ContentTypeUnsupported: 3006,
  ClientMsgIdInvalid: 3007,
  ClientMsgIdConflict: 3008,
  SeqOutOfRange: 3009,
  CursorInvalid: 3010,
  // 4000-4999 limits (4000-4099 are close codes)
  RateLimited: 4100,
  Busy: 4101,
  TooManyInFlight: 4102,
  TooManyConnections: 4103,
  // 5000-5999 server
  Internal: 5000,
  Unavailable: 5001,
  Timeout: 5002,
  ShuttingDown: 5003,
  NotImplemented: 5004,
} as const;
/** An error code. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Close codes (`Close.code`, and the WebSocket close status). */
export const CloseCode = {
  Normal: 1000,
  BadFrame: 4000,
  AuthRequired: 4001,
  AuthFailed: 4002,
  AuthTimeout: 4003,
  IdleTimeout: 4004,
  SlowConsumer: 4005,
  ServerShutdown: 4006,
  Kicked: 4007,
  Revoked: 4008,
  RateLimited: 4009,
  ProtocolUnsupported: 4010,
  InternalError: 4011,
} as const;
/** A close code. */
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** The category of an error code, from its range. */
export type ErrorCategory = "protocol" | "auth" | "messaging" | "limit" | "server" | "unknown";

/** What an error code means. */
export interface ErrorInfo {
  /** The code. */
  readonly code: number;
  /** The key in {@link ErrorCode}, or `"Unknown"`. */
  readonly name: string;
  /** The category, from the code's range. */
  readonly category: ErrorCategory;
  /** Retrying the same request later may succeed. */
  readonly temporary: boolean;
  /** What it means, for documentation and default messages. */
  readonly description: string;
}

/** What a close code means. */
export interface CloseInfo {
  /** The code. */
  readonly code: number;
  /** The key in {@link CloseCode}, or `"Unknown"`. */
  readonly name: string;
  /** A client should reconnect by itself, with backoff (and `retry_after_ms` if given). */
  readonly reconnect: boolean;
  /** What it means, for documentation and default reasons. */
  readonly description: string;
}

type Entry = readonly [temporary: boolean, description: string];

const ERROR_TABLE: Record<ErrorCode, Entry> = {
  1100: [false, "A frame's length prefix is 0, or a WebSocket message is empty."],
  1101: [false, "A frame is larger than the receiver's max frame size (checked on the prefix)."],
  1102: [false, "A frame's bytes are not a valid protobuf Frame."],
  1103: [false, "The stream ended in the middle of a frame."],
  1104: [false, "A frame's kind is unset (0) or unknown."],
  1105: [false, "The request's body is missing or not supported by this receiver (version)."],
  1106: [false, "The frame is not allowed here (wrong kind or direction for its body)."],
  1107: [false, "A field is missing, malformed or out of range; the message names it."],
  1108: [false, "A REQUEST has id 0 or reuses the id of a request still in flight."],
  1109: [false, "Auth.protocol_version is not supported by this server."],
  2000: [false, "A frame other than Auth or PING arrived before authentication."],
  2001: [false, "The access token is not a well-formed JWT."],
  2002: [false, "The access token has expired: refresh it over HTTP, then authenticate again."],
  2003: [true, "The access token is not valid yet (nbf/iat ahead of the server clock)."],
  2004: [false, "The access token's signature does not verify (tampered or forged)."],
  2005: [false, "The access token uses an algorithm the server does not accept (EdDSA only)."],
  2006: [true, "The access token's key id is unknown (the server may not have the new key yet)."],
  2007: [false, "The access token's claims (issuer, audience, subject, type) are not accepted."],
  2008: [false, "The access token or its session was revoked (logout, password change)."],
  2009: [false, "No Auth request arrived within the auth deadline."],
  2010: [false, "The connection is already authenticated."],
  2011: [false, "Auth.device_id is missing or longer than 128 bytes."],
  3000: [false, "The conversation does not exist."],
  3001: [false, "The user is not a member of the conversation."],
  3002: [false, "The user does not exist."],
  3003: [false, "The recipient does not accept messages from the sender."],
  3004: [false, "Direct messages need an accepted friendship."],
  3005: [false, "The message content is larger than the limit (32 KiB)."],
  3006: [false, "The content type is unknown or not accepted."],
  3007: [false, "client_msg_id is missing or longer than 64 bytes."],
  3008: [false, "client_msg_id was already used by this sender for a different message."],
  3009: [false, "A seq is beyond the conversation's latest seq."],
  3010: [false, "The sync cursor is ahead of the user's change log."],
  4100: [true, "Too many requests: slow down and retry after retry_after_ms."],
  4101: [true, "A server queue is full: retry after retry_after_ms or with backoff."],
  4102: [true, "Too many requests in flight on this connection: wait for answers first."],
  4103: [true, "The user has too many open connections."],
  5000: [true, "Unexpected server failure; idempotent requests may be retried."],
  5001: [true, "A server dependency (store, bus) is unavailable."],
  5002: [true, "The server timed out; the outcome is unknown: retry with the same ids."],
  5003: [true, "The server is shutting down: reconnect (to another node)."],
  5004: [false, "The request is valid but not implemented by this server."],
};

const CLOSE_TABLE: Record<CloseCode, Entry> = {
  1000: [false, "Normal closure (logout, or the peer is done)."],
  4000: [false, "Protocol violation: a bad, oversized or undecodable frame (see error_code)."],
  4001: [false, "A request arrived before authentication."],
  4002: [false, "Authentication failed (see error_code); get a new token before reconnecting."],
  4003: [true, "No Auth request within the auth deadline."],
  4004: [true, "No frame within the idle timeout."],
  4005: [true, "The client read too slowly and its outbound queue overflowed; reconnect, sync."],
  4006: [true, "The server is shutting down; reconnect after retry_after_ms."],
  4007: [false, "The same user and device connected elsewhere; do not reconnect automatically."],
  4008: [false, "The session or token was revoked; log in again."],
  4009: [true, "Rate limit exceeded; reconnect after retry_after_ms."],
  4010: [false, "The client's protocol version is not supported."],
  4011: [true, "Internal server error."],
};

const ERROR_NAMES = new Map<number, string>(Object.entries(ErrorCode).map(([k, v]) => [v, k]));
const CLOSE_NAMES = new Map<number, string>(Object.entries(CloseCode).map(([k, v]) => [v, k]));

/** The category of `code` by range (also for codes this version does not know). */
export function errorCategory(code: number): ErrorCategory {
  if (!Number.isInteger(code)) return "unknown";
  if (code >= 1100 && code <= 1999) return "protocol";
  if (code >= 2000 && code <= 2999) return "auth";
  if (code >= 3000 && code <= 3999) return "messaging";
  if (code >= 4100 && code <= 4999) return "limit";
  if (code >= 5000 && code <= 5999) return "server";
  return "unknown";
}

/**
 * Looks up an error code. A code this version does not know (from a newer peer) is still
 * classified by range: `limit` and `server` codes are treated as temporary, others not.
 *
 * @example
 * ```ts
 * errorInfo(ErrorCode.AuthTokenExpired).temporary; // false
 * errorInfo(4321).category; // "limit" (and temporary)
 * ```
 */
export function errorInfo(code: number): ErrorInfo {
  const name = ERROR_NAMES.get(code);
  const category = errorCategory(code);
  if (name === undefined) {
    const temporary = category === "limit" || category === "server";
    return { code, name: "Unknown", category, temporary, description: "Unknown error code." };
  }
  const [temporary, description] = ERROR_TABLE[code as ErrorCode];
  return { code, name, category, temporary, description };
}

/** Looks up a close code; an unknown one does not ask for a reconnect. */
export function closeInfo(code: number): CloseInfo {
  const name = CLOSE_NAMES.get(code);
  if (name === undefined) {
    return { code, name: "Unknown", reconnect: false, description: "Unknown close code." };
  }
  const [reconnect, description] = CLOSE_TABLE[code as CloseCode];
  return { code, name, reconnect, description };
}

/** Every known error code, ascending. */
export function allErrorInfo(): ErrorInfo[] {
  return Object.values(ErrorCode).sort((a, b) => a - b).map(errorInfo);
}

/** Every known close code, ascending. */
export function allCloseInfo(): CloseInfo[] {
  return Object.values(CloseCode).sort((a, b) => a - b).map(closeInfo);
}

/**
 * Builds an `Error` body whose `temporary` flag comes from the table.
 *
 * @example
 * ```ts
 * const frame = { id: request.id, kind: FrameKind.RESPONSE, error: errorBody(ErrorCode.NotMember) };
 * ```
 */
export function errorBody(
  code: ErrorCode,
  options: { message?: string; retryAfterMs?: number } = {},
): ErrorBody {
  const info = errorInfo(code);
  const body: ErrorBody = { code, message: options.message ?? info.description };
  if (info.temporary) body.temporary = true;
  if (options.retryAfterMs) body.retryAfterMs = options.retryAfterMs;
  return body;
}

/**
 * Builds a `Close` body.
 *
 * @example
 * ```ts
 * closeBody(CloseCode.AuthFailed, { errorCode: ErrorCode.AuthTokenExpired });
 * ```
 */
export function closeBody(
  code: CloseCode,
  options: { reason?: string; errorCode?: ErrorCode; retryAfterMs?: number } = {},
): Close {
  const body: Close = { code, reason: options.reason ?? closeInfo(code).description };
  if (options.errorCode) body.errorCode = options.errorCode;
  if (options.retryAfterMs) body.retryAfterMs = options.retryAfterMs;
  return body;
}
