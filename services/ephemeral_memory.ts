/**
 * The embedded backends of the shared-ephemeral-state ports (`ephemeral.ts`): plain maps in
 * this process, for a single node. Nothing is shared with other processes or workers, and
 * a restart forgets everything.
 *
 * Time comes from an injected clock (`now`, default `Date.now`) and no backend runs a
 * timer: expired entries are dropped when touched and by a sweep amortized over writes,
 * so tests can drive time by hand. The rate limiter and the dedupe cache are bounded: a
 * flood of distinct keys evicts old entries instead of growing memory.
 *
 * @module
 */

import {
  checkCost,
  checkKey,
  checkLocation,
  checkRateLimitConfig,
  checkSessionRef,
  checkTtl,
  checkUntil,
  dedupeKey,
  rejecting,
} from "./_ephemeral_args.ts";
import type {
  DedupeCache,
  PresenceDirectory,
  RateLimitConfig,
  RateLimiter,
  RateLimitResult,
  RevocationList,
  SessionLocation,
  SessionRef,
  Unsubscribe,
} from "./ephemeral.ts";

/** Default of {@link MemoryRateLimiterOptions.maxKeys}. */
export const DEFAULT_MEMORY_RATE_LIMIT_KEYS = 100_000;
/** Default of {@link MemoryDedupeCacheOptions.maxEntries}. */
export const DEFAULT_MEMORY_DEDUPE_ENTRIES = 100_000;
/** Slack for float rounding when comparing token counts (refills are fractions). */
const TOKEN_EPSILON = 1e-9;
/** Writes between full sweeps of expired entries, at least (more when the map is big). */
const MIN_SWEEP_INTERVAL = 1024;

/** A clock in epoch milliseconds. */
export type Clock = () => number;

function checkBound(what: string, value: number): void {
  if (!(Number.isSafeInteger(value) && value >= 1)) {
    throw new RangeError(`Invalid ${what}: ${value} is not an integer >= 1`);
  }
}

/** Options of {@link MemoryRateLimiter}: the bucket shape plus memory bound and clock. */
export interface MemoryRateLimiterOptions extends RateLimitConfig {
  /** Most buckets kept; beyond it full buckets, then the least recently used, go. */
  readonly maxKeys?: number;
  /** Default `Date.now`. */
  readonly now?: Clock;
}

/**
 * {@link RateLimiter} in a bounded map. A bucket that has refilled to `capacity` is the same
 * as no bucket, so eviction drops full buckets first; only a flood of more than `maxKeys`
 * keys active within one refill period evicts partly drained buckets (resetting them to
 * full), least recently used first.
 *
 * @example
 * ```ts
 * const limiter = new MemoryRateLimiter({ capacity: 5, refillPerSec: 0.1 });
 * const { allowed, retryAfterMs } = await limiter.take("login:alice");
 * ```
 */
export class MemoryRateLimiter implements RateLimiter {
  readonly config: RateLimitConfig;
  #buckets = new Map<string, { tokens: number; at: number }>();
  #maxKeys: number;
  #now: Clock;

