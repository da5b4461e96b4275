/**
 * The shared-ephemeral-state ports: state that every node of a cluster must see but that
 * may be lost without harm (a restart forgets it, clients recover). Each port has an
 * embedded backend (`ephemeral_memory.ts`, one node) and a real one (`ephemeral_redis.ts`,
 * a cluster of nodes sharing one Redis); both pass the suites in `ephemeral_contract.ts`.
 *
 * - {@link RateLimiter}: token buckets per key (login attempts per account and address).
 * - {@link DedupeCache}: the acks of recent sends, so a resent message is answered with
 *   its first ack instead of being stored twice.
 * - {@link RevocationList}: revoked session and token ids, with a revocation feed that
 *   lets every gateway close the revoked session's live connections.
 * - {@link PresenceDirectory}: where each user's live sessions are (node and worker).
 *
 * Ids and keys are non-empty strings of at most {@link MAX_EPHEMERAL_KEY_LENGTH} UTF-16
 * units; durations are positive milliseconds. Bad arguments reject with a `RangeError`.
 *
 * @module
 */

/** Longest key or id (UTF-16 code units) the ports accept. */
export const MAX_EPHEMERAL_KEY_LENGTH = 512;

/** Configuration of a {@link RateLimiter}: `capacity` tokens, refilled continuously. */
export interface RateLimitConfig {
  /** Most tokens a bucket holds (the burst); a new or idle key starts full. At least 1. */
  readonly capacity: number;
  /** Tokens added per second, fractions allowed (0.1 = one per 10 s). Positive. */
  readonly refillPerSec: number;
}

/** Result of {@link RateLimiter.take}. */
export interface RateLimitResult {
  /** Whether the tokens were taken; a refused take takes nothing. */
  readonly allowed: boolean;
  /** Whole tokens left after this take. */
  readonly remaining: number;
  /** 0 when allowed; otherwise milliseconds until the same take would succeed. */
  readonly retryAfterMs: number;
}

/**
 * Token buckets per key. A bucket starts full at `capacity` and refills at `refillPerSec`;
 * `take` removes `cost` tokens when there are that many. Atomic per key across every
 * instance sharing the backend: concurrent takes never admit more than the bucket holds.
 */
export interface RateLimiter {
  /** The configuration every bucket of this limiter follows. */
  readonly config: RateLimitConfig;
  /**
   * Takes `cost` tokens (default 1) from `key`'s bucket if it holds that many.
   *
   * @throws {RangeError} (as a rejection) for an empty or overlong key, or a cost that is
   *   not a finite number from 0 to `capacity`.
   */
  take(key: string, cost?: number): Promise<RateLimitResult>;
}

/**
 * The acks of recent sends, keyed by sender and the client's message id. Values are opaque
 * strings (a serialized ack). Entries live `ttlMs` at most; a backend may forget them
 * earlier under memory pressure (the in-memory one is a bounded LRU), so a miss is not
 * proof that the message was never sent.
 */
export interface DedupeCache {
  /**
   * The value stored for this send, or `undefined` when there is none or it expired.
   *
   * @throws {RangeError} (as a rejection) for an empty or overlong id.
   */
  get(senderId: string, clientMsgId: string): Promise<string | undefined>;
  /**
   * Stores `value` for `ttlMs` milliseconds, replacing any earlier value.
   *
   * @throws {RangeError} (as a rejection) for an empty or overlong id, or a `ttlMs` that is
   *   not a positive finite number.
   */
  put(senderId: string, clientMsgId: string, value: string, ttlMs: number): Promise<void>;
}

/** Unsubscribes a revocation listener; calling it again does nothing. */
export type Unsubscribe = () => void;

/**
 * Revoked session ids and token ids. A revocation is kept until `untilMs` (when the revoked
 * credential would have expired anyway) and announced to the listeners of every instance
 * sharing the backend.
 *
 * Delivery: listeners hear each revocation at most once, normally within milliseconds.
 * A listener that was not subscribed (or whose connection to the backend was down) when
 * the revocation happened does not hear it: `isRevoked` is the source of truth, and the
 * feed only shortens how long a revoked session stays connected.
 */
export interface RevocationList {
  /**
   * Revokes `id` until `untilMs` (epoch milliseconds) and tells every listener. A `untilMs`
   * already past still tells the listeners, but `isRevoked` may answer `false` at once.
   *
   * @throws {RangeError} (as a rejection) for an empty or overlong id, or a non-finite
   *   `untilMs`.
   */
  revoke(id: string, untilMs: number): Promise<void>;
  /**
   * Whether `id` is revoked and its revocation has not run out.
   *
   * @throws {RangeError} (as a rejection) for an empty or overlong id.
   */
  isRevoked(id: string): Promise<boolean>;
  /**
   * Calls `listener` with the id of every later revocation, made by this instance or any
   * other sharing the backend. A listener that throws does not stop the others.
   *
   * @throws {Error} after {@link close}.
   */
  subscribe(listener: (id: string) => void): Unsubscribe;
  /**
   * Resolves once the listeners subscribed so far are sure to hear revocations made from
   * now on (the Redis backend's SUBSCRIBE has been acknowledged).
   */
  subscribed(): Promise<void>;
  /** Drops every listener and releases what the instance holds (a Redis subscriber). */
  close(): Promise<void>;
}

/** Which live session, for {@link PresenceDirectory.refresh} and its result. */
export interface SessionRef {
  readonly userId: string;
  readonly sessionId: string;
}

/** Where a live session is connected. */
export interface SessionLocation extends SessionRef {
  readonly deviceId: string;
  /** The node's id in the cluster. */
  readonly node: string;
  /** The worker (0-based) inside the node that holds the connection. */
  readonly worker: number;
}

/**
 * Where users' live sessions are. Each entry lives `ttlMs` after its last `register` or
 * `refresh`: a node that dies stops refreshing, and its sessions vanish on their own.
 * Expired entries are never returned.
 */
export interface PresenceDirectory {
  /**
   * Adds (or replaces) the entry of `location.sessionId`, alive for `ttlMs`.
   *
   * @throws {RangeError} (as a rejection) for an empty or overlong id or node, a worker
   *   that is not a non-negative integer, or a `ttlMs` that is not positive and finite.
   */
  register(location: SessionLocation, ttlMs: number): Promise<void>;
  /**
   * Extends the life of many entries to `ttlMs` from now, in one round trip. Entries that
   * are gone (expired or unregistered) are not revived: they are returned, so the caller
   * can register them again.
   *
   * @throws {RangeError} (as a rejection) for an empty or overlong id, or a bad `ttlMs`.
   */
  refresh(entries: readonly SessionRef[], ttlMs: number): Promise<SessionRef[]>;
  /**
   * Removes one entry; removing a missing entry does nothing.
   *
   * @throws {RangeError} (as a rejection) for an empty or overlong id.
   */
  unregister(userId: string, sessionId: string): Promise<void>;
  /**
   * The live sessions of `userId`, ordered by session id.
   *
   * @throws {RangeError} (as a rejection) for an empty or overlong id.
   */
  sessionsOf(userId: string): Promise<SessionLocation[]>;
  /**
   * Which of `userIds` have at least one live session, in one round trip.
   *
   * @throws {RangeError} (as a rejection) for an empty or overlong id.
   */
  onlineAmong(userIds: readonly string[]): Promise<Set<string>>;
}
