import assert from "node:assert/strict";
import {
  dedupeCacheContract,
  type EphemeralFixture,
  presenceDirectoryContract,
  rateLimiterContract,
  revocationListContract,
} from "./ephemeral_contract.ts";
import {
  MemoryDedupeCache,
  MemoryPresenceDirectory,
  MemoryRateLimiter,
  MemoryRevocationList,
} from "./ephemeral_memory.ts";

const T0 = 1_700_000_000_000;

/** A fake clock and the fixture parts built on it. */
function fakeTime(size: () => number, maxHeld?: number) {
  let t = T0;
  const time: EphemeralFixture = {
    now: () => t,
    advance: (ms) => {
      t += ms;
      return Promise.resolve();
    },
    held: () => Promise.resolve(size()),
    maxHeld,
    close: () => Promise.resolve(),
  };
  return { now: () => t, time };
}

rateLimiterContract("MemoryRateLimiter", (config, maxKeys) => {
  try {
    const { now, time } = fakeTime(() => limiter.size, maxKeys);
    const limiter: MemoryRateLimiter = new MemoryRateLimiter({ ...config, maxKeys, now });
    return Promise.resolve({ ...time, limiter });
  } catch (error) {
    return Promise.reject(error);
  }
});

dedupeCacheContract("MemoryDedupeCache", (maxEntries) => {
  const { now, time } = fakeTime(() => cache.size, maxEntries);
  const cache: MemoryDedupeCache = new MemoryDedupeCache({ maxEntries, now });
  return Promise.resolve({ ...time, cache });
});

revocationListContract("MemoryRevocationList", () => {
  const { now, time } = fakeTime(() => list.size);
  const list: MemoryRevocationList = new MemoryRevocationList({ now });
  return Promise.resolve({ ...time, lists: [list, list], close: () => list.close() });
});

presenceDirectoryContract("MemoryPresenceDirectory", () => {
  const { now, time } = fakeTime(() => directory.size);
  const directory: MemoryPresenceDirectory = new MemoryPresenceDirectory({ now });
  return Promise.resolve({ ...time, directory });
});

Deno.test("MemoryRateLimiter evicts full buckets before drained ones", async () => {
  let t = T0;
  const limiter = new MemoryRateLimiter({
    capacity: 2,
    refillPerSec: 1,
    maxKeys: 10,
    now: () => t,
  });
  // "drained" is the oldest entry, but not full: the refilled ones go first.
  await limiter.take("drained", 2);
  for (let i = 0; i < 9; i++) await limiter.take(`idle-${i}`);
  t += 1000; // idle buckets (one token short) are full again; "drained" holds 1
  for (let i = 0; i < 5; i++) await limiter.take(`new-${i}`);
  assert.ok(limiter.size <= 10);
  assert.equal((await limiter.take("drained")).remaining, 0);
});

Deno.test("MemoryRateLimiter forgets least recently used buckets when none are full", async () => {
  const limiter = new MemoryRateLimiter({
    capacity: 1,
    refillPerSec: 0.001,
    maxKeys: 10,
    now: () => T0,
  });
  await limiter.take("old");
  for (let i = 0; i < 9; i++) await limiter.take(`k-${i}`);
  await limiter.take("old"); // refused, but now the most recently used
  await limiter.take("newer");
  assert.equal(limiter.size, 9);
  assert.equal((await limiter.take("old")).allowed, false);
  assert.equal((await limiter.take("k-0")).allowed, true); // evicted: starts full again
});

Deno.test("MemoryRateLimiter keeps no entry for a bucket that is full", async () => {
  let t = T0;
  const limiter = new MemoryRateLimiter({ capacity: 2, refillPerSec: 10, now: () => t });
  await limiter.take("k", 0);
  assert.equal(limiter.size, 0);
  await limiter.take("k");
  assert.equal(limiter.size, 1);
  t += 100;
  await limiter.take("k", 0);
  assert.equal(limiter.size, 0);
});

Deno.test("MemoryDedupeCache evicts the least recently used entry", async () => {
  const cache = new MemoryDedupeCache({ maxEntries: 2, now: () => T0 });
  await cache.put("1", "a", "A", 1000);
  await cache.put("1", "b", "B", 1000);
  assert.equal(await cache.get("1", "a"), "A"); // "b" is now the least recently used
  await cache.put("1", "c", "C", 1000);
  assert.equal(await cache.get("1", "b"), undefined);
  assert.equal(await cache.get("1", "a"), "A");
  assert.equal(await cache.get("1", "c"), "C");
});

Deno.test("MemoryRevocationList sweeps run-out revocations as it is written to", async () => {
  let t = T0;
  const list = new MemoryRevocationList({ now: () => t });
  for (let i = 0; i < 1000; i++) await list.revoke(`s-${i}`, t + 100);
  t += 200;
  for (let i = 0; i < 1100; i++) await list.revoke(`later-${i}`, t + 60_000);
  assert.ok(list.size <= 1100, `size ${list.size}`);
  assert.equal(await list.isRevoked("later-0"), true);
});

Deno.test("MemoryRevocationList calls listeners before revoke() resolves", async () => {
  const list = new MemoryRevocationList();
  const errors: unknown[] = [];
  const heard: string[] = [];
  const quiet = new MemoryRevocationList({ onListenerError: (e) => errors.push(e) });
  list.subscribe((id) => heard.push(id));
  quiet.subscribe(() => {
    throw new Error("boom");
  });
  const revoking = list.revoke("s-1", Date.now() + 1000);
  assert.deepEqual(heard, ["s-1"]);
  await revoking;
  await quiet.revoke("s-2", Date.now() + 1000);
  assert.equal(errors.length, 1);
  await list.close();
  await list.revoke("s-3", Date.now() + 1000);
  assert.deepEqual(heard, ["s-1"]);
});

Deno.test("MemoryPresenceDirectory drops users whose sessions all expired", async () => {
  let t = T0;
  const directory = new MemoryPresenceDirectory({ now: () => t });
  for (let i = 0; i < 2000; i++) {
    await directory.register({
      userId: `u${i}`,
      sessionId: "s",
      deviceId: "d",
      node: "n",
      worker: 0,
    }, 100);
    t += 1;
  }
  assert.ok(directory.size < 2000, `size ${directory.size}`);
  t += 1000;
  assert.deepEqual(await directory.onlineAmong(["u1999"]), new Set());
  assert.ok(directory.size < 2000);
});

Deno.test("Memory backends reject a bound below 1 with RangeError", () => {
  assert.throws(
    () => new MemoryRateLimiter({ capacity: 1, refillPerSec: 1, maxKeys: 0 }),
    RangeError,
  );
  assert.throws(() => new MemoryDedupeCache({ maxEntries: 1.5 }), RangeError);
});
