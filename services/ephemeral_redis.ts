/**
 * The real backends of the shared-ephemeral-state ports (`ephemeral.ts`): one Redis (7.0 or
 * later; a primary, not Redis Cluster) shared by every node. Each backend takes a client
 * from `openRedis` (the caller owns it and quits it) and a key prefix; instances with the
 * same prefix share state.
 *
 * Key layout, after the prefix (`flash:` in production, a random one per test):
 *
 * | key                          | type       | holds                                      |
 * | ---------------------------- | ---------- | ------------------------------------------ |
 * | `ratelimit:<key>`            | hash       | `tokens`, `at` (ms); expires once refilled |
 * | `dedupe:<n>:<sender>:<msg>`  | string     | the ack, `PX ttl`; `n` = sender id length  |
 * | `revoked:<id>`               | string     | `1`, expiring at the revocation's end      |
 * | `revoked` (channel)          | pub/sub    | each revoked id, as it is revoked          |
 * | `presence:exp:<user>`        | sorted set | session id, scored by expiry (ms)          |
 * | `presence:loc:<user>`        | hash       | session id -> `[deviceId, node, worker]`   |
 *
 * Both presence keys of a user expire (`PEXPIREAT`) with the user's last session; entries
 * of one user change atomically (a Lua script or a `MULTI`), so the two keys agree.
 *
 * Time: every expiry decision uses the Redis server's clock (`TIME` inside Lua scripts,
 * `PX`/`PXAT` expiries), so nodes with skewed clocks still agree. The one exception is
 * {@link RevocationList.revoke}'s `untilMs`, an absolute time from the caller (the revoked
 * token's own expiry), applied with `PXAT`.
 *
 * @module
 */

import type { Redis } from "ioredis";
import {
  checkCost,
  checkKey,
  checkLocation,
  checkRateLimitConfig,
  checkSessionRef,
  checkTtl,
  checkUntil,
  dedupeKey,
} from "./_ephemeral_args.ts";
import { RedisScript } from "./_redis_script.ts";
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

/** What every Redis backend is built from. */
export interface RedisBackendOptions {
  /** A client from `openRedis`; the backend never quits it. */
  readonly redis: Redis;
  /** Prepended to every key and channel, e.g. `flash:`; instances sharing it share state. */
  readonly prefix: string;
}

/** Most entries per script call of a batch; keeps each script's run (it blocks Redis) short. */
const BATCH_CHUNK = 500;

/** Server time in ms (`now`) inside scripts; `TIME` is allowed since Redis 5 (effects). */
const LUA_NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/**
 * KEYS[1] bucket; ARGV capacity, refill per second, cost. Returns {allowed, remaining,
 * retryAfterMs}. A full bucket is deleted (same as absent); any other expires when it
 * would be full again, so idle keys vanish.
 */
const TAKE_SCRIPT = new RedisScript(`${LUA_NOW}
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local eps = 1e-9
local tokens = capacity
local at = now
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
if state[1] and state[2] then
  local last = tonumber(state[2])
  tokens = math.min(capacity, tonumber(state[1]) + math.max(0, now - last) * rate / 1000)
  at = math.max(last, now)
end
local allowed = 0
local retry = 0
if tokens + eps >= cost then
  allowed = 1
  tokens = math.max(0, tokens - cost)
else
  retry = math.ceil((cost - tokens) * 1000 / rate)
end
if tokens + eps < capacity then
  redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', at)
  redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) * 1000 / rate))
else
  redis.call('DEL', KEYS[1])
end
return {allowed, math.floor(tokens + eps), retry}
`);

/** Drops a user's expired sessions (scores <= now) from both presence keys. */
const LUA_PRUNE = `
local function prune(z, h, now)
  local dead = redis.call('ZRANGEBYSCORE', z, '-inf', now)
  if #dead > 0 then
    redis.call('ZREMRANGEBYSCORE', z, '-inf', now)
    for i = 1, #dead do redis.call('HDEL', h, dead[i]) end
  end
end
`;

/** KEYS exp, loc; ARGV session id, location JSON, ttl. Keys expire with their last entry. */
const REGISTER_SCRIPT = new RedisScript(`${LUA_NOW}${LUA_PRUNE}
prune(KEYS[1], KEYS[2], now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
redis.call('PEXPIREAT', KEYS[2], last[2])
return 1
`);

