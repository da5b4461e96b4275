/**
 * Opens the Redis client (`npm:ioredis`) that the shared-ephemeral-state backends use
 * (`ephemeral_redis.ts`): rate limits, dedupe acks, revocations and presence.
 *
 * Opening fails fast: an unreachable server is reported once, within `connectTimeoutMs`,
 * instead of ioredis' default of reconnecting forever in the background. Once connected,
 * the client does reconnect (with capped backoff) when the server restarts, so a short
 * Redis outage does not take a node down.
 *
 * @module
 */

import { Redis } from "ioredis";

export type { Redis } from "ioredis";

/** Options of {@link openRedis}. */
export interface OpenRedisOptions {
  /** Milliseconds to wait for the first connection before failing. Default 3000. */
  readonly connectTimeoutMs?: number;
  /** Milliseconds a command may wait for its answer before it fails. Default 2000. */
  readonly commandTimeoutMs?: number;
  /** Shown to the server as the client name (`CLIENT LIST`). Default `flash-im`. */
  readonly clientName?: string;
  /**
   * Receives the client's errors after it has connected (a lost connection, a failed
   * reconnect attempt), e.g. to log them. Default: ignore them; commands still fail.
   */
  readonly onError?: (error: Error) => void;
  /**
   * Whether to wait for the first connection (default `true`: an unreachable server fails
   * the open). With `false` the client is returned at once and keeps connecting in the
   * background; until it is up, commands fail at once and errors go to `onError`.
   */
  readonly waitForServer?: boolean;
}

/** Default of {@link OpenRedisOptions.commandTimeoutMs}. */
export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 2000;

/** Default of {@link OpenRedisOptions.connectTimeoutMs}. */
export const DEFAULT_REDIS_CONNECT_TIMEOUT_MS = 3000;
/** Longest pause between reconnect attempts after the connection was lost. */
const MAX_RECONNECT_DELAY_MS = 2000;

/** Host, port and database parsed from a `redis://` URL; see {@link parseRedisUrl}. */
export interface RedisAddress {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username?: string;
  readonly password?: string;
  /** `true` for `rediss://`. */
  readonly tls: boolean;
}

/**
 * Parses `redis://[user[:password]@]host[:port][/db]` (or `rediss://` for TLS). The port
 * defaults to 6379 and the database to 0.
 *
 * @throws {TypeError} when `url` is not a `redis:` or `rediss:` URL with a host.
 * @throws {RangeError} when the path is not a non-negative integer database number (the
 *   server checks the upper bound when it connects).
 */
export function parseRedisUrl(url: string): RedisAddress {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`Cannot parse Redis URL ${redactUrlPassword(url)}`);
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    throw new TypeError(
      `Cannot parse Redis URL ${redactUrlPassword(url)}: scheme ${parsed.protocol} is not redis:`,
    );
  }
  if (parsed.hostname === "") {
    throw new TypeError(`Cannot parse Redis URL ${redactUrlPassword(url)}: no host`);
  }
  const path = parsed.pathname.replace(/^\//, "");
  const db = path === "" ? 0 : Number(path);
  if (!/^[0-9]*$/.test(path) || !Number.isSafeInteger(db)) {
    throw new RangeError(
      `Cannot parse Redis URL ${redactUrlPassword(url)}: database "${path}" is not an integer`,
    );
  }
  return {
    // URL keeps brackets around IPv6 literals; sockets want the bare address.
    host: parsed.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: parsed.port === "" ? 6379 : Number(parsed.port),
    db,
    username: parsed.username === "" ? undefined : decodeURIComponent(parsed.username),
    password: parsed.password === "" ? undefined : decodeURIComponent(parsed.password),
    tls: parsed.protocol === "rediss:",
  };
}

/** `url` with its password replaced by `***`, for error messages and logs. */
export function redactUrlPassword(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:@/]*:)[^@/]*@/i, "$1***@");
}

/**
 * Connects to the Redis server at `url` and resolves once it answers. The caller owns the
 * client and ends it with `await redis.quit()`.
 *
 * @throws {TypeError | RangeError} for a malformed URL (see {@link parseRedisUrl}).
 * @throws {Error} naming the URL (password redacted) when the server cannot be reached
 *   or refuses the connection within `connectTimeoutMs`; the cause is ioredis' error.
 *
 * @example
 * ```ts
 * const redis = await openRedis("redis://127.0.0.1:6379/0");
 * try {
 *   await redis.ping();
 * } finally {
 *   await redis.quit();
 * }
 * ```
 */
export async function openRedis(url: string, options: OpenRedisOptions = {}): Promise<Redis> {
  const address = parseRedisUrl(url);
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_REDIS_CONNECT_TIMEOUT_MS;
  if (!(timeoutMs > 0 && Number.isFinite(timeoutMs))) {
    throw new RangeError(`Cannot open Redis: connect timeout ${timeoutMs} ms is not positive`);
  }
  const wait = options.waitForServer ?? true;
  let connected = !wait;
  const redis = new Redis({
    host: address.host,
    port: address.port,
    db: address.db,
    username: address.username,
    password: address.password,
    tls: address.tls ? {} : undefined,
    connectionName: options.clientName ?? "flash-im",
    lazyConnect: true,
    connectTimeout: timeoutMs,
    // Before the first connection, give up at once (openRedis reports it); afterwards,
    // ride out a server restart with capped backoff.
    retryStrategy: (attempt) => connected ? Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS) : null,
    // While Redis is down, commands fail at once (callers answer "unavailable, retry")
    // instead of queueing without bound; a command that got no answer fails after a bound.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs ?? DEFAULT_REDIS_COMMAND_TIMEOUT_MS,
    // Commands issued in the same tick leave in one write (an ack per stored message is
    // put in the idempotency cache: per message, not per batch).
    enableAutoPipelining: true,
  });
  // Without a listener ioredis prints every connection error; openRedis reports the first
  // one itself (connect() only says "Connection is closed"). Callers add their own listener
  // to log later errors.
  let firstError: Error | undefined;
  const onError = options.onError ?? (() => {});
  redis.on("error", (error: Error) => {
    if (connected) onError(error);
    else firstError ??= error;
  });
  if (!wait) {
    redis.connect().catch(() => {}); // reported through onError; reconnects by itself
    return redis;
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      redis.connect(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    connected = true;
    return redis;
  } catch (error) {
    redis.disconnect();
    const cause = firstError ?? error;
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new Error(`Cannot connect to Redis at ${redactUrlPassword(url)}: ${reason}`, { cause });
  } finally {
    clearTimeout(timer);
  }
}
