/**
 * Tells a backend outage (Postgres or Redis unreachable, restarting, refusing connections)
 * from a bug, so callers can answer "unavailable, retry" (ErrorCode.Unavailable, HTTP 503)
 * rather than "internal error". Judged from the drivers' error codes and messages:
 * `npm:postgres` and `npm:ioredis` have no common error class.
 *
 * @module
 */

/** Socket-level and driver codes that mean the server could not be reached or went away. */
const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENOTFOUND",
  // BackendTimeoutError
  "BACKEND_TIMEOUT",
  // The service bus (runtime/service_bus.ts): no node serves it, none answered, all busy.
  "SERVICE_UNAVAILABLE",
  "SERVICE_TIMEOUT",
  "SERVICE_BUSY",
  // npm:postgres
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
]);

/** Postgres SQLSTATEs of a server going away or refusing work for now. */
const PG_STATES = new Set([
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "53300", // too_many_connections
  "53400", // configuration_limit_exceeded
  "57014", // query_canceled: statement_timeout (a lock held by a stalled node, an overload)
  "25P03", // idle_in_transaction_session_timeout: this process stalled mid-transaction
]);

/** ioredis' messages for a client that is disconnected or got no answer in time. */
const REDIS_MESSAGES = [
  "enableOfflineQueue options is false",
  "Connection is closed",
  "Command timed out",
  "Reached the max retries per request limit",
];

/**
 * A backend call that got no answer within its deadline. Its outcome is unknown: the write
 * may still land, which callers make safe the way they make any retry safe (idempotency
 * keys, seq checks). Counts as unavailable.
 */
export class BackendTimeoutError extends Error {
  override name = "BackendTimeoutError";
  readonly code = "BACKEND_TIMEOUT";
}

/**
 * `promise`, or a {@link BackendTimeoutError} after `ms`: bounds how long a caller waits on
 * a driver whose promise may never settle (a connection lost mid-write can strand a query).
 *
 * @example
 * ```ts
 * const results = await withDeadline(store.appendBatch(items, now), 10_000, "appendBatch");
 * ```
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new BackendTimeoutError(`${what} got no answer within ${ms} ms`)),
      ms,
    );
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/**
 * `port` with every method that returns a promise bounded by {@link withDeadline} (`ms`),
 * naming the call as `name.method`. For ports over a driver whose promises can strand.
 *
 * @example
 * ```ts
 * const friends = withDeadlines(new PgFriendStore(sql), 10_000, "friends");
 * await friends.areFriends("1", "2"); // rejects with BackendTimeoutError after 10 s
 * ```
 */
export function withDeadlines<T extends object>(port: T, ms: number, name: string): T {
  if (!(ms > 0 && Number.isFinite(ms))) {
    throw new RangeError(`Invalid deadline for ${name}: ${ms} ms is not positive`);
  }
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(port, {
    get(target, key) {
      const value = Reflect.get(target, key, target);
      if (typeof value !== "function") return value;
      let method = wrapped.get(key);
      if (method === undefined) {
        method = (...args: unknown[]) => {
          const result = value.apply(target, args);
          return result instanceof Promise
            ? withDeadline(result, ms, `${name}.${String(key)}`)
            : result;
        };
        wrapped.set(key, method);
      }
      return method;
    },
  });
}

/**
 * Whether `error` (or what it wraps, through `cause` and `AggregateError`) comes from a
 * backend that is down or unreachable right now.
 *
 * @example
 * ```ts
 * isBackendUnavailable(Object.assign(new Error("write CONNECTION_CLOSED"), { code: "CONNECTION_CLOSED" })); // true
 * ```
 */
export function isBackendUnavailable(error: unknown, depth = 0): boolean {
  if (depth > 4 || !(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && (CONNECTION_CODES.has(code) || PG_STATES.has(code))) {
    return true;
  }
  if (typeof code === "string" && code.startsWith("08")) return true; // connection_exception
  if (
    error instanceof Deno.errors.ConnectionRefused || error instanceof Deno.errors.ConnectionReset
  ) {
    return true;
  }
  if (REDIS_MESSAGES.some((text) => error.message.includes(text))) return true;
  if (
    error instanceof AggregateError && error.errors.some((e) => isBackendUnavailable(e, depth + 1))
  ) {
    return true;
  }
  return isBackendUnavailable(error.cause, depth + 1);
}