/**
 * KEYS exp1, loc1, exp2, loc2, ...; ARGV ttl, session id 1, session id 2, ... Extends live
 * entries only; returns the 1-based positions of the entries that were gone.
 */
const REFRESH_SCRIPT = new RedisScript(`${LUA_NOW}${LUA_PRUNE}
local expires = now + tonumber(ARGV[1])
local missing = {}
for i = 1, #KEYS / 2 do
  local z = KEYS[2 * i - 1]
  local h = KEYS[2 * i]
  prune(z, h, now)
  if redis.call('ZSCORE', z, ARGV[i + 1]) then
    redis.call('ZADD', z, expires, ARGV[i + 1])
    redis.call('PEXPIREAT', z, expires, 'GT')
    redis.call('PEXPIREAT', h, expires, 'GT')
  else
    missing[#missing + 1] = i
  end
end
return missing
`);

/** KEYS exp, loc. Returns live session ids and their location JSON, alternating. */
const SESSIONS_SCRIPT = new RedisScript(`${LUA_NOW}
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. string.format('%d', now), '+inf')
local out = {}
for i = 1, #ids do
  local location = redis.call('HGET', KEYS[2], ids[i])
  if location then
    out[#out + 1] = ids[i]
    out[#out + 1] = location
  end
end
return out
`);

/** KEYS exp1, exp2, ... Returns 1 or 0 per key: whether it has a live session. */
const ONLINE_SCRIPT = new RedisScript(`${LUA_NOW}
local bound = '(' .. string.format('%d', now)
local out = {}
for i = 1, #KEYS do
  out[i] = redis.call('ZCOUNT', KEYS[i], bound, '+inf') > 0 and 1 or 0
end
return out
`);

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Options of {@link RedisRateLimiter}: the backend plus the bucket shape. */
export type RedisRateLimiterOptions = RedisBackendOptions & RateLimitConfig;

/**
 * {@link RateLimiter} with one atomic Lua script per take (server clock). Give each limiter
 * (per account, per address) its own prefix: buckets are keyed by prefix and key only.
 *
 * @example
 * ```ts
 * const perAccount = new RedisRateLimiter({
 *   redis, prefix: "flash:login-account:", capacity: 5, refillPerSec: 0.1,
 * });
 * const { allowed, retryAfterMs } = await perAccount.take(username.toLowerCase());
 * ```
 */
export class RedisRateLimiter implements RateLimiter {
  readonly config: RateLimitConfig;
  #redis: Redis;
  #prefix: string;

  /** @throws {RangeError} for a capacity below 1 or a non-positive refill rate. */
  constructor(options: RedisRateLimiterOptions) {
    checkRateLimitConfig(options);
    this.config = { capacity: options.capacity, refillPerSec: options.refillPerSec };
    this.#redis = options.redis;
    this.#prefix = options.prefix;
  }

  async take(key: string, cost = 1): Promise<RateLimitResult> {
    const { capacity, refillPerSec } = this.config;
    checkKey("rate limit key", key);
    checkCost(cost, capacity);
    const [allowed, remaining, retryAfterMs] = await TAKE_SCRIPT.run(this.#redis, {
      keys: [`${this.#prefix}ratelimit:${key}`],
      args: [capacity, refillPerSec, cost],
    }) as [number, number, number];
    return { allowed: allowed === 1, remaining, retryAfterMs };
  }
}

/**
 * {@link DedupeCache} as plain strings with `SET ... PX`; Redis' own eviction policy (if
 * any) bounds memory.
 *
 * @example
 * ```ts
 * const acks = new RedisDedupeCache({ redis, prefix: "flash:" });
 * await acks.put(senderId, clientMsgId, ackJson, 60_000);
 * ```
 */
export class RedisDedupeCache implements DedupeCache {
  #redis: Redis;
  #prefix: string;

  /** Keeps the client and prefix; sends nothing yet. */
  constructor(options: RedisBackendOptions) {
    this.#redis = options.redis;
    this.#prefix = options.prefix;
  }

