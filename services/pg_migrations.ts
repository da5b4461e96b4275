/**
 * The real store's schema (PostgreSQL), as one append-only list of migrations applied by
 * {@link openPostgres}. Add a step at the end; never edit or reorder one that has shipped
 * (its position is its version in `schema_migrations`).
 *
 * Conventions: ids are `bigint` (decimal strings in TypeScript records); times are `bigint`
 * milliseconds since the epoch, as in the embedded store, so both backends hand the ports
 * the same values. User names compare ignoring ASCII letter case through a unique index on
 * `lower(username COLLATE "C")`.
 *
 * @module
 */

import type { Migration } from "./sqlite.ts";
import { PG_MESSAGES_MIGRATION } from "./_pg_schema_messages.ts";

/** Every migration of the Postgres store, in order. */
export const PG_MIGRATIONS: readonly Migration[] = Object.freeze([
  {
    name: "users, refresh tokens, friend requests, friendships and blocks",
    // Refresh tokens: only SHA-256 hashes are stored; used tokens stay until they expire so
    // that presenting one again is detected as reuse. friendships holds both directions.
    // lower(username COLLATE "C") folds ASCII letters only and orders by bytes, whatever the
    // server's locale (as SQLite's NOCASE does); one index serves lookups, uniqueness and
    // prefix searches (LIKE 'ab%' plus ORDER BY become a range scan of it).
    sql: `
      CREATE TABLE users (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        username text NOT NULL,
        password_hash text NOT NULL,
        created_at bigint NOT NULL
      );
      CREATE UNIQUE INDEX users_username_lower ON users (lower(username COLLATE "C"));
      CREATE TABLE refresh_tokens (
        token_hash text PRIMARY KEY,
        family_id text NOT NULL,
        user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        device_id text NOT NULL,
        created_at bigint NOT NULL,
        expires_at bigint NOT NULL,
        used_at bigint,
        revoked_at bigint
      );
      CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
      CREATE INDEX refresh_tokens_user_id ON refresh_tokens (user_id);
      CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);
      CREATE TABLE friend_requests (
        from_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        to_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        status text NOT NULL CHECK (status IN ('pending', 'accepted', 'declined', 'cancelled')),
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL,
        PRIMARY KEY (from_id, to_id),
        CHECK (from_id <> to_id)
      );
      CREATE INDEX friend_requests_to_id ON friend_requests (to_id, status);
      CREATE TABLE friendships (
        user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        friend_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        since bigint NOT NULL,
        PRIMARY KEY (user_id, friend_id),
        CHECK (user_id <> friend_id)
      );
      CREATE INDEX friendships_friend_id ON friendships (friend_id);
      CREATE TABLE blocks (
        user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        blocked_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        created_at bigint NOT NULL,
        PRIMARY KEY (user_id, blocked_id),
        CHECK (user_id <> blocked_id)
      );
      CREATE INDEX blocks_blocked_id ON blocks (blocked_id);
    `,
  },
  PG_MESSAGES_MIGRATION,
]);
