/**
 * The contracts every backend of the shared-ephemeral-state ports (`ephemeral.ts`) must
 * pass, as `Deno.test`s: {@link rateLimiterContract}, {@link dedupeCacheContract},
 * {@link revocationListContract} and {@link presenceDirectoryContract}.
 *
 * The suites read time through the fixture: an embedded backend gives a fake clock that
 * `advance` moves at once (exact and instant); a real one gives `Date.now` and a sleep, so
 * its timed tests use short TTLs (about 150 ms) and assert with margins.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  type DedupeCache,
  MAX_EPHEMERAL_KEY_LENGTH,
  type PresenceDirectory,
  type RateLimitConfig,
  type RateLimiter,
  type RevocationList,
  type SessionLocation,
} from "./ephemeral.ts";

/** Time as a backend sees it, and the cleanup each test calls at its end. */
export interface EphemeralFixture {
  /** Epoch milliseconds on the backend's clock. */
  now(): number;
  /** Lets `ms` pass: a fake clock moves at once, a real one sleeps. */
  advance(ms: number): Promise<void>;
  /** Entries the backend holds now (map entries, or Redis keys under the test prefix). */
  held(): Promise<number>;
  /** The bound the backend keeps `held()` under, when it has one (in-memory backends). */
  readonly maxHeld?: number;
  close(): Promise<void>;
}

/** A fresh rate limiter under test. */
export interface RateLimiterFixture extends EphemeralFixture {
  readonly limiter: RateLimiter;
}

/** A fresh dedupe cache under test. */
export interface DedupeCacheFixture extends EphemeralFixture {
  readonly cache: DedupeCache;
}

/**
 * Two revocation lists sharing state, as on two nodes. A single-node backend may give the
 * same instance twice.
 */
export interface RevocationListFixture extends EphemeralFixture {
  readonly lists: readonly [RevocationList, RevocationList];
}

/** A fresh presence directory under test. */
export interface PresenceDirectoryFixture extends EphemeralFixture {
  readonly directory: PresenceDirectory;
}

/** The TTL of timed tests: short for a real clock, long enough to outlast a round trip. */
const TTL = 150;
/** Keys in the flood tests; well above the bound the memory fixtures are given. */
const FLOOD = 1000;
/** Bound passed to the factories of the flood tests. */
const FLOOD_BOUND = 100;
const TOO_LONG = "x".repeat(MAX_EPHEMERAL_KEY_LENGTH + 1);

function fixtureTest<F extends EphemeralFixture>(
  suite: string,
  make: () => Promise<F>,
): (title: string, fn: (fixture: F) => Promise<void>) => void {
  return (title, fn) =>
    Deno.test(`${suite}: ${title}`, async () => {
      const fixture = await make();
      try {
        await fn(fixture);
      } finally {
        await fixture.close();
      }
    });
}

