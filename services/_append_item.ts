/**
 * Checks of an `AppendItem`'s shape, shared by the message store backends so they refuse
 * the same items. Private to `services/`.
 *
 * @module
 */

import { MAX_INT64, parseUserId } from "./_store_util.ts";
import { type AppendItem, MAX_CLIENT_MSG_ID_LENGTH } from "./message_store.ts";

const MAX_CONVERSATION_ID_LENGTH = 256;
const MAX_CONTENT_TYPE = 2 ** 31 - 1;

/** Why an append item is malformed, or `undefined` when it is well-formed. */
export function invalidReason(item: AppendItem): string | undefined {
  if (typeof item !== "object" || item === null) return "item is not an object";
  const { conversationId, seq, senderId, clientMsgId, content } = item;
  if (
    typeof conversationId !== "string" || conversationId.length === 0 ||
    conversationId.length > MAX_CONVERSATION_ID_LENGTH
  ) {
    return "conversationId is not a non-empty string";
  }
  if (typeof seq !== "bigint" || seq < 1n || seq > MAX_INT64) {
    return "seq is not a bigint in 1..2^63-1";
  }
  if (parseUserId(senderId) === undefined) return "senderId is not a user id";
  if (
    typeof clientMsgId !== "string" || clientMsgId.length === 0 ||
    clientMsgId.length > MAX_CLIENT_MSG_ID_LENGTH
  ) {
    return `clientMsgId is not a string of 1 to ${MAX_CLIENT_MSG_ID_LENGTH} characters`;
  }
  if (typeof content !== "object" || content === null) return "content is not an object";
  if (!Number.isInteger(content.type) || content.type < 0 || content.type > MAX_CONTENT_TYPE) {
    return "content.type is not an integer in 0..2^31-1";
  }
  if (content.text !== undefined && typeof content.text !== "string") {
    return "content.text is not a string";
  }
  if (content.data !== undefined && !(content.data instanceof Uint8Array)) {
    return "content.data is not a Uint8Array";
  }
  if (content.customType !== undefined && typeof content.customType !== "string") {
    return "content.customType is not a string";
  }
  return undefined;
}
