/**
 * Opens the backends a node runs on: the embedded ones (SQLite, in-memory state shared by
 * the node's workers) or the real ones (Postgres, Redis), behind the same ports.
 *
 * @module
 */

import { join } from "node:path";
import { DEFAULT_PG_SCHEMA, openPostgres, type Sql } from "./postgres.ts";
import { PG_MIGRATIONS } from "./pg_migrations.ts";
import { openSqlite } from "./sqlite.ts";
import { SQLITE_MIGRATIONS } from "./sqlite_migrations.ts";
import type { FriendStore } from "./friend_store.ts";
import type { MessageStore } from "./message_store.ts";
import type { RefreshTokenStore } from "./refresh_token_store.ts";
import type { UserStore } from "./user_store.ts";
import { SqliteFriendStore } from "./friend_store_sqlite.ts";
import { SqliteMessageStore } from "./message_store_sqlite.ts";
import { SqliteRefreshTokenStore } from "./refresh_token_store_sqlite.ts";
import { SqliteUserStore } from "./user_store_sqlite.ts";
import { PgFriendStore } from "./friend_store_pg.ts";
import { PgMessageStore } from "./message_store_pg.ts";
import { PgRefreshTokenStore } from "./refresh_token_store_pg.ts";
import { PgUserStore } from "./user_store_pg.ts";
import type {
  DedupeCache,
  PresenceDirectory,
  RateLimitConfig,
  RateLimiter,
  RevocationList,
} from "./ephemeral.ts";
import { BroadcastRevocationList } from "./ephemeral_broadcast.ts";
import {
  RedisDedupeCache,
  RedisPresenceDirectory,
  RedisRateLimiter,
  RedisRevocationList,
} from "./ephemeral_redis.ts";
import { openRedis, redactUrlPassword, type Redis } from "./redis.ts";
import { withDeadlines } from "./unavailable.ts";

/** Longest a Postgres store call may take before it fails as unavailable. */
export const PG_CALL_DEADLINE_MS = 10_000;

/** Where the durable store is. */
export interface StoreOptions {
  /** The embedded store's directory (`flash-im.db`); used when `postgres` is absent. */
  readonly dataDir: string;
  /** The real store. */
  readonly postgres?: {
    readonly url: string;
    readonly schema?: string;
    readonly poolSize?: number;
    /**
     * Connect and migrate now (default `true`). A node's workers pass `false`: the main
     * thread has migrated, and a worker respawned while Postgres is down must come up and
     * refuse requests as unavailable instead of waiting for the server.
     */
    readonly migrate?: boolean;
  };
}

/** The durable ports, on one backend. */
export interface Stores {
  readonly backend: "sqlite" | "postgres";
  readonly users: UserStore;
  readonly refreshTokens: RefreshTokenStore;
  readonly messages: MessageStore;
  readonly friends: FriendStore;
  /** Ends the pool or closes the database. */
  close(): Promise<void>;
}

/**
 * Opens the store (migrating it) and the ports over it.
 *
 * @throws {MigrationError} for a schema newer than this code or a failed migration.
 * @throws the driver's error (with the server named) when Postgres cannot be reached.
 */
export async function openStores(options: StoreOptions): Promise<Stores> {
  if (options.postgres === undefined) {
    const db = openSqlite(join(options.dataDir, "flash-im.db"), SQLITE_MIGRATIONS);
    return {
      backend: "sqlite",
      users: new SqliteUserStore(db),
      refreshTokens: new SqliteRefreshTokenStore(db),
      messages: new SqliteMessageStore(db),
      friends: new SqliteFriendStore(db),
      close: () => Promise.resolve(db.close()),
    };
  }
  const { url, schema = DEFAULT_PG_SCHEMA, poolSize, migrate } = options.postgres;
  let sql: Sql;
  try {
    sql = await openPostgres(url, PG_MIGRATIONS, { schema, poolSize, migrate });
  } catch (error) {
    throw new Error(`Cannot open Postgres at ${redactUrlPassword(url)}: ${describe(error)}`, {
      cause: error,
    });
  }
  // The driver can strand a query whose connection is lost mid-write (its promise never
  // settles): every call is bounded, so a caller gets "unavailable" instead of waiting forever.
  const bounded = <T extends object>(port: T, name: string) =>
    withDeadlines(port, PG_CALL_DEADLINE_MS, name);
  return {
    backend: "postgres",
    users: bounded(new PgUserStore(sql), "users"),
    refreshTokens: bounded(new PgRefreshTokenStore(sql), "refreshTokens"),
    messages: bounded(new PgMessageStore(sql), "messages"),
    friends: bounded(new PgFriendStore(sql), "friends"),
    close: () => sql.end({ timeout: 5 }),
  };
}