  async get(senderId: string, clientMsgId: string): Promise<string | undefined> {
    checkKey("sender id", senderId);
    checkKey("client message id", clientMsgId);
    return (await this.#redis.get(this.#key(senderId, clientMsgId))) ?? undefined;
  }

  async put(senderId: string, clientMsgId: string, value: string, ttlMs: number): Promise<void> {
    checkKey("sender id", senderId);
    checkKey("client message id", clientMsgId);
    checkTtl(ttlMs);
    await this.#redis.set(this.#key(senderId, clientMsgId), value, "PX", Math.ceil(ttlMs));
  }

  #key(senderId: string, clientMsgId: string): string {
    return `${this.#prefix}dedupe:${dedupeKey(senderId, clientMsgId)}`;
  }
}

/** Options of {@link RedisRevocationList}. */
export interface RedisRevocationListOptions extends RedisBackendOptions {
  /** Receives what a listener throws, and the subscriber connection's errors. Default: ignore. */
  readonly onError?: (error: unknown) => void;
}

/**
 * {@link RevocationList} as expiring keys plus a pub/sub channel. `revoke` stores the key
 * (keeping the later end time when repeated) and publishes the id in one `MULTI`.
 *
 * The first `subscribe` opens a dedicated subscriber connection (`redis.duplicate()`: a
 * connection in subscribe mode can send nothing else), kept until {@link close}. ioredis
 * resubscribes after a reconnect; revocations published while it was down are not heard
 * (see the port's delivery note).
 *
 * @example
 * ```ts
 * await using revoked = new RedisRevocationList({ redis, prefix: "flash:" });
 * revoked.subscribe((sessionId) => gateway.closeSession(sessionId));
 * await revoked.subscribed();
 * ```
 */
export class RedisRevocationList implements RevocationList {
  #redis: Redis;
  #prefix: string;
  #channel: string;
  #onError: (error: unknown) => void;
  #listeners = new Set<(id: string) => void>();
  #subscriber: Redis | undefined;
  #ready: Promise<void> | undefined;
  #closed = false;

  /** Keeps the client and prefix; the subscriber connection opens on first `subscribe`. */
  constructor(options: RedisRevocationListOptions) {
    this.#redis = options.redis;
    this.#prefix = options.prefix;
    this.#channel = `${options.prefix}revoked`;
    this.#onError = options.onError ?? (() => {});
  }