  /** @throws {RangeError} for a bad capacity, refill rate or `maxKeys`. */
  constructor(options: MemoryRateLimiterOptions) {
    checkRateLimitConfig(options);
    this.config = { capacity: options.capacity, refillPerSec: options.refillPerSec };
    this.#maxKeys = options.maxKeys ?? DEFAULT_MEMORY_RATE_LIMIT_KEYS;
    checkBound("rate limiter maxKeys", this.#maxKeys);
    this.#now = options.now ?? Date.now;
  }

  /** Buckets held now (for metrics and tests); never above `maxKeys`. */
  get size(): number {
    return this.#buckets.size;
  }

  take(key: string, cost = 1): Promise<RateLimitResult> {
    return rejecting(() => Promise.resolve(this.#take(key, cost)));
  }

  #take(key: string, cost: number): RateLimitResult {
    const { capacity, refillPerSec } = this.config;
    checkKey("rate limit key", key);
    checkCost(cost, capacity);
    const now = this.#now();
    let tokens = capacity;
    let at = now;
    const bucket = this.#buckets.get(key);
    if (bucket !== undefined) {
      tokens = this.#refilled(bucket, now);
      at = Math.max(bucket.at, now);
      this.#buckets.delete(key); // re-inserted below: the map's order is recency of use
    }
    const allowed = tokens + TOKEN_EPSILON >= cost;
    if (allowed) tokens = Math.max(0, tokens - cost);
    if (tokens + TOKEN_EPSILON < capacity) {
      this.#buckets.set(key, { tokens, at });
      if (this.#buckets.size > this.#maxKeys) this.#evict(now);
    }
    return {
      allowed,
      remaining: Math.floor(tokens + TOKEN_EPSILON),
      retryAfterMs: allowed ? 0 : Math.ceil(((cost - tokens) * 1000) / refillPerSec),
    };
  }

  #refilled(bucket: { tokens: number; at: number }, now: number): number {
    const { capacity, refillPerSec } = this.config;
    return Math.min(capacity, bucket.tokens + (Math.max(0, now - bucket.at) * refillPerSec) / 1000);
  }

  /** Frees a tenth of the bound at once, so the O(n) scan is amortized over many takes. */
  #evict(now: number): void {
    const target = Math.floor(this.#maxKeys * 0.9);
    const capacity = this.config.capacity;
    for (const [key, bucket] of this.#buckets) {
      if (this.#buckets.size <= target) return;
      if (this.#refilled(bucket, now) + TOKEN_EPSILON >= capacity) this.#buckets.delete(key);
    }
    for (const key of this.#buckets.keys()) {
      if (this.#buckets.size <= target) return;
      this.#buckets.delete(key);
    }
  }
}

/** Options of {@link MemoryDedupeCache}. */
export interface MemoryDedupeCacheOptions {
  /** Most entries kept; beyond it the least recently used go. */
  readonly maxEntries?: number;
  /** Default `Date.now`. */
  readonly now?: Clock;
}

/**
 * {@link DedupeCache} as a bounded LRU map with a TTL per entry.
 *
 * @example
 * ```ts
 * const acks = new MemoryDedupeCache({ maxEntries: 10_000 });
 * await acks.put("42", "c-1", ackJson, 60_000);
 * await acks.get("42", "c-1"); // ackJson
 * ```
 */
export class MemoryDedupeCache implements DedupeCache {
  #entries = new Map<string, { value: string; expiresAt: number }>();
  #maxEntries: number;
  #now: Clock;

  /** @throws {RangeError} for a `maxEntries` below 1. */
  constructor(options: MemoryDedupeCacheOptions = {}) {
    this.#maxEntries = options.maxEntries ?? DEFAULT_MEMORY_DEDUPE_ENTRIES;
    checkBound("dedupe cache maxEntries", this.#maxEntries);
    this.#now = options.now ?? Date.now;
  }

  /** Entries held now, expired ones not yet dropped included; never above `maxEntries`. */
  get size(): number {
    return this.#entries.size;
  }

  get(senderId: string, clientMsgId: string): Promise<string | undefined> {
    return rejecting(() => {
      checkKey("sender id", senderId);
      checkKey("client message id", clientMsgId);
      const key = dedupeKey(senderId, clientMsgId);
      const entry = this.#entries.get(key);
      if (entry === undefined) return Promise.resolve(undefined);
      this.#entries.delete(key);
      if (entry.expiresAt <= this.#now()) return Promise.resolve(undefined);
      this.#entries.set(key, entry);
      return Promise.resolve(entry.value);
    });
  }

  put(senderId: string, clientMsgId: string, value: string, ttlMs: number): Promise<void> {
    return rejecting(() => {
      checkKey("sender id", senderId);
      checkKey("client message id", clientMsgId);
      checkTtl(ttlMs);
      const key = dedupeKey(senderId, clientMsgId);
      this.#entries.delete(key);
      this.#entries.set(key, { value, expiresAt: this.#now() + ttlMs });
      for (const oldest of this.#entries.keys()) {
        if (this.#entries.size <= this.#maxEntries) break;
        this.#entries.delete(oldest);
      }
      return Promise.resolve();
    });
  }
}

/** Options of {@link MemoryRevocationList}. */
export interface MemoryRevocationListOptions {
  /** Default `Date.now`. */
  readonly now?: Clock;
  /** Receives what a listener throws. Default: ignore it. */
  readonly onListenerError?: (error: unknown) => void;
}

/**
 * {@link RevocationList} in a map of id to end time, with listeners in this process. A
 * revocation keeps the later of its end times when repeated. Listeners are called
 * synchronously inside `revoke`, after the revocation is stored.
 *
 * @example
 * ```ts
 * const revoked = new MemoryRevocationList();
 * revoked.subscribe((id) => gateway.closeSession(id));
 * await revoked.revoke(sessionId, refreshTokenExpiresAt);
 * ```
 */
export class MemoryRevocationList implements RevocationList {
  #until = new Map<string, number>();
  #listeners = new Set<(id: string) => void>();
  #writes = 0;
  #closed = false;
  #now: Clock;
  #onListenerError: (error: unknown) => void;

  /** Uses `options.now` as its clock. */
  constructor(options: MemoryRevocationListOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#onListenerError = options.onListenerError ?? (() => {});
  }

  /** Revocations held now, run-out ones not yet swept included. */
  get size(): number {
    return this.#until.size;
  }

  revoke(id: string, untilMs: number): Promise<void> {
    return rejecting(() => {
      checkKey("revoked id", id);
      checkUntil(untilMs);
      const now = this.#now();
      if (untilMs > now) this.#until.set(id, Math.max(untilMs, this.#until.get(id) ?? 0));
      if (++this.#writes >= Math.max(MIN_SWEEP_INTERVAL, this.#until.size)) this.#sweep(now);
      for (const listener of [...this.#listeners]) {
        try {
          listener(id);
        } catch (error) {
          this.#onListenerError(error);
        }
      }
      return Promise.resolve();
    });
  }

  isRevoked(id: string): Promise<boolean> {
    return rejecting(() => {
      checkKey("revoked id", id);
      const until = this.#until.get(id);
      if (until === undefined) return Promise.resolve(false);
      if (until > this.#now()) return Promise.resolve(true);
      this.#until.delete(id);
      return Promise.resolve(false);
    });
  }

  subscribe(listener: (id: string) => void): Unsubscribe {
    if (this.#closed) throw new Error("Cannot subscribe: the revocation list is closed");
    // A wrapper per subscription, so subscribing one function twice needs two unsubscribes.
    const entry = (id: string) => listener(id);
    this.#listeners.add(entry);
    return () => void this.#listeners.delete(entry);
  }

  subscribed(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    return Promise.resolve();
  }

  /** Same as {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #sweep(now: number): void {
    this.#writes = 0;
    for (const [id, until] of this.#until) if (until <= now) this.#until.delete(id);
  }
}

/** Options of {@link MemoryPresenceDirectory}. */
export interface MemoryPresenceDirectoryOptions {
  /** Default `Date.now`. */
  readonly now?: Clock;
}

interface PresenceEntry {
  location: SessionLocation;
  expiresAt: number;
}

/**
 * {@link PresenceDirectory} as a map of user to sessions with expiry times. Its size follows
 * the number of live sessions: expired entries are dropped when their user is touched and
 * by a sweep every so many registrations.
 *
 * @example
 * ```ts
 * const presence = new MemoryPresenceDirectory();
 * await presence.register({ userId, sessionId, deviceId, node: "n1", worker: 0 }, 30_000);
 * await presence.onlineAmong(friendIds);
 * ```
 */
export class MemoryPresenceDirectory implements PresenceDirectory {
  #users = new Map<string, Map<string, PresenceEntry>>();
  #writes = 0;
  #now: Clock;

  /** Uses `options.now` as its clock. */
  constructor(options: MemoryPresenceDirectoryOptions = {}) {
    this.#now = options.now ?? Date.now;
  }

  /** Users with entries held now, expired ones not yet swept included. */
  get size(): number {
    return this.#users.size;
  }

  register(location: SessionLocation, ttlMs: number): Promise<void> {
    return rejecting(() => {
      checkLocation(location);
      checkTtl(ttlMs);
      const now = this.#now();
      const { userId, sessionId, deviceId, node, worker } = location;
      let sessions = this.#users.get(userId);
      if (sessions === undefined) this.#users.set(userId, sessions = new Map());
      sessions.set(sessionId, {
        location: { userId, sessionId, deviceId, node, worker },
        expiresAt: now + ttlMs,
      });
      if (++this.#writes >= Math.max(MIN_SWEEP_INTERVAL, this.#users.size)) this.#sweep(now);
      return Promise.resolve();
    });
  }

  refresh(entries: readonly SessionRef[], ttlMs: number): Promise<SessionRef[]> {
    return rejecting(() => {
      for (const entry of entries) checkSessionRef(entry);
      checkTtl(ttlMs);
      const now = this.#now();
      const missing: SessionRef[] = [];
      for (const { userId, sessionId } of entries) {
        const entry = this.#users.get(userId)?.get(sessionId);
        if (entry !== undefined && entry.expiresAt > now) entry.expiresAt = now + ttlMs;
        else missing.push({ userId, sessionId });
      }
      return Promise.resolve(missing);
    });
  }

  unregister(userId: string, sessionId: string): Promise<void> {
    return rejecting(() => {
      checkSessionRef({ userId, sessionId });
      const sessions = this.#users.get(userId);
      sessions?.delete(sessionId);
      if (sessions?.size === 0) this.#users.delete(userId);
      return Promise.resolve();
    });
  }

  sessionsOf(userId: string): Promise<SessionLocation[]> {
    return rejecting(() => {
      checkKey("user id", userId);
      const live = this.#live(userId, this.#now());
      const locations = live.map((entry) => ({ ...entry.location }));
      locations.sort((
        a,
        b,
      ) => (a.sessionId < b.sessionId ? -1 : a.sessionId > b.sessionId ? 1 : 0));
      return Promise.resolve(locations);
    });
  }

  onlineAmong(userIds: readonly string[]): Promise<Set<string>> {
    return rejecting(() => {
      for (const userId of userIds) checkKey("user id", userId);
      const now = this.#now();
      const online = new Set<string>();
      for (const userId of userIds) if (this.#live(userId, now).length > 0) online.add(userId);
      return Promise.resolve(online);
    });
  }

  /** The user's live entries; drops the expired ones on the way. */
  #live(userId: string, now: number): PresenceEntry[] {
    const sessions = this.#users.get(userId);
    if (sessions === undefined) return [];
    const live: PresenceEntry[] = [];
    for (const [sessionId, entry] of sessions) {
      if (entry.expiresAt > now) live.push(entry);
      else sessions.delete(sessionId);
    }
    if (sessions.size === 0) this.#users.delete(userId);
    return live;
  }

  #sweep(now: number): void {
    this.#writes = 0;
    for (const userId of [...this.#users.keys()]) this.#live(userId, now);
  }
}
