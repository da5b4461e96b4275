/**
 * The SQL of the SQLite message store, prepared once per store. Private to `services/`.
 * Kept close to portable SQL (upserts with `ON CONFLICT`, `RETURNING`, row-value
 * comparisons) so the Postgres backend can follow it.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";

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

const MESSAGE_COLUMNS = "message_id, conversation_id, seq, sender_id, client_msg_id, " +
  "content_type, text, data, custom_type, created_at";

// The user's view of a conversation: their membership, and for a direct conversation the
// other member. Shared by the change log and the conversation list.
const VIEW_SELECT = `
  uc.conversation_id, c.kind, c.last_seq, m.delivered_seq, m.read_seq,
  p.user_id AS peer_id, p.joined_at AS peer_joined_at,
  p.delivered_seq AS peer_delivered_seq, p.read_seq AS peer_read_seq`;
const VIEW_JOIN = `
  FROM user_conversations uc
  JOIN conversations c ON c.id = uc.conversation_id
  JOIN conversation_members m ON m.conversation_id = uc.conversation_id AND m.user_id = uc.user_id
  LEFT JOIN conversation_members p ON c.kind = 'direct'
    AND p.conversation_id = uc.conversation_id AND p.user_id <> uc.user_id`;
const SUMMARY_SQL = `
  SELECT ${VIEW_SELECT}, uc.activity_at,
    msg.message_id AS m_message_id, msg.sender_id AS m_sender_id,
    msg.client_msg_id AS m_client_msg_id, msg.content_type AS m_content_type,
    msg.text AS m_text, msg.data AS m_data, msg.custom_type AS m_custom_type,
    msg.created_at AS m_created_at
  ${VIEW_JOIN}
  LEFT JOIN messages msg ON msg.conversation_id = c.id AND msg.seq = c.last_seq
  WHERE uc.user_id = ? %BEFORE%
  ORDER BY uc.activity_at DESC, uc.conversation_id DESC
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
      `SELECT ${VIEW_SELECT}, uc.change_seq, uc.changed_at ${VIEW_JOIN}
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
