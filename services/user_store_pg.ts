/**
 * The real {@link UserStore} backend on PostgreSQL (`npm:postgres`).
 *
 * @module
 */

import type { Sql } from "./postgres.ts";
import type {
  CreateUserResult,
  UserRecord,
  UserSearchOptions,
  UserStore,
  UserSummary,
} from "./user_store.ts";
import { parseUserId } from "./_store_util.ts";
import { toUserRecord, type UserRow, userSearchQuery } from "./_user_rows.ts";

/** Options of {@link PgUserStore}. */
export interface PgUserStoreOptions {
  /** Clock for `createdAt`, in ms since the epoch. Default `Date.now`. */
  readonly now?: () => number;
}

/** Postgres' `unique_violation`. */
const UNIQUE_VIOLATION = "23505";
const TAKEN: CreateUserResult = Object.freeze({ ok: false, reason: "taken" });

/**
 * {@link UserStore} on a pool opened by `openPostgres` with `PG_MIGRATIONS`. Names are
 * unique through the index on `lower(username COLLATE "C")`, so concurrent creates of one
 * name on any number of nodes succeed once. The pool belongs to the caller: the store holds
 * no connection of its own and needs no closing.
 *
 * @example
 * ```ts
 * const sql = await openPostgres(url, PG_MIGRATIONS);
 * const users = new PgUserStore(sql);
 * const result = await users.create("alice", passwordHash);
 * ```
 */
export class PgUserStore implements UserStore {
  #sql: Sql;
  #now: () => number;

  constructor(sql: Sql, options: PgUserStoreOptions = {}) {
    this.#sql = sql;
    this.#now = options.now ?? Date.now;
  }

  async create(username: string, passwordHash: string): Promise<CreateUserResult> {
    try {
      // DO NOTHING + RETURNING: a taken name yields no row. A concurrent insert of the same
      // name waits for the other transaction, then does nothing.
      const [row] = await this.#sql<UserRow[]>`
        INSERT INTO users (username, password_hash, created_at)
        VALUES (${username}, ${passwordHash}, ${this.#now()})
        ON CONFLICT DO NOTHING
        RETURNING id, username, password_hash, created_at`;
      return row ? { ok: true, user: toUserRecord(row) } : TAKEN;
    } catch (error) {
      // Not expected after DO NOTHING, but a taken name is a value of the port, never an error.
      if (isUniqueViolation(error)) return TAKEN;
      throw error;
    }
  }

  async byUsername(username: string): Promise<UserRecord | undefined> {
    const [row] = await this.#sql<UserRow[]>`
      SELECT id, username, password_hash, created_at FROM users
      WHERE lower(username COLLATE "C") = lower(${username}::text COLLATE "C")`;
    return row && toUserRecord(row);
  }

  async byId(id: string): Promise<UserRecord | undefined> {
    // The canonical decimal string goes over the wire (the driver has no bigint type).
    if (parseUserId(id) === undefined) return undefined;
    const [row] = await this.#sql<UserRow[]>`
      SELECT id, username, password_hash, created_at FROM users WHERE id = ${id}`;
    return row && toUserRecord(row);
  }

  async search(prefix: string, options: UserSearchOptions): Promise<UserSummary[]> {
    const query = userSearchQuery(prefix, options);
    if (query === undefined) return [];
    // The pattern is lowered with the index's ASCII-only rule; a LIKE with a fixed prefix
    // under the "C" collation is a range scan of users_username_lower, already in order.
    const rows = await this.#sql<{ id: string; username: string }[]>`
      SELECT id, username FROM users
      WHERE lower(username COLLATE "C") LIKE lower(${query.pattern}::text COLLATE "C") ESCAPE '\\'
        AND id <> ${query.excluded.toString()}
      ORDER BY lower(username COLLATE "C"), id
      LIMIT ${query.limit}`;
    return rows.map((row) => ({ id: row.id, username: row.username }));
  }
}

function isUniqueViolation(error: unknown): boolean {
  return typeof error === "object" && error !== null &&
    (error as { code?: unknown }).code === UNIQUE_VIOLATION;
}
