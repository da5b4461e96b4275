/**
 * Opens the real store (PostgreSQL via `npm:postgres`) and brings its schema up to date.
 *
 * Every flash-im table lives in one schema (default `flash_im`; tests use a fresh one per
 * run). Several nodes may start at once against the same database, so migrations run in
 * one transaction under a transaction-level advisory lock keyed by the schema: the first
 * node applies them, the others wait for the lock, then find nothing left to do.
 *
 * @module
 */

import postgres from "postgres";
import { MigrationError } from "./errors.ts";
import type { Migration } from "./sqlite.ts";

/** A pooled Postgres client (`npm:postgres`). */
export type Sql = postgres.Sql<Record<string, never>>;

/** Options of {@link openPostgres}. */
export interface OpenPostgresOptions {
  /** Schema that holds flash-im's tables; created when missing. Default `flash_im`. */
  readonly schema?: string;
  /** Most connections in this process's pool. Default 10. */
  readonly poolSize?: number;
  /** Seconds to wait for a connection before failing. Default 10. */
  readonly connectTimeoutSec?: number;
  /**
   * Whether to connect and migrate before returning (default `true`). With `false` the pool
   * connects on its first query, so a server that is down fails queries, not the open: for
   * a process whose schema another one has just migrated (a node's workers).
   */
  readonly migrate?: boolean;
}

/** Default of {@link OpenPostgresOptions.schema}. */
export const DEFAULT_PG_SCHEMA = "flash_im";
/** Default of {@link OpenPostgresOptions.poolSize}. */
export const DEFAULT_PG_POOL_SIZE = 10;

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
/** Longest a session may sit in an open transaction before the server ends it. */
const IDLE_IN_TRANSACTION_MS = 3000;
/** Longest a statement may run (lock waits included) before the server cancels it. */
const STATEMENT_TIMEOUT_MS = 10_000;
/**
 * Longest pause, in seconds, before a pooled connection that failed connects again. The
 * driver's default grows to 20 s over a few failures, and queries wait out the pause: during
 * an outage every request would hang for seconds instead of being refused, and after it
 * the pool would stay away that long.
 */
const MAX_RECONNECT_DELAY_SEC = 0.5;

/**
 * Connects to `url`, creates the schema if needed, applies pending `migrations` and returns
 * the pool, with every connection's `search_path` set to the schema. The caller owns the
 * pool and ends it (`await sql.end()`).
 *
 * @throws {RangeError} for a schema name that is not a plain lower-case identifier or a
 *   pool size below 1.
 * @throws {MigrationError} when the database's schema is newer than `migrations` or a
 *   migration fails (nothing of that run is kept).
 * @throws the driver's error when the server cannot be reached.
 */
export async function openPostgres(
  url: string,
  migrations: readonly Migration[],
  options: OpenPostgresOptions = {},
): Promise<Sql> {
  const schema = options.schema ?? DEFAULT_PG_SCHEMA;
  if (!SCHEMA_NAME.test(schema)) {
    throw new RangeError(`Cannot open Postgres: schema "${schema}" is not [a-z_][a-z0-9_]*`);
  }
  const poolSize = options.poolSize ?? DEFAULT_PG_POOL_SIZE;
  if (!Number.isInteger(poolSize) || poolSize < 1) {
    throw new RangeError(`Cannot open Postgres: pool size ${poolSize} is not >= 1`);
  }
  const sql: Sql = postgres(url, {
    max: poolSize,
    connect_timeout: options.connectTimeoutSec ?? 10,
    backoff: (retries: number) => Math.min(0.01 * 2 ** retries, MAX_RECONNECT_DELAY_SEC),
    onnotice: () => {},
    // int8 columns arrive as decimal strings (exact above 2^53), which is what ids are.
    connection: {
      search_path: schema,
      application_name: "flash-im",
      // A process frozen mid-transaction (a stalled node) must not hold its row locks, and
      // so a conversation that moved to another node, for longer than this.
      idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_MS,
      // The server gives up on a statement as the caller does (stores' deadlines).
      statement_timeout: STATEMENT_TIMEOUT_MS,
    },
  });
  if (options.migrate === false) return sql;
  try {
    await migratePostgres(sql, schema, migrations);
    return sql;
  } catch (error) {
    await sql.end({ timeout: 1 });
    throw error;
  }
}

