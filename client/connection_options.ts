/**
 * Options of {@link FlashConnection}, their defaults and their validation.
 *
 * @module
 */

import { DEFAULT_MAX_FRAME, MAX_FRAME_LIMIT, MAX_ID_BYTES } from "../protocol/mod.ts";
import type { BackoffPolicy } from "./_backoff.ts";
import type { TransportFactory } from "./transport.ts";

/**
 * Automatic reconnection after an unexpected close: a network failure, a dead peer, or a
 * close code whose `closeInfo(code).reconnect` is true. Delays grow as
 * `minDelayMs * 2^attempt` up to `maxDelayMs`, ±`jitter`, and are at least the server's
 * `retry_after_ms`.
 *
 * @example
 * ```ts
 * const reconnect: ReconnectOptions = { minDelayMs: 500, maxDelayMs: 10_000, maxAttempts: 20 };
 * ```
 */
export interface ReconnectOptions {
  /** Reconnect at all (default `true`). */
  enabled?: boolean;
  /** Delay before the first attempt after a drop, in ms (default 200). */
  minDelayMs?: number;
  /** Largest delay between attempts, in ms (default 30 000). */
  maxDelayMs?: number;
  /** Relative random spread of each delay, 0-1 (default 0.2 = ±20 %). */
  jitter?: number;
  /** Attempts after a drop before giving up (default `Infinity`); reset by each success. */
  maxAttempts?: number;
}

/**
 * Options of `FlashConnection`; only `url`, `token` and `deviceId` are required. Invalid
 * values make the constructor throw `TypeError` (URL, scheme, token, device id) or
 * `RangeError` (numbers).
 *
 * @example
 * ```ts
 * const options: ConnectionOptions = {
 *   url: "tls://chat.example.com:7443",
 *   token: () => refreshAccessToken(),
 *   deviceId: "laptop-1",
 *   caCerts: [await Deno.readTextFile("ca.crt")],
 *   requestTimeoutMs: 5000,
 *   reconnect: { maxAttempts: 10 },
 * };
 * ```
 */
export interface ConnectionOptions {
  /**
   * Where to connect: `tcp://host:port`, `tls://host:port`, `ws://host:port/ws` or
   * `wss://host:port/ws`. `tcp:`/`tls:` need Deno.
   */
  url: string | URL;
  /**
   * The access token (JWT), or a function returning one: it is called before every
   * connection attempt, reconnects included, so it can hand out a refreshed token.
   */
  token: string | (() => string | Promise<string>);
  /** Stable id of this installation (1-128 bytes). */
  deviceId: string;
  /** Client software name sent in `Auth` (default `"flash-im-ts"`). */
  clientName?: string;
  /** Client software version sent in `Auth` (default `"1.0.0"`). */
  clientVersion?: string;
  /** Extra CA certificates (PEM text) to trust for `tls://` (not `wss://`: see README). */
  caCerts?: string[];
  /** Deadline of a request, and of connecting + authenticating, in ms (default 10 000). */
  requestTimeoutMs?: number;
  /**
   * Send a PING after this long without sending anything, in ms; the connection is
   * considered dead after twice this long without receiving anything. Default: the
   * server's `AuthOk.heartbeat_interval_ms`, else 30 000.
   */
  heartbeatIntervalMs?: number;
  /** Most requests waiting for an answer (default 1024); past it `request()` rejects. */
  maxInFlight?: number;
  /** Largest frame sent or accepted, in bytes (default 65 536). */
  maxFrameSize?: number;
  /** Bound of the transport's outbound queue, in bytes (default 1 MiB). */
  maxBufferedBytes?: number;
  /** Reconnection policy, or `false` to never reconnect (default: enabled). */
  reconnect?: ReconnectOptions | boolean;
  /** Opens transports; default: WebSocket for `ws:`/`wss:`, TCP/TLS for `tcp:`/`tls:`. */
  connectTransport?: TransportFactory;
}

/** {@link ConnectionOptions} with defaults applied. */
export interface ResolvedOptions {
  readonly url: URL;
  readonly token: () => string | Promise<string>;
  readonly deviceId: string;
  readonly clientName: string;
  readonly clientVersion: string;
  readonly caCerts: readonly string[] | undefined;
  readonly requestTimeoutMs: number;
  readonly heartbeatIntervalMs: number | undefined;
  readonly maxInFlight: number;
  readonly maxFrameSize: number;
  readonly maxBufferedBytes: number;
  readonly reconnect: BackoffPolicy & { readonly enabled: boolean; readonly maxAttempts: number };
  readonly connectTransport: TransportFactory | undefined;
}

