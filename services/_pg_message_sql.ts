/**
 * The SQL of the Postgres message store (`message_store_pg.ts`), and the mapping of its
 * rows (`int8` as decimal strings, `bytea` as `Buffer`) to the rows `_message_rows.ts`
 * maps to records. Batch statements take arrays (`unnest`), so a batch is a constant
 * number of statements whatever its size. Private to `services/`.
 *
 * @module
 */

import type postgres from "postgres";
import type { Sql } from "./postgres.ts";
import {
  CHANGES_FROM,
  MESSAGE_COLUMNS,
  SUMMARY_FROM,
  SUMMARY_ORDER,
} from "./_message_sql_views.ts";

/** The store's statements, by name. Every parameter is typed by a cast. */
export const PG_MESSAGE_SQL = {
  // Locked like a foreign key check would, so they cannot vanish before the members refer
  // to them.
  users: "SELECT id FROM users WHERE id = ANY($1::bigint[]) FOR KEY SHARE",
  conversationExists: "SELECT 1 AS one FROM conversations WHERE id = $1::text",
  insertConversation: `
    INSERT INTO conversations (id, kind, created_at, last_seq)
    VALUES ($1::text, $2::text, $3::bigint, 0)
    ON CONFLICT DO NOTHING RETURNING id`,
  insertMembers: `
    INSERT INTO conversation_members (conversation_id, user_id, joined_at, delivered_seq, read_seq)
    SELECT $1::text, user_id, $3::bigint, 0, 0 FROM unnest($2::bigint[]) AS u (user_id)
    ON CONFLICT DO NOTHING`,
  // A conversation and its members in one snapshot; no members (LEFT JOIN) still finds it.
  load: `
    SELECT c.kind, c.created_at, c.last_seq,
      m.user_id, m.joined_at, m.delivered_seq, m.read_seq
    FROM conversations c LEFT JOIN conversation_members m ON m.conversation_id = c.id
    WHERE c.id = $1::text ORDER BY m.user_id`,
  isMember: `
    SELECT 1 AS one FROM conversation_members
    WHERE conversation_id = $1::text AND user_id = $2::bigint`,
  // Writers of a conversation serialize on its row. Sorted, so two batches that share
  // conversations take their locks in the same order and cannot deadlock. NO KEY UPDATE:
  // what the UPDATE of last_seq takes anyway, and it lets foreign key checks through.
  lockConversations: `
    SELECT id, last_seq FROM conversations WHERE id = ANY($1::text[])
    ORDER BY id FOR NO KEY UPDATE`,
  // Runs after the lock (same pipeline, own snapshot), so it sees the last writer's rows.
  membersOf: `
    SELECT conversation_id, user_id, delivered_seq, read_seq FROM conversation_members
    WHERE conversation_id = ANY($1::text[])`,
  originals: `
    SELECT ${MESSAGE_COLUMNS} FROM messages
    JOIN unnest($1::bigint[], $2::text[]) AS k (sender_id, client_msg_id)
      USING (sender_id, client_msg_id)`,
  // Conflicts are not expected (the rows were checked under the lock); a missing row means
  // a concurrent batch took a key in another conversation, and the batch is retried.
  insertMessages: `
    INSERT INTO messages (conversation_id, seq, sender_id, client_msg_id, content_type,
      text, data, custom_type, created_at)
    SELECT conversation_id, seq, sender_id, client_msg_id, content_type,
      text, decode(data, 'base64'), custom_type, $9::bigint
    FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::integer[],
      $6::text[], $7::text[], $8::text[])
      AS i (conversation_id, seq, sender_id, client_msg_id, content_type, text, data, custom_type)
    ON CONFLICT DO NOTHING
    RETURNING message_id, conversation_id, seq`,
  setLastSeqs: `
    UPDATE conversations c SET last_seq = w.last_seq
    FROM unnest($1::text[], $2::bigint[]) AS w (id, last_seq)
    WHERE c.id = w.id`,
  // Only ever up: a sender has seen the conversation up to their own message.
  raiseWatermarks: `
    UPDATE conversation_members m
    SET delivered_seq = greatest(m.delivered_seq, w.seq), read_seq = greatest(m.read_seq, w.seq)
    FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS w (conversation_id, user_id, seq)
    WHERE m.conversation_id = w.conversation_id AND m.user_id = w.user_id`,
  setWatermark: `
    UPDATE conversation_members SET delivered_seq = $3::bigint, read_seq = $4::bigint
    WHERE conversation_id = $1::text AND user_id = $2::bigint`,
  // The change log of (user, conversation) pairs, distinct: each user's counter grows by
  // their number of pairs and each pair takes one of the new values. Counters are locked in
  // user id order, so concurrent batches cannot deadlock on them. A receipt ($4 false) is
  // not activity: the list order stays.
  touch: `
    WITH touched AS (
      SELECT * FROM unnest($1::bigint[], $2::text[]) AS t (user_id, conversation_id)
    ), bumped AS (
      INSERT INTO user_change_counters AS k (user_id, seq)
      SELECT user_id, count(*) FROM touched GROUP BY user_id ORDER BY user_id
      ON CONFLICT (user_id) DO UPDATE SET seq = k.seq + excluded.seq
      RETURNING user_id, seq
    )
    INSERT INTO user_conversations AS uc
      (user_id, conversation_id, change_seq, changed_at, activity_at)
    SELECT t.user_id, t.conversation_id,
      b.seq + 1 - row_number() OVER (PARTITION BY t.user_id ORDER BY t.conversation_id DESC),
      $3::bigint, $3::bigint
    FROM touched t JOIN bumped b USING (user_id)
    ON CONFLICT (user_id, conversation_id) DO UPDATE
    SET change_seq = excluded.change_seq, changed_at = excluded.changed_at,
      activity_at = CASE WHEN $4::boolean THEN excluded.activity_at ELSE uc.activity_at END`,
  byClientMsgId: `
    SELECT ${MESSAGE_COLUMNS} FROM messages
    WHERE sender_id = $1::bigint AND client_msg_id = $2::text`,
  pageUp: `
    SELECT ${MESSAGE_COLUMNS} FROM messages
    WHERE conversation_id = $1::text AND seq > $2::bigint AND seq <= $3::bigint
    ORDER BY seq LIMIT $4::int`,
  pageDown: `
    SELECT ${MESSAGE_COLUMNS} FROM messages
    WHERE conversation_id = $1::text AND seq > $2::bigint AND seq <= $3::bigint
    ORDER BY seq DESC LIMIT $4::int`,
  // A receipt serializes with the conversation's other writers; read its members after.
  lockForReceipt: `
    SELECT last_seq FROM conversations WHERE id = $1::text FOR NO KEY UPDATE`,
  watermarkOf: `
    SELECT c.last_seq, m.delivered_seq, m.read_seq
    FROM conversations c JOIN conversation_members m ON m.conversation_id = c.id
    WHERE c.id = $1::text AND m.user_id = $2::bigint`,
  counter: "SELECT seq FROM user_change_counters WHERE user_id = $1::bigint",
  changes: `${CHANGES_FROM}
    WHERE uc.user_id = $1::bigint AND uc.change_seq > $2::bigint
    ORDER BY uc.change_seq LIMIT $3::int`,
  summaries: `${SUMMARY_FROM}
    WHERE uc.user_id = $1::bigint
    ${SUMMARY_ORDER} LIMIT $2::int`,
  summariesBefore: `${SUMMARY_FROM}
    WHERE uc.user_id = $1::bigint
      AND (uc.activity_at, uc.conversation_id) < ($3::bigint, $4::text)
    ${SUMMARY_ORDER} LIMIT $2::int`,
} as const;

