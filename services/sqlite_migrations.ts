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
  {
    name: "conversations, messages and the per-user change log",
    // messages: the server message id is the rowid (AUTOINCREMENT: never reused), which
    // saves an index over a separate id column; (conversation_id, seq) is the natural key
    // and pages read it in order. sender_id has no foreign key: a deleted account's
    // messages stay in its peers' history.
    // user_conversations: one row per (user, conversation), rewritten on each change, so
    // the change log is bounded by the user's conversations; change_seq comes from
    // user_change_counters. activity_at orders the conversation list (receipts do not move
    // it); changed_at is when change_seq was last taken.
    sql: `
      CREATE TABLE conversations (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('direct', 'group')),
        created_at INTEGER NOT NULL,
        last_seq INTEGER NOT NULL DEFAULT 0 CHECK (last_seq >= 0)
      ) STRICT, WITHOUT ROWID;
      CREATE TABLE conversation_members (
        conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        joined_at INTEGER NOT NULL,
        delivered_seq INTEGER NOT NULL DEFAULT 0,
        read_seq INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (conversation_id, user_id),
        CHECK (0 <= read_seq AND read_seq <= delivered_seq)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX conversation_members_user_id ON conversation_members (user_id);
      CREATE TABLE messages (
        message_id INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL CHECK (seq > 0),
        sender_id INTEGER NOT NULL,
        client_msg_id TEXT NOT NULL,
        content_type INTEGER NOT NULL,
        text TEXT,
        data BLOB,
        custom_type TEXT,
        created_at INTEGER NOT NULL,
        UNIQUE (conversation_id, seq),
        UNIQUE (sender_id, client_msg_id)
      ) STRICT;
      CREATE TABLE user_conversations (
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        change_seq INTEGER NOT NULL,
        changed_at INTEGER NOT NULL,
        activity_at INTEGER NOT NULL,
        PRIMARY KEY (user_id, conversation_id)
      ) STRICT, WITHOUT ROWID;
      CREATE UNIQUE INDEX user_conversations_change_seq
        ON user_conversations (user_id, change_seq);
      CREATE INDEX user_conversations_activity
        ON user_conversations (user_id, activity_at, conversation_id);
      CREATE TABLE user_change_counters (
        user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    name: "friend requests, friendships and blocks",
    // friendships holds both directions (a row per side), so "friends of X" is one range
    // read. Requests keep their final status (accepted, declined, cancelled) until the
    // same sender asks again, which turns the row back into a pending request.
    sql: `
      CREATE TABLE friend_requests (
        from_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        to_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        status TEXT NOT NULL
          CHECK (status IN ('pending', 'accepted', 'declined', 'cancelled')),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (from_id, to_id),
        CHECK (from_id <> to_id)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX friend_requests_to_id ON friend_requests (to_id, status);
      CREATE TABLE friendships (
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        friend_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        since INTEGER NOT NULL,
        PRIMARY KEY (user_id, friend_id),
        CHECK (user_id <> friend_id)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX friendships_friend_id ON friendships (friend_id);
      CREATE TABLE blocks (
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        blocked_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (user_id, blocked_id),
        CHECK (user_id <> blocked_id)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX blocks_blocked_id ON blocks (blocked_id);
    `,
  },
]);