const SCHEMES = new Set(["tcp:", "tls:", "ws:", "wss:"]);

/**
 * Applies the defaults and checks every option.
 *
 * @throws {TypeError} for a bad URL, scheme, token or device id.
 * @throws {RangeError} for a number out of range.
 */
export function resolveOptions(options: ConnectionOptions): ResolvedOptions {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch (cause) {
    throw new TypeError(`Cannot connect: "${options.url}" is not a URL`, { cause });
  }
  if (!SCHEMES.has(url.protocol)) {
    throw new TypeError(`Cannot connect to ${url.href}: expected tcp:, tls:, ws: or wss:`);
  }
  const token = options.token;
  if (typeof token !== "function" && (typeof token !== "string" || token === "")) {
    throw new TypeError("Cannot connect: token must be a non-empty string or a function");
  }
  const deviceBytes = new TextEncoder().encode(options.deviceId ?? "").length;
  if (typeof options.deviceId !== "string" || deviceBytes < 1 || deviceBytes > MAX_ID_BYTES) {
    throw new TypeError(`Cannot connect: deviceId must be 1-${MAX_ID_BYTES} bytes`);
  }
  const reconnect = options.reconnect === false
    ? { enabled: false }
    : options.reconnect === true || options.reconnect === undefined
    ? {}
    : options.reconnect;
  const minDelayMs = positive("reconnect.minDelayMs", reconnect.minDelayMs ?? 200, true);
  const maxDelayMs = positive("reconnect.maxDelayMs", reconnect.maxDelayMs ?? 30_000, true);
  if (maxDelayMs < minDelayMs) {
    throw new RangeError(
      `Cannot use reconnect.maxDelayMs ${maxDelayMs}: it is below minDelayMs ${minDelayMs}`,
    );
  }
  const jitter = reconnect.jitter ?? 0.2;
  if (!(jitter >= 0 && jitter <= 1)) {
    throw new RangeError(`Cannot use reconnect.jitter ${jitter}: expected 0 to 1`);
  }
  const maxAttempts = reconnect.maxAttempts ?? Infinity;
  if (!(maxAttempts >= 0)) {
    throw new RangeError(`Cannot use reconnect.maxAttempts ${maxAttempts}: expected >= 0`);
  }
  const maxFrameSize = positive("maxFrameSize", options.maxFrameSize ?? DEFAULT_MAX_FRAME);
  if (maxFrameSize > MAX_FRAME_LIMIT) {
    throw new RangeError(`Cannot use maxFrameSize ${maxFrameSize}: above ${MAX_FRAME_LIMIT}`);
  }
  return {
    url,
    token: typeof token === "function" ? token : () => token,
    deviceId: options.deviceId,
    clientName: options.clientName ?? "flash-im-ts",
    clientVersion: options.clientVersion ?? "1.0.0",
    caCerts: options.caCerts,
    requestTimeoutMs: positive("requestTimeoutMs", options.requestTimeoutMs ?? 10_000),
    heartbeatIntervalMs: options.heartbeatIntervalMs === undefined
      ? undefined
      : positive("heartbeatIntervalMs", options.heartbeatIntervalMs),
    maxInFlight: positive("maxInFlight", options.maxInFlight ?? 1024),
    maxFrameSize,
    maxBufferedBytes: positive("maxBufferedBytes", options.maxBufferedBytes ?? 1024 * 1024),
    reconnect: {
      enabled: reconnect.enabled ?? true,
      minDelayMs,
      maxDelayMs,
      jitter,
      maxAttempts,
    },
    connectTransport: options.connectTransport,
  };
}

/** Checks a positive integer option (or non-negative when `zero`). */
function positive(name: string, value: number, zero = false): number {
  if (!Number.isSafeInteger(value) || value < (zero ? 0 : 1)) {
    throw new RangeError(
      `Cannot use ${name} ${value}: expected an integer ${zero ? ">= 0" : ">= 1"}`,
    );
  }
  return value;
}