// Every int8 column the store reads (the driver hands them over as decimal strings).
const INT8_COLUMNS = new Set([
  "message_id",
  "seq",
  "sender_id",
  "created_at",
  "last_seq",
  "user_id",
  "joined_at",
  "delivered_seq",
  "read_seq",
  "peer_id",
  "peer_joined_at",
  "peer_delivered_seq",
  "peer_read_seq",
  "change_seq",
  "changed_at",
  "activity_at",
  "m_message_id",
  "m_sender_id",
  "m_created_at",
]);

/**
 * A driver row as the SQLite rows of `_message_rows.ts` look: `int8` columns as `bigint`
 * (exact beyond 2^53), `bytea` as a plain `Uint8Array` (not a `Buffer`), `NULL` as `null`.
 */
export function fromPgRow<T>(row: Record<string, unknown>): T {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) {
    if (typeof value === "string" && INT8_COLUMNS.has(key)) out[key] = BigInt(value);
    else if (value instanceof Uint8Array) out[key] = new Uint8Array(value);
    else out[key] = value;
  }
  return out as T;
}

/** The pool or a transaction: what runs a statement. */
export type Runner = Pick<Sql, "unsafe">;

/**
 * Runs a named statement (prepared per connection) with `params`, which may hold `bigint`s
 * and arrays of them: they travel as decimal strings, cast back by the statement.
 */
export function run<T = Record<string, unknown>>(
  sql: Runner,
  query: keyof typeof PG_MESSAGE_SQL,
  params: readonly unknown[],
): Promise<T[]> {
  return sql.unsafe(
    PG_MESSAGE_SQL[query],
    params.map(toParam) as postgres.ParameterOrJSON<never>[],
    {
      prepare: true,
    },
  ).then((rows) => rows.map((row) => fromPgRow<T>(row)));
}

function toParam(value: unknown): unknown {
  if (typeof value === "bigint" || typeof value === "number") return value.toString();
  if (Array.isArray(value)) return value.map((v) => typeof v === "bigint" ? v.toString() : v);
  return value;
}
