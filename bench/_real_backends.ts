/**
 * The Postgres + Redis a benchmark node runs on: where they are (flags or env), a fresh
 * namespace per run (schema `bench_<unix seconds>_<random>`, Redis prefix `<schema>:`), and
 * the cleanup that drops them.
 *
 * tests/backends.ts does the same for e2e nodes, but bound to its own env-chosen servers and
 * a namespace file in the node's data dir; this module takes the servers as arguments.
 *
 * @module
 */

import { dropSchemaAndKeys } from "../tests/backends.ts";

/** Where the real backends are. */
export interface RealBackends {
  readonly postgresUrl: string;
  readonly redisUrl: string;
}

/** Env fallbacks of the `--postgres` / `--redis` bench flags. */
export const BENCH_ENV = {
  postgres: "FLASH_BENCH_POSTGRES_URL",
  redis: "FLASH_BENCH_REDIS_URL",
} as const;

/**
 * The real backends asked for by flags, else env; `undefined` when neither names any.
 *
 * @throws {TypeError} when only one of the two is given (the node needs both).
 */
export function realBackendsFrom(
  flags: { readonly postgres?: string; readonly redis?: string },
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): RealBackends | undefined {
  // An empty variable counts as unset (`FLASH_BENCH_POSTGRES_URL= deno task bench`).
  const postgresUrl = flags.postgres ?? (env(BENCH_ENV.postgres) || undefined);
  const redisUrl = flags.redis ?? (env(BENCH_ENV.redis) || undefined);
  if (postgresUrl === undefined && redisUrl === undefined) return undefined;
  if (postgresUrl === undefined || redisUrl === undefined) {
    throw new TypeError(
      `Give both --postgres and --redis (or ${BENCH_ENV.postgres} and ${BENCH_ENV.redis}) ` +
        `for the real-backend run, not only ${postgresUrl === undefined ? "Redis" : "Postgres"}`,
    );
  }
  return { postgresUrl, redisUrl };
}

/** One run's schema and key prefix on the real backends. */
export interface Namespace {
  readonly schema: string;
  readonly prefix: string;
}

/** A fresh namespace: `bench_<unix seconds>_<12 hex>` and that plus `:`. */
export function newNamespace(): Namespace {
  const schema = `bench_${Math.floor(Date.now() / 1000)}_${
    crypto.randomUUID().replaceAll("-", "").slice(0, 12)
  }`;
  return { schema, prefix: `${schema}:` };
}

/** The node flags that put it on `backends` in `namespace`. */
export function nodeBackendArgs(
  backends: RealBackends,
  namespace: Namespace,
  pgPool?: number,
): string[] {
  return [
    "--postgres",
    backends.postgresUrl,
    "--pg-schema",
    namespace.schema,
    ...(pgPool === undefined ? [] : ["--pg-pool", String(pgPool)]),
    "--redis",
    backends.redisUrl,
    "--redis-prefix",
    namespace.prefix,
  ];
}

/** Drops the namespace's schema and deletes its Redis keys; returns the keys deleted. */
export async function dropNamespace(backends: RealBackends, namespace: Namespace): Promise<number> {
  if (!/^bench_\w+$/.test(namespace.schema)) {
    throw new RangeError(`Refusing to drop schema ${namespace.schema}: not a bench schema`);
  }
  return await dropSchemaAndKeys(
    backends.postgresUrl,
    backends.redisUrl,
    namespace.schema,
    namespace.prefix,
  );
}