/** Where shared ephemeral state is. */
export interface EphemeralOptions {
  /** Names the embedded node's channel between its workers (its data dir). */
  readonly nodeKey: string;
  /** The real backend, shared by every node using the same prefix. */
  readonly redis?: { readonly url: string; readonly prefix: string };
  /** Login buckets: per account name and per client address. */
  readonly loginLimits: {
    readonly perAccount: RateLimitConfig;
    readonly perAddress: RateLimitConfig;
  };
  /** Receives Redis connection errors after start. */
  readonly onError?: (error: unknown) => void;
  /**
   * Wait for Redis to answer (default `true`). With `false` the ports come back at once and
   * fail as unavailable until Redis is up (the subscriber joins when it can).
   */
  readonly waitForServer?: boolean;
}

/** The shared-ephemeral ports of one worker. */
export interface Ephemeral {
  readonly backend: "memory" | "redis";
  /** Revoked sessions, announced to every worker (and node, on Redis). */
  readonly revocations: RevocationList;
  /**
   * Login buckets shared by every node, on Redis. `undefined` on the embedded node: its
   * workers must share one bucket per key, which the caller hosts (an actor).
   */
  readonly loginLimits:
    | { readonly perAccount: RateLimiter; readonly perAddress: RateLimiter }
    | undefined;
  /**
   * Where every node's live sessions are (entries expire unless refreshed, so a dead node's
   * sessions vanish), on Redis. `undefined` on the embedded node, whose user actors know.
   */
  readonly presence: PresenceDirectory | undefined;
  /**
   * The acks of recent sends shared by every node, on Redis (resends answered without a
   * store write wherever the conversation runs). `undefined` on the embedded node, whose
   * workers each keep their own (a conversation always lives on one worker).
   */
  readonly dedupe: DedupeCache | undefined;
  close(): Promise<void>;
}

/**
 * Opens the shared-ephemeral ports.
 *
 * @throws {Error} naming the server when Redis cannot be reached.
 */
export async function openEphemeral(options: EphemeralOptions): Promise<Ephemeral> {
  if (options.redis === undefined) {
    const revocations = new BroadcastRevocationList(`flash-im:revocations:${options.nodeKey}`);
    return {
      backend: "memory",
      revocations,
      loginLimits: undefined,
      presence: undefined,
      dedupe: undefined,
      close: () => revocations.close(),
    };
  }
  const { url, prefix } = options.redis;
  const wait = options.waitForServer ?? true;
  const redis: Redis = await openRedis(url, { onError: options.onError, waitForServer: wait });
  const revocations = new RedisRevocationList({ redis, prefix, onError: options.onError });
  revocations.subscribe(() => {}); // Opens the subscriber now, not on the first logout.
  if (wait) await revocations.subscribed();
  return {
    backend: "redis",
    revocations,
    loginLimits: {
      perAccount: new RedisRateLimiter({
        redis,
        prefix: `${prefix}login-account:`,
        ...options.loginLimits.perAccount,
      }),
      perAddress: new RedisRateLimiter({
        redis,
        prefix: `${prefix}login-address:`,
        ...options.loginLimits.perAddress,
      }),
    },
    presence: new RedisPresenceDirectory({ redis, prefix }),
    dedupe: new RedisDedupeCache({ redis, prefix }),
    close: async () => {
      await revocations.close();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** A bucket of `perMinute` attempts, refilled over a minute. */
export function perMinute(perMinute: number): RateLimitConfig {
  return { capacity: perMinute, refillPerSec: perMinute / 60 };
}

function describe(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return describe(error.errors[0]);
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === "string" && !error.message.includes(code)
      ? `${error.message} (${code})`
      : error.message;
  }
  return String(error);
}
