/**
 * The embedded {@link UserStore} backend on `node:sqlite`.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import type {
  CreateUserResult,
  UserRecord,
  UserSearchOptions,
  UserStore,
  UserSummary,
} from "./user_store.ts";
import { parseUserId, settle } from "./_store_util.ts";
import { toUserRecord, type UserRow, userSearchQuery } from "./_user_rows.ts";

/** Options of {@link SqliteUserStore}. */
export interface SqliteUserStoreOptions {
  /** Clock for `createdAt`, in ms since the epoch. Default `Date.now`. */
  readonly now?: () => number;
  /** Close `db` when the store closes. Default `false`: the opener owns the handle. */
  readonly closeDb?: boolean;
}

const COLUMNS = "id, username, password_hash, created_at";

/**
 * {@link UserStore} on a database opened by `openSqlite` with `SQLITE_MIGRATIONS`. Several
 * stores may share one handle. Calls run synchronously on the calling thread (SQLite point
 * queries take microseconds); the promise is for the port's sake.
 *
 * @example
 * ```ts
 * const db = openSqlite("data/flash.db", SQLITE_MIGRATIONS);
 * using users = new SqliteUserStore(db, { closeDb: true });
 * const result = await users.create("alice", passwordHash);
 * ```
 */
export class SqliteUserStore implements UserStore {
  #db: DatabaseSync;
  #now: () => number;
  #closeDb: boolean;
  #insert: StatementSync;
  #byUsername: StatementSync;
  #byId: StatementSync;
  #search: StatementSync;

  constructor(db: DatabaseSync, options: SqliteUserStoreOptions = {}) {
    this.#db = db;
    this.#now = options.now ?? Date.now;
    this.#closeDb = options.closeDb ?? false;
    // DO NOTHING + RETURNING: a taken name yields no row, with no error to parse.
    this.#insert = db.prepare(
      `INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?)
       ON CONFLICT DO NOTHING RETURNING ${COLUMNS}`,
    );
    this.#byUsername = db.prepare(`SELECT ${COLUMNS} FROM users WHERE username = ?`);
    this.#byId = db.prepare(`SELECT ${COLUMNS} FROM users WHERE id = ?`);
    // username is COLLATE NOCASE, so LIKE (case-insensitive for ASCII) is a range scan of
    // its unique index. id 0 names nobody: it stands for "exclude no one".
    this.#search = db.prepare(
      `SELECT id, username FROM users WHERE username LIKE ? ESCAPE '\\' AND id <> ?
       ORDER BY username, id LIMIT ?`,
    );
    // Ids may exceed 2^53: read every integer as a bigint.
    for (const statement of [this.#insert, this.#byUsername, this.#byId, this.#search]) {
      statement.setReadBigInts(true);
    }
  }

  create(username: string, passwordHash: string): Promise<CreateUserResult> {
    const row = this.#insert.get(username, passwordHash, this.#now()) as UserRow | undefined;
    return Promise.resolve(
      row ? { ok: true, user: toUserRecord(row) } : { ok: false, reason: "taken" },
    );
  }

  byUsername(username: string): Promise<UserRecord | undefined> {
    return Promise.resolve(toMaybeRecord(this.#byUsername.get(username)));
  }

  byId(id: string): Promise<UserRecord | undefined> {
    const key = parseUserId(id);
    return Promise.resolve(key === undefined ? undefined : toMaybeRecord(this.#byId.get(key)));
  }

  search(prefix: string, options: UserSearchOptions): Promise<UserSummary[]> {
    return settle(() => {
      const query = userSearchQuery(prefix, options);
      if (query === undefined) return [];
      const rows = this.#search.all(query.pattern, query.excluded, query.limit) as unknown as {
        id: bigint;
        username: string;
      }[];
      return rows.map((row) => ({ id: row.id.toString(), username: row.username }));
    });
  }

  /** Closes the database handle if the store owns it (`closeDb`); idempotent. */
  close(): void {
    if (this.#closeDb && this.#db.isOpen) this.#db.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function toMaybeRecord(row: unknown): UserRecord | undefined {
  return row === undefined ? undefined : toUserRecord(row as UserRow);
}
