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
  // npm:postgres
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
]);

/** Postgres SQLSTATEs of a server going away or refusing work for now. */
const PG_STATES = new Set(["57P01", "57P02", "57P03", "53300", "53400"]);

/** ioredis' messages for a client that is disconnected or got no answer in time. */
const REDIS_MESSAGES = [
  "enableOfflineQueue options is false",
  "Connection is closed",
  "Command timed out",
  "Reached the max retries per request limit",
];

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