  async revoke(id: string, untilMs: number): Promise<void> {
    checkKey("revoked id", id);
    checkUntil(untilMs);
    const key = `${this.#prefix}revoked:${id}`;
    const until = Math.ceil(untilMs);
    const results = await this.#redis.multi()
      .set(key, "1", "PXAT", until, "NX")
      .pexpireat(key, until, "GT")
      .publish(this.#channel, id)
      .exec();
    const failed = results?.find(([error]) => error !== null);
    if (failed) throw failed[0];
  }

  async isRevoked(id: string): Promise<boolean> {
    checkKey("revoked id", id);
    return (await this.#redis.exists(`${this.#prefix}revoked:${id}`)) === 1;
  }

  subscribe(listener: (id: string) => void): Unsubscribe {
    if (this.#closed) throw new Error("Cannot subscribe: the revocation list is closed");
    const entry = (id: string) => listener(id);
    this.#listeners.add(entry);
    this.#ensureSubscriber();
    return () => void this.#listeners.delete(entry);
  }

  subscribed(): Promise<void> {
    return this.#ready ?? Promise.resolve();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    if (subscriber === undefined) return;
    await this.#ready?.catch(() => {});
    await subscriber.quit().catch(() => subscriber.disconnect());
  }

  /** Same as {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #ensureSubscriber(): void {
    if (this.#subscriber !== undefined) return;
    // Its SUBSCRIBE may be sent before the new connection is up (and again after each
    // reconnect): this connection queues, unlike the command client.
    const subscriber = this.#redis.duplicate({ enableOfflineQueue: true });
    subscriber.on("error", (error: unknown) => this.#onError(error));
    subscriber.on("message", (channel: string, id: string) => {
      if (channel !== this.#channel) return;
      for (const listener of [...this.#listeners]) {
        try {
          listener(id);
        } catch (error) {
          this.#onError(error);
        }
      }
    });
    this.#subscriber = subscriber;
    this.#ready = subscriber.subscribe(this.#channel).then(() => {});
    // Reported here so a failure nobody awaits is not an unhandled rejection; `subscribed()`
    // still rejects for a caller that waits.
    this.#ready.catch((error) => this.#onError(error));
  }
}

/**
 * {@link PresenceDirectory} as a sorted set (session -> expiry) and a hash (session ->
 * location) per user. Redis 7.0 cannot expire hash fields, so Lua scripts prune expired
 * sessions (`ZREMRANGEBYSCORE` + `HDEL`) when a user's entries change, reads filter by
 * score, and both keys expire (`PEXPIREAT`) with the user's last session.
 *
 * @example
 * ```ts
 * const presence = new RedisPresenceDirectory({ redis, prefix: "flash:" });
 * await presence.register({ userId, sessionId, deviceId, node, worker }, 30_000);
 * const gone = await presence.refresh(mySessions, 30_000); // every 10 s
 * ```
 */
export class RedisPresenceDirectory implements PresenceDirectory {
  #redis: Redis;
  #prefix: string;

  /** Keeps the client and prefix; sends nothing yet. */
  constructor(options: RedisBackendOptions) {
    this.#redis = options.redis;
    this.#prefix = options.prefix;
  }

  async register(location: SessionLocation, ttlMs: number): Promise<void> {
    checkLocation(location);
    checkTtl(ttlMs);
    const { userId, sessionId, deviceId, node, worker } = location;
    await REGISTER_SCRIPT.run(this.#redis, {
      keys: this.#keys(userId),
      args: [sessionId, JSON.stringify([deviceId, node, worker]), Math.ceil(ttlMs)],
    });
  }

  async refresh(entries: readonly SessionRef[], ttlMs: number): Promise<SessionRef[]> {
    for (const entry of entries) checkSessionRef(entry);
    checkTtl(ttlMs);
    const batches = chunks(entries, BATCH_CHUNK);
    const results = await REFRESH_SCRIPT.runMany(
      this.#redis,
      batches.map((batch) => ({
        keys: batch.flatMap((entry) => this.#keys(entry.userId)),
        args: [Math.ceil(ttlMs), ...batch.map((entry) => entry.sessionId)],
      })),
    );
    return results.flatMap((missing, b) =>
      (missing as number[]).map((i) => {
        const { userId, sessionId } = batches[b][i - 1];
        return { userId, sessionId };
      })
    );
  }

  async unregister(userId: string, sessionId: string): Promise<void> {
    checkSessionRef({ userId, sessionId });
    const [exp, loc] = this.#keys(userId);
    await this.#redis.multi().zrem(exp, sessionId).hdel(loc, sessionId).exec();
  }

  async sessionsOf(userId: string): Promise<SessionLocation[]> {
    checkKey("user id", userId);
    const flat = await SESSIONS_SCRIPT.run(this.#redis, {
      keys: this.#keys(userId),
      args: [],
    }) as string[];
    const out: SessionLocation[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const [deviceId, node, worker] = JSON.parse(flat[i + 1]) as [string, string, number];
      out.push({ userId, sessionId: flat[i], deviceId, node, worker });
    }
    return out.sort((a, b) => (a.sessionId < b.sessionId ? -1 : a.sessionId > b.sessionId ? 1 : 0));
  }

  async onlineAmong(userIds: readonly string[]): Promise<Set<string>> {
    for (const userId of userIds) checkKey("user id", userId);
    const batches = chunks(userIds, BATCH_CHUNK);
    const results = await ONLINE_SCRIPT.runMany(
      this.#redis,
      batches.map((batch) => ({ keys: batch.map((id) => this.#keys(id)[0]), args: [] })),
    );
    const online = new Set<string>();
    results.forEach((flags, b) => {
      (flags as number[]).forEach((flag, i) => flag === 1 && online.add(batches[b][i]));
    });
    return online;
  }

  #keys(userId: string): [exp: string, loc: string] {
    return [`${this.#prefix}presence:exp:${userId}`, `${this.#prefix}presence:loc:${userId}`];
  }
}