/** Polls `check` every 5 ms until it holds; fails after `timeoutMs`. */
async function eventually(what: string, check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function assertBetween(actual: number, low: number, high: number, what: string): void {
  assert.ok(actual >= low && actual <= high, `${what}: ${actual} is not in [${low}, ${high}]`);
}

/**
 * Registers the `Deno.test`s every {@link RateLimiter} backend must pass. `make` returns a
 * fresh limiter with `config`, keeping at most `maxKeys` buckets when given and bounded.
 *
 * @example
 * ```ts
 * rateLimiterContract("MemoryRateLimiter", (config, maxKeys) => memoryFixture(config, maxKeys));
 * ```
 */
export function rateLimiterContract(
  name: string,
  make: (config: RateLimitConfig, maxKeys?: number) => Promise<RateLimiterFixture>,
): void {
  const withConfig = (config: RateLimitConfig, maxKeys?: number) =>
    fixtureTest<RateLimiterFixture>(name, () => make(config, maxKeys));
  const slow = withConfig({ capacity: 3, refillPerSec: 1 });

  slow("take() allows capacity takes, then refuses until the next token", async (f) => {
    for (const remaining of [2, 1, 0]) {
      assert.deepEqual(await f.limiter.take("k"), { allowed: true, remaining, retryAfterMs: 0 });
    }
    const refused = await f.limiter.take("k");
    assert.equal(refused.allowed, false);
    assert.equal(refused.remaining, 0);
    assertBetween(refused.retryAfterMs, 900, 1000, "retryAfterMs");
  });

  slow("take() keeps keys apart", async (f) => {
    for (let i = 0; i < 3; i++) assert.ok((await f.limiter.take("alice")).allowed);
    assert.equal((await f.limiter.take("alice")).allowed, false);
    assert.deepEqual(await f.limiter.take("bob"), { allowed: true, remaining: 2, retryAfterMs: 0 });
    assert.equal((await f.limiter.take("alice:")).remaining, 2);
  });

  withConfig({ capacity: 5, refillPerSec: 1 })(
    "take() counts the cost, and a refused take takes nothing",
    async (f) => {
      assert.equal((await f.limiter.take("k", 3)).remaining, 2);
      const refused = await f.limiter.take("k", 3);
      assert.equal(refused.allowed, false);
      assert.equal(refused.remaining, 2);
      assertBetween(refused.retryAfterMs, 900, 1000, "retryAfterMs for one missing token");
      assert.deepEqual(await f.limiter.take("k", 2), {
        allowed: true,
        remaining: 0,
        retryAfterMs: 0,
      });
      assert.deepEqual(await f.limiter.take("k", 0), {
        allowed: true,
        remaining: 0,
        retryAfterMs: 0,
      });
      assert.deepEqual(f.limiter.config, { capacity: 5, refillPerSec: 1 });
    },
  );

  withConfig({ capacity: 2, refillPerSec: 10 })(
    "take() refills over time, up to capacity",
    async (f) => {
      assert.ok((await f.limiter.take("k")).allowed);
      assert.ok((await f.limiter.take("k")).allowed);
      assert.equal((await f.limiter.take("k")).allowed, false);
      await f.advance(150); // 1.5 tokens back
      assert.deepEqual(await f.limiter.take("k"), { allowed: true, remaining: 0, retryAfterMs: 0 });
      const refused = await f.limiter.take("k");
      assert.equal(refused.allowed, false);
      assertBetween(refused.retryAfterMs, 1, 50, "retryAfterMs for half a token");
      await f.advance(300); // would be 3.5 tokens without the cap
      assert.equal((await f.limiter.take("k")).remaining, 1);
      assert.equal((await f.limiter.take("k")).remaining, 0);
      assert.equal((await f.limiter.take("k")).allowed, false);
    },
  );

  withConfig({ capacity: 1, refillPerSec: 20 })(
    "take() succeeds again once retryAfterMs has passed",
    async (f) => {
      assert.ok((await f.limiter.take("k")).allowed);
      const refused = await f.limiter.take("k");
      assert.equal(refused.allowed, false);
      assertBetween(refused.retryAfterMs, 1, 50, "retryAfterMs");
      await f.advance(refused.retryAfterMs + 5);
      assert.ok((await f.limiter.take("k")).allowed);
    },
  );

  withConfig({ capacity: 5, refillPerSec: 0.01 })(
    "take() from concurrent callers never admits more than the bucket holds",
    async (f) => {
      const results = await Promise.all(Array.from({ length: 20 }, () => f.limiter.take("k")));
      assert.equal(results.filter((r) => r.allowed).length, 5);
    },
  );

  withConfig({ capacity: 2, refillPerSec: 20 }, FLOOD_BOUND)(
    "a flood of distinct keys keeps memory bounded; idle buckets are forgotten",
    async (f) => {
      await Promise.all(Array.from({ length: FLOOD }, (_, i) => f.limiter.take(`flood-${i}`)));
      assert.ok((await f.held()) <= (f.maxHeld ?? FLOOD), `held ${await f.held()}`);
      if (f.maxHeld !== undefined) assert.ok(f.maxHeld <= FLOOD_BOUND);
      await f.advance(TTL); // every bucket is full again after 50 ms
      assert.ok((await f.held()) <= (f.maxHeld ?? 0), `held after refill ${await f.held()}`);
      assert.equal((await f.limiter.take("flood-0")).remaining, 1);
    },
  );

  slow("take() rejects bad keys and costs with RangeError", async (f) => {
    for (const key of ["", TOO_LONG]) await assert.rejects(f.limiter.take(key), RangeError);
    for (const cost of [-1, NaN, 4, Infinity]) {
      await assert.rejects(f.limiter.take("k", cost), RangeError, `cost ${cost}`);
    }
    assert.equal((await f.limiter.take("k")).remaining, 2);
  });

  Deno.test(`${name}: rejects a bad configuration with RangeError`, async () => {
    for (
      const config of [{ capacity: 0, refillPerSec: 1 }, { capacity: 1, refillPerSec: 0 }, {
        capacity: NaN,
        refillPerSec: 1,
      }, { capacity: 1, refillPerSec: -2 }]
    ) {
      await assert.rejects(make(config), RangeError, JSON.stringify(config));
    }
  });
}

/**
 * Registers the `Deno.test`s every {@link DedupeCache} backend must pass. `make` returns a
 * fresh, empty cache holding at most `maxEntries` when given and bounded.
 *
 * @example
 * ```ts
 * dedupeCacheContract("MemoryDedupeCache", (maxEntries) => memoryFixture(maxEntries));
 * ```
 */
export function dedupeCacheContract(
  name: string,
  make: (maxEntries?: number) => Promise<DedupeCacheFixture>,
): void {
  const test = fixtureTest<DedupeCacheFixture>(name, () => make());

  test("get() returns what put() stored, byte for byte", async ({ cache }) => {
    assert.equal(await cache.get("1", "c-1"), undefined);
    const ack = JSON.stringify({ seq: "9007199254740993", text: "héllo ✓ \u{1F600}" });
    await cache.put("1", "c-1", ack, 60_000);
    assert.equal(await cache.get("1", "c-1"), ack);
    await cache.put("1", "c-2", "", 60_000);
    assert.equal(await cache.get("1", "c-2"), "");
  });

  test("entries are per sender and message id", async ({ cache }) => {
    await cache.put("1", "m", "a", 60_000);
    await cache.put("2", "m", "b", 60_000);
    await cache.put("a:b", "c", "c", 60_000);
    await cache.put("a", "b:c", "d", 60_000);
    assert.deepEqual(
      await Promise.all([
        cache.get("1", "m"),
        cache.get("2", "m"),
        cache.get("a:b", "c"),
        cache.get("a", "b:c"),
        cache.get("1", "M"),
      ]),
      ["a", "b", "c", "d", undefined],
    );
  });

  test("put() replaces an earlier value", async ({ cache }) => {
    await cache.put("1", "m", "first", 60_000);
    await cache.put("1", "m", "second", 60_000);
    assert.equal(await cache.get("1", "m"), "second");
  });

  test("entries expire after their own ttl", async (f) => {
    await f.cache.put("1", "short", "s", TTL);
    await f.cache.put("1", "long", "l", 60_000);
    await f.advance(TTL / 3);
    assert.equal(await f.cache.get("1", "short"), "s");
    await f.advance(TTL);
    assert.equal(await f.cache.get("1", "short"), undefined);
    assert.equal(await f.cache.get("1", "long"), "l");
  });

  fixtureTest<DedupeCacheFixture>(name, () => make(FLOOD_BOUND))(
    "a flood of entries keeps memory bounded; expired entries are forgotten",
    async (f) => {
      await Promise.all(
        Array.from({ length: FLOOD }, (_, i) => f.cache.put("1", `m${i}`, "x", TTL)),
      );
      assert.ok((await f.held()) <= (f.maxHeld ?? FLOOD), `held ${await f.held()}`);
      if (f.maxHeld !== undefined) assert.ok(f.maxHeld <= FLOOD_BOUND);
      assert.equal(await f.cache.get("1", `m${FLOOD - 1}`), "x");
      await f.advance(TTL * 1.5);
      assert.equal(await f.cache.get("1", `m${FLOOD - 1}`), undefined);
      if (f.maxHeld === undefined) assert.equal(await f.held(), 0);
    },
  );

  test("get() and put() reject bad ids and ttls with RangeError", async ({ cache }) => {
    for (const [s, m] of [["", "m"], ["1", ""], [TOO_LONG, "m"], ["1", TOO_LONG]]) {
      await assert.rejects(cache.get(s, m), RangeError);
      await assert.rejects(cache.put(s, m, "v", 1000), RangeError);
    }
    for (const ttl of [0, -1, NaN, Infinity]) {
      await assert.rejects(cache.put("1", "m", "v", ttl), RangeError, `ttl ${ttl}`);
    }
    assert.equal(await cache.get("1", "m"), undefined);
  });
}

/**
 * Registers the `Deno.test`s every {@link RevocationList} backend must pass. `make` returns
 * two fresh lists sharing one empty state.
 *
 * @example
 * ```ts
 * revocationListContract("MemoryRevocationList", () => memoryFixture());
 * ```
 */
export function revocationListContract(
  name: string,
  make: () => Promise<RevocationListFixture>,
): void {
  const test = fixtureTest<RevocationListFixture>(name, make);

  test("isRevoked() is true after revoke(), on every instance", async (f) => {
    const [a, b] = f.lists;
    assert.equal(await a.isRevoked("s-1"), false);
    await a.revoke("s-1", f.now() + 60_000);
    assert.equal(await a.isRevoked("s-1"), true);
    assert.equal(await b.isRevoked("s-1"), true);
    assert.equal(await b.isRevoked("s-2"), false);
  });

  test("a revocation is forgotten after its end", async (f) => {
    const [a, b] = f.lists;
    await a.revoke("s-1", f.now() + TTL);
    assert.equal(await b.isRevoked("s-1"), true);
    await f.advance(TTL * 1.5);
    assert.equal(await a.isRevoked("s-1"), false);
    assert.equal(await b.isRevoked("s-1"), false);
  });

  test("revoke() again keeps the later end", async (f) => {
    const [a, b] = f.lists;
    await a.revoke("longer-first", f.now() + 60_000);
    await b.revoke("longer-first", f.now() + TTL / 2);
    await a.revoke("longer-later", f.now() + TTL / 2);
    await b.revoke("longer-later", f.now() + 60_000);
    await f.advance(TTL);
    assert.equal(await a.isRevoked("longer-first"), true);
    assert.equal(await a.isRevoked("longer-later"), true);
  });

  test("subscribe() hears revocations made by any instance", async (f) => {
    const [a, b] = f.lists;
    const heardA: string[] = [];
    const heardB: string[] = [];
    a.subscribe((id) => heardA.push(id));
    b.subscribe((id) => heardB.push(id));
    await Promise.all([a.subscribed(), b.subscribed()]);
    await a.revoke("s-1", f.now() + 60_000);
    await b.revoke("s-2", f.now() + 60_000);
    const want = ["s-1", "s-2"];
    await eventually("both revocations", () => heardA.length >= want.length);
    await eventually("both revocations", () => heardB.length >= want.length);
    assert.deepEqual(heardA, want);
    assert.deepEqual(heardB, want);
  });

  test("subscribe() tells listeners of a revocation already run out", async (f) => {
    const [a, b] = f.lists;
    const heard: string[] = [];
    b.subscribe((id) => heard.push(id));
    await b.subscribed();
    await a.revoke("old", f.now() - 1000);
    await eventually("the revocation", () => heard.length > 0);
    assert.deepEqual(heard, ["old"]);
    assert.equal(await a.isRevoked("old"), false);
  });

  test("unsubscribe stops one listener; a throwing listener stops none", async (f) => {
    const [a, b] = f.lists;
    const gone: string[] = [];
    const kept: string[] = [];
    b.subscribe(() => {
      throw new Error("listener failure");
    });
    const unsubscribe = b.subscribe((id) => gone.push(id));
    b.subscribe((id) => kept.push(id));
    await b.subscribed();
    await a.revoke("s-1", f.now() + 60_000);
    await eventually("the first revocation", () => kept.length === 1);
    unsubscribe();
    unsubscribe();
    await a.revoke("s-2", f.now() + 60_000);
    // Listeners of one instance hear a revocation together, so once `kept` has s-2, an
    // unsubscribed listener would have too.
    await eventually("the second revocation", () => kept.length === 2);
    assert.deepEqual(kept, ["s-1", "s-2"]);
    assert.deepEqual(gone, ["s-1"]);
  });

  test("close() silences listeners; subscribe() after it throws", async (f) => {
    const [a, b] = f.lists;
    const heard: string[] = [];
    b.subscribe((id) => heard.push(id));
    await b.subscribed();
    await b.close();
    await b.close();
    assert.throws(() => b.subscribe(() => {}), Error);
    await a.revoke("s-1", f.now() + 60_000);
    assert.equal(await a.isRevoked("s-1"), true);
    await f.advance(50);
    assert.deepEqual(heard, []);
  });

  test("revoke() and isRevoked() reject bad arguments with RangeError", async (f) => {
    const [a] = f.lists;
    for (const id of ["", TOO_LONG]) {
      await assert.rejects(a.revoke(id, f.now() + 1000), RangeError);
      await assert.rejects(a.isRevoked(id), RangeError);
    }
    for (const until of [NaN, Infinity, -Infinity]) {
      await assert.rejects(a.revoke("s", until), RangeError, `untilMs ${until}`);
    }
    assert.equal(await a.isRevoked("s"), false);
  });
}

/**
 * Registers the `Deno.test`s every {@link PresenceDirectory} backend must pass. `make`
 * returns a fresh, empty directory.
 *
 * @example
 * ```ts
 * presenceDirectoryContract("MemoryPresenceDirectory", () => memoryFixture());
 * ```
 */
export function presenceDirectoryContract(
  name: string,
  make: () => Promise<PresenceDirectoryFixture>,
): void {
  const test = fixtureTest<PresenceDirectoryFixture>(name, make);
  const at = (userId: string, sessionId: string, node = "n1", worker = 0): SessionLocation => ({
    userId,
    sessionId,
    deviceId: `d-${sessionId}`,
    node,
    worker,
  });

  test("sessionsOf() lists a user's registered sessions by session id", async (f) => {
    const d = f.directory;
    await d.register(at("u1", "s-b", "n2", 3), 60_000);
    await d.register(at("u1", "s-a"), 60_000);
    await d.register(at("u2", "s-c"), 60_000);
    assert.deepEqual(await d.sessionsOf("u1"), [at("u1", "s-a"), at("u1", "s-b", "n2", 3)]);
    assert.deepEqual(await d.sessionsOf("u2"), [at("u2", "s-c")]);
    assert.deepEqual(await d.sessionsOf("u3"), []);
  });

  test("register() again replaces the session's location", async (f) => {
    const d = f.directory;
    await d.register(at("u1", "s-1", "n1", 0), 60_000);
    await d.register(at("u1", "s-1", "n2", 1), 60_000);
    assert.deepEqual(await d.sessionsOf("u1"), [at("u1", "s-1", "n2", 1)]);
  });

  test("unregister() removes one session; a missing one is fine", async (f) => {
    const d = f.directory;
    await d.register(at("u1", "s-1"), 60_000);
    await d.register(at("u1", "s-2"), 60_000);
    await d.unregister("u1", "s-1");
    await d.unregister("u1", "s-1");
    await d.unregister("u9", "s-9");
    assert.deepEqual(await d.sessionsOf("u1"), [at("u1", "s-2")]);
    await d.unregister("u1", "s-2");
    assert.deepEqual(await d.sessionsOf("u1"), []);
    assert.deepEqual(await d.onlineAmong(["u1"]), new Set());
  });

  test("entries vanish after ttl without refresh", async (f) => {
    const d = f.directory;
    await d.register(at("u1", "s-1"), TTL);
    await d.register(at("u1", "s-2"), 60_000);
    await d.register(at("u2", "s-3"), TTL);
    await f.advance(TTL * 1.5);
    assert.deepEqual(await d.sessionsOf("u1"), [at("u1", "s-2")]);
    assert.deepEqual(await d.sessionsOf("u2"), []);
    assert.deepEqual(await d.onlineAmong(["u1", "u2"]), new Set(["u1"]));
    await d.register(at("u2", "s-4"), TTL);
    assert.deepEqual(await d.sessionsOf("u2"), [at("u2", "s-4")]);
  });

  test("refresh() keeps entries alive; a dead node's entries vanish", async (f) => {
    const d = f.directory;
    await d.register(at("u1", "s-live", "n1"), TTL);
    await d.register(at("u1", "s-dead", "n2"), TTL);
    for (let i = 0; i < 3; i++) {
      await f.advance(TTL / 3);
      assert.deepEqual(await d.refresh([{ userId: "u1", sessionId: "s-live" }], TTL), []);
    }
    // TTL has passed since registration: only the refreshed entry is left.
    assert.deepEqual(await d.sessionsOf("u1"), [at("u1", "s-live", "n1")]);
    await f.advance(TTL * 1.5);
    assert.deepEqual(await d.sessionsOf("u1"), []);
  });

  test("refresh() returns the entries that are gone and does not revive them", async (f) => {
    const d = f.directory;
    await d.register(at("u1", "expired"), TTL);
    await d.register(at("u1", "removed"), 60_000);
    await d.register(at("u2", "live"), 60_000);
    await d.unregister("u1", "removed");
    await f.advance(TTL * 1.5);
    const refs = ["expired", "removed", "unknown"].map((sessionId) => ({
      userId: "u1",
      sessionId,
    }));
    const gone = await d.refresh([refs[0], { userId: "u2", sessionId: "live" }, ...refs], 60_000);
    assert.deepEqual(gone, [refs[0], ...refs]);
    assert.deepEqual(await d.sessionsOf("u1"), []);
    assert.deepEqual(await d.refresh([], 60_000), []);
  });

  test("onlineAmong() and refresh() handle many users at once", async (f) => {
    const d = f.directory;
    const ttl = TTL * 2;
    const users = Array.from({ length: 1200 }, (_, i) => `user-${i}`);
    const present = users.filter((_, i) => i % 3 === 0);
    await Promise.all(present.map((u) => d.register(at(u, `s-${u}`), ttl)));
    await d.unregister(present[1], `s-${present[1]}`);
    const online = new Set(present.filter((u) => u !== present[1]));
    assert.deepEqual(await d.onlineAmong(users), online);
    await f.advance(ttl * 0.6);
    const refs = [...online].map((userId) => ({ userId, sessionId: `s-${userId}` }));
    assert.deepEqual(await d.refresh(refs, ttl), []);
    await f.advance(ttl * 0.6);
    assert.deepEqual(await d.onlineAmong([...users, users[0], "nobody"]), online);
    assert.deepEqual(await d.onlineAmong([]), new Set());
  });

  test("every method rejects bad arguments with RangeError", async (f) => {
    const d = f.directory;
    const bad: SessionLocation[] = [
      at("", "s"),
      at("u", ""),
      { ...at("u", "s"), deviceId: "" },
      at("u", "s", ""),
      at("u", "s", "n1", -1),
      at("u", "s", "n1", 1.5),
      at(TOO_LONG, "s"),
    ];
    for (const location of bad) {
      await assert.rejects(d.register(location, 1000), RangeError, JSON.stringify(location));
    }
    for (const ttl of [0, -5, NaN, Infinity]) {
      await assert.rejects(d.register(at("u", "s"), ttl), RangeError, `ttl ${ttl}`);
      await assert.rejects(d.refresh([{ userId: "u", sessionId: "s" }], ttl), RangeError);
    }
    await assert.rejects(d.refresh([{ userId: "", sessionId: "s" }], 1000), RangeError);
    await assert.rejects(d.unregister("u", ""), RangeError);
    await assert.rejects(d.sessionsOf(""), RangeError);
    await assert.rejects(d.onlineAmong(["u", ""]), RangeError);
    assert.deepEqual(await d.sessionsOf("u"), []);
  });
}
