/**
 * The embedded store's schema, as one append-only list of migrations shared by every
 * SQLite-backed service (they live in one database file). Add a step at the end; never
 * edit or reorder one that has shipped (its position is its `user_version`).
 *
 * Conventions: `STRICT` tables; times are integers in milliseconds since the epoch; ids
 * that may exceed 2^53 are `INTEGER` here and decimal strings in the TypeScript records.
 *
 * @module
 */

import type { Migration } from "./sqlite.ts";

/** Every migration of the embedded store, in order. */
export const SQLITE_MIGRATIONS: readonly Migration[] = Object.freeze([
  {
    name: "users",
    // AUTOINCREMENT: a deleted user's id is never handed out again (tokens and messages
    // may still name it).
    sql: `
      CREATE TABLE users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        username TEXT NOT NULL UNIQUE COLLATE NOCASE,
        password_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    name: "refresh_tokens",
    // Only SHA-256 hashes of tokens are stored. Used tokens are kept until they expire:
    // presenting one again is how reuse (theft) is detected.
    sql: `
      CREATE TABLE refresh_tokens (
        token_hash TEXT PRIMARY KEY,
        family_id TEXT NOT NULL,
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        device_id TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at INTEGER,
        revoked_at INTEGER
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
      CREATE INDEX refresh_tokens_user_id ON refresh_tokens (user_id);
      CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);
    `,
  },
]);
