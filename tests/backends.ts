/**
 * Which backends e2e nodes run on. `FLASH_TEST_BACKENDS=real` starts every test node on
 * Postgres (`FLASH_TEST_POSTGRES_URL`, default the local server) and Redis
 * (`FLASH_TEST_REDIS_URL`, default the local server) instead of the embedded store, so
 * the same e2e tests prove both. Each node's data dir names its own Postgres schema and
 * Redis key prefix (kept in a file there, so a node restarted on the same data dir finds
 * its data), and test runs never see each other's rows.
 *
 * @module
 */

import postgres from "postgres";
import type { Redis } from "ioredis";
import { openRedis, openStores, type Stores } from "../services/mod.ts";

/** The backends of this run: `real` (Postgres + Redis) or `embedded`. */
export const TEST_BACKENDS: "real" | "embedded" = Deno.env.get("FLASH_TEST_BACKENDS") === "real"
  ? "real"
  : "embedded";

/** The Postgres server e2e tests use on real backends. */
export const TEST_POSTGRES_URL = Deno.env.get("FLASH_TEST_POSTGRES_URL") ??
  "postgres://postgres@127.0.0.1:5432/test";
/** The Redis server e2e tests use on real backends. */
export const TEST_REDIS_URL = Deno.env.get("FLASH_TEST_REDIS_URL") ?? "redis://127.0.0.1:6379";

const NAMESPACE_FILE = "test-backend-namespace";
/** Schemas of earlier runs older than this are dropped (a crashed run leaves its own). */
const STALE_MS = 3_600_000;

/** The namespace of `dataDir`'s node: `e2e_<unix seconds>_<random>`, made on first use. */
async function namespaceOf(dataDir: string): Promise<string> {
  const file = `${dataDir}/${NAMESPACE_FILE}`;
  try {
    return (await Deno.readTextFile(file)).trim();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const name = `e2e_${Math.floor(Date.now() / 1000)}_${
    crypto.randomUUID().replaceAll("-", "").slice(0, 12)
  }`;
  await Deno.writeTextFile(file, name);
  return name;
}

/** The flags that put a node on `dataDir` onto the real backends (none when embedded). */
export async function backendArgs(dataDir: string): Promise<string[]> {
  if (TEST_BACKENDS === "embedded") return [];
  await sweepStale();
  const namespace = await namespaceOf(dataDir);
  return [
    "--postgres",
    TEST_POSTGRES_URL,
    "--pg-schema",
    namespace,
    "--redis",
    TEST_REDIS_URL,
    "--redis-prefix",
    `${namespace}:`,
  ];
}

/**
 * The stores of `dataDir`'s node, on the same backend the node runs on (tests seed and
 * inspect them directly). The caller closes them.
 */
export async function storesOf(dataDir: string): Promise<Stores> {
  if (TEST_BACKENDS === "embedded") return await openStores({ dataDir });
  const schema = await namespaceOf(dataDir);
  return await openStores({ dataDir, postgres: { url: TEST_POSTGRES_URL, schema, poolSize: 2 } });
}

/** Drops the schema and Redis keys of `dataDir`'s node (when on real backends). */
export async function dropBackend(dataDir: string): Promise<void> {
  if (TEST_BACKENDS === "embedded") return;
  let namespace: string;
  try {
    namespace = (await Deno.readTextFile(`${dataDir}/${NAMESPACE_FILE}`)).trim();
  } catch {
    return;
  }
  await dropSchemaAndKeys(TEST_POSTGRES_URL, TEST_REDIS_URL, namespace, `${namespace}:`);
}

/**
 * Drops Postgres schema `schema` (if `postgresUrl` is given) and deletes every Redis key
 * starting with `prefix` (if `redisUrl` is given); resolves to how many keys went.
 */
export async function dropSchemaAndKeys(
  postgresUrl: string | undefined,
  redisUrl: string | undefined,
  schema: string,
  prefix: string,
): Promise<number> {
  if (postgresUrl !== undefined) {
    await withPostgres(
      postgresUrl,
      (sql) => sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`),
    );
  }
  if (redisUrl === undefined) return 0;
  return await withRedis(redisUrl, (redis) => deleteKeys(redis, prefix));
}

/** Deletes every key of `redis` that starts with `prefix` (no glob characters in it). */
export async function deleteKeys(redis: Redis, prefix: string): Promise<number> {
  let deleted = 0;
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
    cursor = next;
    if (keys.length > 0) deleted += await redis.del(...keys);
  } while (cursor !== "0");
  return deleted;
}

let swept = false;

/** Once per test process: drops e2e schemas that crashed runs left behind. */
async function sweepStale(): Promise<void> {
  if (swept) return;
  swept = true;
  await withPostgres(TEST_POSTGRES_URL, async (sql) => {
    const rows = await sql<{ name: string }[]>`
      SELECT nspname AS name FROM pg_namespace WHERE nspname LIKE 'e2e\\_%'`;
    const cutoff = (Date.now() - STALE_MS) / 1000;
    for (const { name } of rows) {
      const created = Number(name.split("_")[1]);
      if (Number.isFinite(created) && created < cutoff) {
        await sql.unsafe(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
      }
    }
  });
}

async function withPostgres<T>(url: string, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function withRedis<T>(url: string, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = await openRedis(url);
  try {
    return await fn(redis);
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}

/** {@link storesOf} that closes itself at the end of the scope (`await using`). */
export async function openedStores(dataDir: string): Promise<Stores & AsyncDisposable> {
  const stores = await storesOf(dataDir);
  return Object.assign(stores, { [Symbol.asyncDispose]: () => stores.close() });
}
