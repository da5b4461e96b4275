/**
 * The SQL of the SQLite message store, prepared once per store. Private to `services/`.
 * Kept close to portable SQL (upserts with `ON CONFLICT`, `RETURNING`, row-value
 * comparisons) so the Postgres backend can follow it.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import {
  CHANGES_FROM,
  MESSAGE_COLUMNS,
  SUMMARY_FROM,
  SUMMARY_ORDER,
} from "./_message_sql_views.ts";

/** The store's prepared statements, by name. Every statement reads integers as `bigint`. */
export type MessageStatements = Record<
  | "userExists"
  | "conversation"
  | "insertConversation"
  | "setLastSeq"
  | "members"
  | "member"
  | "insertMember"
  | "setMember"
  | "bumpCounter"
  | "counter"
  | "touchChange"
  | "touchActivity"
  | "byClientMsgId"
  | "insertMessage"
  | "pageUp"
  | "pageDown"
  | "changes"
  | "summaries"
  | "summariesBefore",
  StatementSync
>;

const SUMMARY_SQL = `${SUMMARY_FROM}
  WHERE uc.user_id = ? %BEFORE%
  ${SUMMARY_ORDER}
  LIMIT ?`;

/** Prepares every statement of the message store on `db`. */
export function prepareMessageStatements(db: DatabaseSync): MessageStatements {
  const statements: MessageStatements = {
    userExists: db.prepare("SELECT 1 AS one FROM users WHERE id = ?"),
    conversation: db.prepare(
      "SELECT kind, created_at, last_seq FROM conversations WHERE id = ?",
    ),
    insertConversation: db.prepare(
      `INSERT INTO conversations (id, kind, created_at, last_seq) VALUES (?, ?, ?, 0)
       ON CONFLICT DO NOTHING`,
    ),
    setLastSeq: db.prepare("UPDATE conversations SET last_seq = ? WHERE id = ?"),
    members: db.prepare(
      `SELECT user_id, joined_at, delivered_seq, read_seq FROM conversation_members
       WHERE conversation_id = ? ORDER BY user_id`,
    ),
    member: db.prepare(
      `SELECT user_id, joined_at, delivered_seq, read_seq FROM conversation_members
       WHERE conversation_id = ? AND user_id = ?`,
    ),
    insertMember: db.prepare(
      `INSERT INTO conversation_members
       (conversation_id, user_id, joined_at, delivered_seq, read_seq) VALUES (?, ?, ?, 0, 0)
       ON CONFLICT DO NOTHING`,
    ),
    setMember: db.prepare(
      `UPDATE conversation_members SET delivered_seq = ?, read_seq = ?
       WHERE conversation_id = ? AND user_id = ?`,
    ),
    bumpCounter: db.prepare(
      `INSERT INTO user_change_counters (user_id, seq) VALUES (?, 1)
       ON CONFLICT (user_id) DO UPDATE SET seq = user_change_counters.seq + 1
       RETURNING seq`,
    ),
    counter: db.prepare("SELECT seq FROM user_change_counters WHERE user_id = ?"),
    // A receipt changes the conversation but is not activity: the list order stays.
    touchChange: db.prepare(
      `INSERT INTO user_conversations
       (user_id, conversation_id, change_seq, changed_at, activity_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (user_id, conversation_id) DO UPDATE
       SET change_seq = excluded.change_seq, changed_at = excluded.changed_at`,
    ),
    touchActivity: db.prepare(
      `INSERT INTO user_conversations
       (user_id, conversation_id, change_seq, changed_at, activity_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (user_id, conversation_id) DO UPDATE
       SET change_seq = excluded.change_seq, changed_at = excluded.changed_at,
         activity_at = excluded.activity_at`,
    ),
    byClientMsgId: db.prepare(
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE sender_id = ? AND client_msg_id = ?`,
    ),
    insertMessage: db.prepare(
      `INSERT INTO messages (conversation_id, seq, sender_id, client_msg_id, content_type,
         text, data, custom_type, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       RETURNING message_id`,
    ),
    pageUp: db.prepare(
      `SELECT ${MESSAGE_COLUMNS} FROM messages
       WHERE conversation_id = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?`,
    ),
    pageDown: db.prepare(
      `SELECT ${MESSAGE_COLUMNS} FROM messages
       WHERE conversation_id = ? AND seq > ? AND seq <= ? ORDER BY seq DESC LIMIT ?`,
    ),
    changes: db.prepare(
      `${CHANGES_FROM}
       WHERE uc.user_id = ? AND uc.change_seq > ? ORDER BY uc.change_seq LIMIT ?`,
    ),
    summaries: db.prepare(SUMMARY_SQL.replace("%BEFORE%", "")),
    summariesBefore: db.prepare(
      SUMMARY_SQL.replace("%BEFORE%", "AND (uc.activity_at, uc.conversation_id) < (?, ?)"),
    ),
  };
  // Seqs, ids and cursors may exceed 2^53: read every integer as a bigint.
  for (const statement of Object.values(statements)) statement.setReadBigInts(true);
  return statements;
}
