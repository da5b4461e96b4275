/**
 * Test support for the Redis backends: the server tests use (env `FLASH_TEST_REDIS_URL`,
 * else the local default) and a random key prefix per test, whose keys are deleted
 * afterwards, so test runs on a shared server never see each other's keys. Private to
 * `services/` tests.
 *
 * @module
 */

import { openRedis, type Redis } from "./redis.ts";

/** The Redis server integration tests use. */
export const REDIS_TEST_URL = Deno.env.get("FLASH_TEST_REDIS_URL") ?? "redis://127.0.0.1:6379";

/** A unique key prefix for one test (`flash-test:` + random hex + `:`). */
export function testPrefix(): string {
  return `flash-test:${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}:`;
}

/** `text` with the glob characters of `SCAN MATCH` escaped, so it matches itself. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, "\\$&");
}

/** Every key starting with `prefix`, found with `SCAN` (never `KEYS`). */
export async function keysWithPrefix(redis: Redis, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${escapeGlob(prefix)}*`, "COUNT", 500);
    found.push(...keys);
    cursor = next;
  } while (cursor !== "0");
  return found;
}

/** Deletes every key starting with `prefix`; returns how many went. */
export async function deleteWithPrefix(redis: Redis, prefix: string): Promise<number> {
  const keys = await keysWithPrefix(redis, prefix);
  let deleted = 0;
  for (let i = 0; i < keys.length; i += 500) deleted += await redis.del(...keys.slice(i, i + 500));
  return deleted;
}

/** A client on the test server, a fresh prefix, and cleanup that deletes its keys. */
export interface TestRedis extends AsyncDisposable {
  readonly redis: Redis;
  readonly prefix: string;
  /** Keys under the prefix now. */
  count(): Promise<number>;
  /** Deletes the prefix's keys and quits the client. */
  close(): Promise<void>;
}

/** Opens a client on {@link REDIS_TEST_URL} with a fresh prefix (or `prefix`). */
export async function openTestRedis(prefix = testPrefix()): Promise<TestRedis> {
  const redis = await openRedis(REDIS_TEST_URL);
  const close = async () => {
    try {
      await deleteWithPrefix(redis, prefix);
    } finally {
      await redis.quit();
    }
  };
  return {
    redis,
    prefix,
    count: async () => (await keysWithPrefix(redis, prefix)).length,
    close,
    [Symbol.asyncDispose]: close,
  };
}
