/**
 * SQL shared by the message store backends (portable between SQLite and Postgres, no
 * parameters): the message columns and the user's view of a conversation that the change
 * log and the conversation list read. Their rows map through `_message_rows.ts`. Private to
 * `services/`.
 *
 * @module
 */

/** The columns of a `MessageRow`, from `messages`. */
export const MESSAGE_COLUMNS = "message_id, conversation_id, seq, sender_id, client_msg_id, " +
  "content_type, text, data, custom_type, created_at";

/**
 * The select list of a `ViewRow`: the user's membership, and for a direct conversation the
 * other member. Goes with {@link VIEW_JOIN}.
 */
export const VIEW_SELECT = `
  uc.conversation_id, c.kind, c.last_seq, m.delivered_seq, m.read_seq,
  p.user_id AS peer_id, p.joined_at AS peer_joined_at,
  p.delivered_seq AS peer_delivered_seq, p.read_seq AS peer_read_seq`;

/** The `FROM` of {@link VIEW_SELECT}: `user_conversations uc` and its joins. */
export const VIEW_JOIN = `
  FROM user_conversations uc
  JOIN conversations c ON c.id = uc.conversation_id
  JOIN conversation_members m ON m.conversation_id = uc.conversation_id AND m.user_id = uc.user_id
  LEFT JOIN conversation_members p ON c.kind = 'direct'
    AND p.conversation_id = uc.conversation_id AND p.user_id <> uc.user_id`;

/** `SELECT ... FROM ...` of a `ChangeRow`; add `WHERE`, order by `uc.change_seq`. */
export const CHANGES_FROM = `SELECT ${VIEW_SELECT}, uc.change_seq, uc.changed_at ${VIEW_JOIN}`;

/** `SELECT ... FROM ...` of a `SummaryRow`; add `WHERE` and {@link SUMMARY_ORDER}. */
export const SUMMARY_FROM = `
  SELECT ${VIEW_SELECT}, uc.activity_at,
    msg.message_id AS m_message_id, msg.sender_id AS m_sender_id,
    msg.client_msg_id AS m_client_msg_id, msg.content_type AS m_content_type,
    msg.text AS m_text, msg.data AS m_data, msg.custom_type AS m_custom_type,
    msg.created_at AS m_created_at
  ${VIEW_JOIN}
  LEFT JOIN messages msg ON msg.conversation_id = c.id AND msg.seq = c.last_seq`;

/** The conversation list's order: most recent activity first, ties by id descending. */
export const SUMMARY_ORDER = "ORDER BY uc.activity_at DESC, uc.conversation_id DESC";
