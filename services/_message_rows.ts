/**
 * Rows of the message store's SQLite tables and their mapping to the port's records.
 * Private to `services/`.
 *
 * @module
 */

import type {
  ConversationKind,
  ConversationSummary,
  MemberState,
  MessageContent,
  StoredMessage,
} from "./message_store.ts";

export interface MessageRow {
  message_id: bigint;
  conversation_id: string;
  seq: bigint;
  sender_id: bigint;
  client_msg_id: string;
  content_type: bigint;
  text: string | null;
  data: Uint8Array | null;
  custom_type: string | null;
  created_at: bigint;
}

export interface ConversationRow {
  kind: ConversationKind;
  created_at: bigint;
  last_seq: bigint;
}

export interface MemberRow {
  user_id: bigint;
  joined_at: bigint;
  delivered_seq: bigint;
  read_seq: bigint;
}

/** A change log or conversation list row: the user's view of one conversation. */
export interface ViewRow {
  conversation_id: string;
  kind: ConversationKind;
  last_seq: bigint;
  delivered_seq: bigint;
  read_seq: bigint;
  peer_id: bigint | null;
  peer_joined_at: bigint | null;
  peer_delivered_seq: bigint | null;
  peer_read_seq: bigint | null;
}

export interface ChangeRow extends ViewRow {
  change_seq: bigint;
  changed_at: bigint;
}

export interface SummaryRow extends ViewRow {
  activity_at: bigint;
  m_message_id: bigint | null;
  m_sender_id: bigint;
  m_client_msg_id: string;
  m_content_type: bigint;
  m_text: string | null;
  m_data: Uint8Array | null;
  m_custom_type: string | null;
  m_created_at: bigint;
}

export function toContent(
  type: number | bigint,
  text: string | null,
  data: Uint8Array | null,
  customType: string | null,
): MessageContent {
  const content: {
    type: number;
    text?: string;
    data?: Uint8Array;
    customType?: string;
  } = { type: Number(type) };
  if (text !== null) content.text = text;
  if (data !== null) content.data = data;
  if (customType !== null) content.customType = customType;
  return content;
}

export function toMessage(row: MessageRow): StoredMessage {
  return {
    messageId: row.message_id.toString(),
    conversationId: row.conversation_id,
    seq: row.seq,
    senderId: row.sender_id.toString(),
    clientMsgId: row.client_msg_id,
    content: toContent(row.content_type, row.text, row.data, row.custom_type),
    createdAt: Number(row.created_at),
  };
}

export function toMember(row: MemberRow): MemberState {
  return {
    userId: row.user_id.toString(),
    joinedAt: Number(row.joined_at),
    deliveredSeq: row.delivered_seq,
    readSeq: row.read_seq,
  };
}

export function toView(row: ViewRow) {
  const view = {
    conversationId: row.conversation_id,
    kind: row.kind,
    lastSeq: row.last_seq,
    deliveredSeq: row.delivered_seq,
    readSeq: row.read_seq,
  };
  if (row.peer_id === null) return view;
  const peer = toMember({
    user_id: row.peer_id,
    joined_at: row.peer_joined_at!,
    delivered_seq: row.peer_delivered_seq!,
    read_seq: row.peer_read_seq!,
  });
  return { ...view, peer };
}

export function toSummary(row: SummaryRow): ConversationSummary {
  const summary: ConversationSummary = {
    ...toView(row),
    activityAt: Number(row.activity_at),
    unread: row.last_seq - row.read_seq,
  };
  if (row.m_message_id === null) return summary;
  const lastMessage = toMessage({
    message_id: row.m_message_id,
    conversation_id: row.conversation_id,
    seq: row.last_seq,
    sender_id: row.m_sender_id,
    client_msg_id: row.m_client_msg_id,
    content_type: row.m_content_type,
    text: row.m_text,
    data: row.m_data,
    custom_type: row.m_custom_type,
    created_at: row.m_created_at,
  });
  return { ...summary, lastMessage };
}
