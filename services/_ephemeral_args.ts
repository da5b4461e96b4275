/**
 * Argument checks shared by the shared-ephemeral-state backends (`ephemeral_memory.ts`,
 * `ephemeral_redis.ts`), so both reject the same inputs with the same messages. Private
 * to `services/`.
 *
 * @module
 */

import {
  MAX_EPHEMERAL_KEY_LENGTH,
  type RateLimitConfig,
  type SessionLocation,
  type SessionRef,
} from "./ephemeral.ts";

/** Throws a `RangeError` unless `value` is a non-empty string of bounded length. */
export function checkKey(what: string, value: string): void {
  if (typeof value !== "string" || value.length === 0) {
    throw new RangeError(`Invalid ${what}: ${JSON.stringify(value)} is empty`);
  }
  if (value.length > MAX_EPHEMERAL_KEY_LENGTH) {
    throw new RangeError(
      `Invalid ${what}: length ${value.length} exceeds limit ${MAX_EPHEMERAL_KEY_LENGTH}`,
    );
  }
}

/** Throws a `RangeError` unless `ttlMs` is a positive finite number. */
export function checkTtl(ttlMs: number): void {
  if (!(typeof ttlMs === "number" && ttlMs > 0 && Number.isFinite(ttlMs))) {
    throw new RangeError(`Invalid ttl: ${ttlMs} ms is not positive`);
  }
}

/** Throws a `RangeError` unless `config` has a capacity >= 1 and a positive refill rate. */
export function checkRateLimitConfig(config: RateLimitConfig): void {
  const { capacity, refillPerSec } = config;
  if (!(capacity >= 1 && Number.isFinite(capacity))) {
    throw new RangeError(`Invalid rate limit capacity: ${capacity} is less than 1`);
  }
  if (!(refillPerSec > 0 && Number.isFinite(refillPerSec))) {
    throw new RangeError(`Invalid rate limit refill: ${refillPerSec} tokens/s is not positive`);
  }
}

/** Throws a `RangeError` unless `cost` is a finite number from 0 to `capacity`. */
export function checkCost(cost: number, capacity: number): void {
  if (!(typeof cost === "number" && cost >= 0 && cost <= capacity)) {
    throw new RangeError(`Invalid rate limit cost: ${cost} is not between 0 and ${capacity}`);
  }
}

/** Throws a `RangeError` unless `untilMs` is a finite number. */
export function checkUntil(untilMs: number): void {
  if (!(typeof untilMs === "number" && Number.isFinite(untilMs))) {
    throw new RangeError(`Invalid revocation end: ${untilMs} is not a time in ms`);
  }
}

/** Checks both ids of a session reference. */
export function checkSessionRef(ref: SessionRef): void {
  checkKey("user id", ref.userId);
  checkKey("session id", ref.sessionId);
}

/** Checks every field of a session location. */
export function checkLocation(location: SessionLocation): void {
  checkSessionRef(location);
  checkKey("device id", location.deviceId);
  checkKey("node", location.node);
  if (!(Number.isSafeInteger(location.worker) && location.worker >= 0)) {
    throw new RangeError(`Invalid worker: ${location.worker} is not a non-negative integer`);
  }
}

/** One string key for a (sender, client message id) pair that no other pair shares. */
export function dedupeKey(senderId: string, clientMsgId: string): string {
  // The length prefix keeps ("a:b", "c") and ("a", "b:c") apart.
  return `${senderId.length}:${senderId}:${clientMsgId}`;
}

/**
 * Runs `fn` and turns a synchronous throw into a rejection, so argument errors of async
 * port methods surface as rejected promises (as the port docs say) without `async`.
 */
export function rejecting<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (error) {
    return Promise.reject(error);
  }
}
