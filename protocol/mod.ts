/**
 * flash-im's wire protocol: the protobuf schema (`flash_im.proto`, package `flashim.v1`) and
 * its generated code, the frame codecs for streams (4-byte big-endian length prefix) and
 * WebSocket (one message per frame), and every error and close code. `README.md` beside this
 * file specifies the wire format for client authors.
 *
 * Pure: imports nothing else from the project, only `protobufjs` and web built-ins.
 *
 * 64-bit integers (frame ids, seqs, message ids, cursors, times) are unsigned long.js `Long`
 * values, decoded and encoded: build them with {@link u64}, read them with
 * {@link u64ToBigInt}, {@link u64ToString} or {@link u64ToSafeInteger}.
 *
 * @example
 * ```ts
 * import { encodeFrame, FrameDecoder, FrameKind, u64 } from "./mod.ts";
 *
 * const bytes = encodeFrame({
 *   id: u64(1),
 *   kind: FrameKind.REQUEST,
 *   auth: { accessToken: "eyJ...", deviceId: "laptop-1", protocolVersion: 1 },
 * });
 * const decoder = new FrameDecoder();
 * const result = decoder.push(bytes);
 * if (result.ok) console.log(result.frames[0].body); // "auth"
 * ```
 *
 * @module
 */

export {
  DEFAULT_AUTH_TIMEOUT_MS,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_FRAME,
  MAX_CLIENT_MSG_ID_BYTES,
  MAX_CONTENT_BYTES,
  MAX_FRAME_LIMIT,
  MAX_ID_BYTES,
  PROTOCOL_VERSION,
} from "./constants.ts";
export {
  allCloseInfo,
  allErrorInfo,
  closeBody,
  CloseCode,
  type CloseInfo,
  closeInfo,
  errorBody,
  type ErrorCategory,
  errorCategory,
  ErrorCode,
  type ErrorInfo,
  errorInfo,
} from "./codes.ts";
export {
  type CodecOptions,
  type DecodeBodyResult,
  decodeFrameBody,
  encodeFrameBody,
} from "./codec.ts";
export { directConversationId, parseDirectConversationId } from "./conversation_id.ts";
export { type FrameError, ProtocolError } from "./errors.ts";
export {
  type DecodeResult,
  encodeFrame,
  encodeFrames,
  FrameDecoder,
  PREFIX_BYTES,
} from "./framing.ts";
export { FrameDecoderStream, FrameEncoderStream } from "./framing_stream.ts";
export {
  type Auth,
  type AuthOk,
  type ChatMessage,
  type Close,
  type Content,
  ContentType,
  type ConversationCursor,
  type ConversationState,
  type DeliveryAck,
  type ErrorBody,
  type Frame,
  type FrameBody,
  type FrameInit,
  FrameKind,
  type Long,
  type MessageNotify,
  type Ok,
  pb,
  type PresenceNotify,
  PresenceStatus,
  type PullMessagesRequest,
  type PullMessagesResponse,
  type ReadReceipt,
  ReceiptKind,
  type ReceiptNotify,
  type SendAck,
  type SendMessage,
  type SyncRequest,
  type SyncResponse,
  type Typing,
  TypingState,
} from "./schema.ts";
export { u64, type U64Like, u64ToBigInt, u64ToSafeInteger, u64ToString } from "./u64.ts";
