import assert from "node:assert/strict";
import { setTimeout as delay } from "node:timers/promises";
import {
  dedupeCacheContract,
  type EphemeralFixture,
  presenceDirectoryContract,
  rateLimiterContract,
  revocationListContract,
} from "./ephemeral_contract.ts";
import {
  RedisDedupeCache,
  RedisPresenceDirectory,
  RedisRateLimiter,
  RedisRevocationList,
} from "./ephemeral_redis.ts";
import { RedisScript } from "./_redis_script.ts";
import { openTestRedis, REDIS_TEST_URL, type TestRedis } from "./_redis_testing.ts";
import { openRedis, parseRedisUrl, redactUrlPassword } from "./redis.ts";

/** Real time on a fresh prefix; `close` deletes the prefix's keys and quits the client. */
function realTime(test: TestRedis): EphemeralFixture {
  return {
    now: Date.now,
    advance: (ms) => delay(ms),
    held: () => test.count(),
    close: () => test.close(),
  };
}

/** Runs `build` on a fresh test client, closing the client if it throws. */
async function withTestRedis<T>(build: (test: TestRedis) => T): Promise<T> {
  const test = await openTestRedis();
  try {
    return build(test);
  } catch (error) {
    await test.close();
    throw error;
  }
}

rateLimiterContract("RedisRateLimiter", (config) =>
  withTestRedis((test) => ({
    ...realTime(test),
    limiter: new RedisRateLimiter({ redis: test.redis, prefix: test.prefix, ...config }),
  })));

dedupeCacheContract("RedisDedupeCache", () =>
  withTestRedis((test) => ({
    ...realTime(test),
    cache: new RedisDedupeCache({ redis: test.redis, prefix: test.prefix }),
  })));

revocationListContract("RedisRevocationList", async () => {
  // Two clients, as on two nodes, sharing one prefix.
  const first = await openTestRedis();
  const second = await openTestRedis(first.prefix);
  const a = new RedisRevocationList({ redis: first.redis, prefix: first.prefix });
  const b = new RedisRevocationList({ redis: second.redis, prefix: first.prefix });
  return {
    ...realTime(first),
    lists: [a, b],
    close: async () => {
      await Promise.all([a.close(), b.close()]);
      await Promise.all([first.close(), second.close()]);
    },
  };
});

presenceDirectoryContract("RedisPresenceDirectory", () =>
  withTestRedis((test) => ({
    ...realTime(test),
    directory: new RedisPresenceDirectory({ redis: test.redis, prefix: test.prefix }),
  })));

Deno.test("RedisRateLimiter stores a drained bucket as an expiring hash", async () => {
  await using test = await openTestRedis();
  const limiter = new RedisRateLimiter({
    redis: test.redis,
    prefix: test.prefix,
    capacity: 4,
    refillPerSec: 2,
  });
  await limiter.take("k", 3);
  const key = `${test.prefix}ratelimit:k`;
  const state = await test.redis.hgetall(key);
  assert.deepEqual(Object.keys(state).sort(), ["at", "tokens"]);
  assert.equal(Number(state.tokens), 1);
  // 3 tokens missing at 2/s: the key lives until the bucket is full again.
  assertBetweenMs(await test.redis.pttl(key), 1400, 1500);
  await limiter.take("other", 0);
  assert.equal(await test.redis.exists(`${test.prefix}ratelimit:other`), 0);
});

Deno.test("RedisDedupeCache stores each entry with PX ttl", async () => {
  await using test = await openTestRedis();
  const cache = new RedisDedupeCache({ redis: test.redis, prefix: test.prefix });
  await cache.put("42", "c-1", "ack", 5000);
  assertBetweenMs(await test.redis.pttl(`${test.prefix}dedupe:2:42:c-1`), 4900, 5000);
});

Deno.test("RedisPresenceDirectory keys expire with the user's last session", async () => {
  await using test = await openTestRedis();
  const directory = new RedisPresenceDirectory({ redis: test.redis, prefix: test.prefix });
  const location = { userId: "u1", sessionId: "s-1", deviceId: "d", node: "n1", worker: 2 };
  await directory.register(location, 5000);
  await directory.register({ ...location, sessionId: "s-2" }, 100);
  const exp = `${test.prefix}presence:exp:u1`;
  const loc = `${test.prefix}presence:loc:u1`;
  assertBetweenMs(await test.redis.pttl(exp), 4800, 5000);
  assertBetweenMs(await test.redis.pttl(loc), 4800, 5000);
  await delay(150);
  // Registering prunes the expired session from both keys.
  await directory.register({ ...location, sessionId: "s-3" }, 5000);
  assert.deepEqual((await test.redis.zrange(exp, 0, -1)).sort(), ["s-1", "s-3"]);
  assert.deepEqual((await test.redis.hkeys(loc)).sort(), ["s-1", "s-3"]);
  await directory.unregister("u1", "s-1");
  await directory.unregister("u1", "s-3");
  assert.equal(await test.count(), 0);
});