/**
 * Applies the `migrations` that `schema` has not had yet, in one transaction under an
 * advisory lock, recording each in `schema_migrations (version, name, applied_at)`.
 */
export async function migratePostgres(
  sql: Sql,
  schema: string,
  migrations: readonly Migration[],
): Promise<void> {
  const target = migrations.length;
  let step = -1;
  try {
    await sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(hashtextextended(${"flash-im:migrate:" + schema}, 0))`;
      await tx.unsafe(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await tx.unsafe(`
        CREATE TABLE IF NOT EXISTS "${schema}".schema_migrations (
          version integer PRIMARY KEY,
          name text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now()
        )`);
      const [row] = await tx.unsafe<{ version: number | null }[]>(
        `SELECT max(version) AS version FROM "${schema}".schema_migrations`,
      );
      const current = row?.version ?? 0;
      if (current > target) {
        throw new MigrationError(
          `Cannot open Postgres schema ${schema}: version ${current} is newer than this code's ${target}`,
        );
      }
      await tx.unsafe(`SET LOCAL search_path TO "${schema}"`);
      for (step = current; step < target; step++) {
        await tx.unsafe(migrations[step]!.sql);
        await tx.unsafe(
          `INSERT INTO "${schema}".schema_migrations (version, name) VALUES ($1, $2)`,
          [step + 1, migrations[step]!.name],
        );
      }
    });
  } catch (error) {
    if (error instanceof MigrationError || step < 0 || step >= target) throw error;
    throw new MigrationError(
      `Cannot migrate Postgres schema ${schema}: migration ${step + 1} "${
        migrations[step]!.name
      }" failed`,
      { cause: error },
    );
  }
}

/** The number of migrations applied to `schema` (0 when it has none). */
export async function pgSchemaVersion(sql: Sql, schema: string): Promise<number> {
  const [exists] = await sql<{ present: boolean }[]>`
    SELECT to_regclass(${`"${schema}".schema_migrations`}) IS NOT NULL AS present`;
  if (!exists?.present) return 0;
  const [row] = await sql.unsafe<{ version: number | null }[]>(
    `SELECT max(version) AS version FROM "${schema}".schema_migrations`,
  );
  return row?.version ?? 0;
}

/**
 * Names a known defect of `npm:postgres` 3.4.x (porsager/postgres#1154, #1208): a buffered
 * write, scheduled with `setImmediate`, runs after its connection has closed and throws
 * from the timer, where no caller can catch it. The closed connection has already failed
 * the query it carried, so a process may go on (a query the lost write stranded is bounded
 * by the stores' deadlines). `undefined` for every other error.
 *
 * @example
 * ```ts
 * knownPgDriverDefect(new TypeError("x is undefined")); // undefined
 * ```
 */
export function knownPgDriverDefect(error: unknown): string | undefined {
  if (!(error instanceof TypeError)) return undefined;
  if (!error.message.includes("(reading 'write')")) return undefined;
  const top = (error.stack ?? "").split("\n").find((line) => line.trimStart().startsWith("at "));
  if (top === undefined || !top.includes("nextWrite") || !DRIVER_CONNECTION.test(top)) {
    return undefined;
  }
  return "npm:postgres wrote to a connection that had closed (porsager/postgres#1154)";
}

/** The driver's connection module, from the npm cache or a node_modules directory. */
const DRIVER_CONNECTION = /[\\/]postgres[\\/](?:[0-9][^\\/]*[\\/])?src[\\/]connection\.js:/;
