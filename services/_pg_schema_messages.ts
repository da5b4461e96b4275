/**
 * The Postgres schema of conversations, members, messages and the per-user change log
 * (migration 2 of `PG_MIGRATIONS`). Private to `services/`.
 *
 * The same tables as the embedded store's migration 3 (`sqlite_migrations.ts`), with
 * Postgres types: ids, seqs and times are `bigint` (times in ms since the epoch).
 *
 * @module
 */

import type { Migration } from "./sqlite.ts";

/** Conversations, members, messages and the per-user change log. */
export const PG_MESSAGES_MIGRATION: Migration = {
  name: "conversations, messages and the per-user change log",
  // Text keys use the "C" collation: byte order is the order the ports promise (ties of the
  // conversation list by id, as JavaScript compares ASCII), whatever the database's default,
  // and it makes their B-tree comparisons cheaper.
  // conversations: last_seq is rewritten by every batch; it is not indexed, so with some free
  // space per page (fillfactor) those updates stay HOT. conversation_members and
  // user_change_counters are rewritten the same way.
  // messages: the unique (conversation_id, seq) and (sender_id, client_msg_id) carry the
  // store's guarantees (gap-free, conflict-free seqs; idempotent sends) and serve history
  // pages and retries. sender_id has no foreign key: a deleted account's messages stay in
  // its peers' history.
  // user_conversations: one row per (user, conversation), rewritten on each change, so the
  // change log is bounded by the user's conversations; change_seq comes from
  // user_change_counters. (user_id, change_seq) serves changesSince, (user_id, activity_at,
  // conversation_id) the conversation list (read backwards), (conversation_id) the cascade
  // when a conversation is deleted.
  sql: `
    CREATE TABLE conversations (
      id text COLLATE "C" PRIMARY KEY,
      kind text NOT NULL CHECK (kind IN ('direct', 'group')),
      created_at bigint NOT NULL,
      last_seq bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0)
    ) WITH (fillfactor = 90);
    CREATE TABLE conversation_members (
      conversation_id text COLLATE "C" NOT NULL
        REFERENCES conversations (id) ON DELETE CASCADE,
      user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      joined_at bigint NOT NULL,
      delivered_seq bigint NOT NULL DEFAULT 0,
      read_seq bigint NOT NULL DEFAULT 0,
      PRIMARY KEY (conversation_id, user_id),
      CHECK (0 <= read_seq AND read_seq <= delivered_seq)
    ) WITH (fillfactor = 90);
    CREATE INDEX conversation_members_user_id ON conversation_members (user_id);
    CREATE TABLE messages (
      message_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      conversation_id text COLLATE "C" NOT NULL
        REFERENCES conversations (id) ON DELETE CASCADE,
      seq bigint NOT NULL CHECK (seq > 0),
      sender_id bigint NOT NULL,
      client_msg_id text COLLATE "C" NOT NULL,
      content_type integer NOT NULL CHECK (content_type >= 0),
      text text,
      data bytea,
      custom_type text,
      created_at bigint NOT NULL,
      CONSTRAINT messages_conversation_id_seq UNIQUE (conversation_id, seq),
      CONSTRAINT messages_sender_id_client_msg_id UNIQUE (sender_id, client_msg_id)
    );
    CREATE TABLE user_conversations (
      user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      conversation_id text COLLATE "C" NOT NULL
        REFERENCES conversations (id) ON DELETE CASCADE,
      change_seq bigint NOT NULL,
      changed_at bigint NOT NULL,
      activity_at bigint NOT NULL,
      PRIMARY KEY (user_id, conversation_id)
    );
    CREATE UNIQUE INDEX user_conversations_change_seq
      ON user_conversations (user_id, change_seq);
    CREATE INDEX user_conversations_activity
      ON user_conversations (user_id, activity_at, conversation_id);
    CREATE INDEX user_conversations_conversation_id ON user_conversations (conversation_id);
    CREATE TABLE user_change_counters (
      user_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
      seq bigint NOT NULL CHECK (seq > 0)
    ) WITH (fillfactor = 90);
  `,
};