Deno.test("RedisRevocationList keeps nothing open before subscribe, and closes its subscriber", async () => {
  await using test = await openTestRedis();
  const list = new RedisRevocationList({ redis: test.redis, prefix: test.prefix });
  await list.revoke("s-1", Date.now() + 5000);
  assertBetweenMs(await test.redis.pttl(`${test.prefix}revoked:s-1`), 4800, 5000);
  await list.close();
  assert.throws(() => list.subscribe(() => {}), /closed/);
  const other = new RedisRevocationList({ redis: test.redis, prefix: test.prefix });
  other.subscribe(() => {});
  await other.subscribed();
  await other.close();
});

Deno.test("RedisScript falls back to EVAL when the server lacks the script", async () => {
  await using test = await openTestRedis();
  // A fresh comment makes a script the server has never seen.
  const script = new RedisScript(`-- ${crypto.randomUUID()}\nreturn ARGV[1] .. KEYS[1]`);
  assert.equal(await script.run(test.redis, { keys: ["k"], args: ["a"] }), "ak");
  const fresh = new RedisScript(`-- ${crypto.randomUUID()}\nreturn ARGV[1]`);
  const calls = ["x", "y", "z"].map((arg) => ({ keys: [], args: [arg] }));
  assert.deepEqual(await fresh.runMany(test.redis, calls), ["x", "y", "z"]);
  assert.deepEqual(await fresh.runMany(test.redis, calls), ["x", "y", "z"]);
});

Deno.test("openRedis() fails fast with an error naming the unreachable URL", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close(); // nothing listens on this port now
  const url = `redis://user:secret@127.0.0.1:${port}/0`;
  const started = Date.now();
  const error = await openRedis(url, { connectTimeoutMs: 1000 }).then(
    () => assert.fail("connected"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof Error);
  assert.match(
    error.message,
    new RegExp(`Cannot connect to Redis at redis://user:\\*\\*\\*@127\\.0\\.0\\.1:${port}/0`),
  );
  assert.doesNotMatch(error.message, /secret/);
  assert.ok(Date.now() - started < 2000);
});

Deno.test("openRedis() gives up on a server that never answers", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) accepted.push(conn);
  })();
  try {
    const url = `redis://127.0.0.1:${listener.addr.port}`;
    await assert.rejects(openRedis(url, { connectTimeoutMs: 200 }), /no answer after 200 ms/);
  } finally {
    listener.close();
    await accepting.catch(() => {});
    for (const conn of accepted) conn.close();
  }
});

Deno.test("openRedis() selects the database of the URL", async () => {
  const base = REDIS_TEST_URL.replace(/\/\d*$/, "");
  const redis = await openRedis(`${base}/3`);
  try {
    assert.equal(redis.options.db, 3);
    assert.equal(await redis.ping(), "PONG");
  } finally {
    await redis.quit();
  }
});

Deno.test("parseRedisUrl() reads host, port, database and credentials", () => {
  assert.deepEqual(parseRedisUrl("redis://127.0.0.1:6380/2"), {
    host: "127.0.0.1",
    port: 6380,
    db: 2,
    username: undefined,
    password: undefined,
    tls: false,
  });
  assert.deepEqual(parseRedisUrl("rediss://me:p%40ss@[::1]"), {
    host: "::1",
    port: 6379,
    db: 0,
    username: "me",
    password: "p@ss",
    tls: true,
  });
  assert.throws(() => parseRedisUrl("http://localhost"), TypeError);
  assert.throws(() => parseRedisUrl("not a url"), TypeError);
  assert.throws(() => parseRedisUrl("redis://localhost/x"), RangeError);
  assert.equal(redactUrlPassword("redis://u:pw@h:1/0"), "redis://u:***@h:1/0");
  assert.equal(redactUrlPassword("redis://h:1/0"), "redis://h:1/0");
});

function assertBetweenMs(actual: number, low: number, high: number): void {
  assert.ok(actual >= low && actual <= high, `${actual} ms is not in [${low}, ${high}]`);
}
