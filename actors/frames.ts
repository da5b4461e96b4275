/**
 * Frames the chat actors send to connections. Built from plain data (bigints, strings) so
 * they survive crossing workers; 64-bit fields go through `u64`.
 *
 * @module
 */

import {
  type ChatMessage,
  decodeFrameBody,
  encodeFrame,
  errorBody,
  type ErrorCode,
  type FrameInit,
  FrameKind,
  MAX_FRAME_LIMIT,
  PREFIX_BYTES,
  ReceiptKind,
  u64,
} from "../protocol/mod.ts";
import type { StoredMessage, WatermarkKind } from "../services/mod.ts";

/** Where an answer goes: a connection actor and the id of the request it answers. */
export interface ReplyTo {
  /** The connection actor's ref (bound). */
  readonly conn: {
    readonly kind: string;
    readonly node: string;
    readonly worker: number;
    readonly local: number;
  };
  /** The request's correlation id, as a decimal string (it is a uint64). */
  readonly requestId: string;
}

/** What a connection actor accepts from other actors (its `push` message). */
export interface PushMessage {
  readonly type: "push";
  /**
   * The frame, or its encoding with the length prefix (`encodeFrame`, see
   * {@link encodedPush}): bytes cross workers far cheaper than a frame's objects, and one
   * encoding serves every device (a stream sends it as is, a WebSocket without the prefix).
   */
  readonly frame: FrameInit | Uint8Array;
  /** The frame is a RESPONSE (it answers a request); said here for encoded frames. */
  readonly response?: boolean;
  /** Ephemeral (typing): dropped instead of disconnecting a client whose queue is full. */
  readonly droppable?: boolean;
}

/**
 * The frame of `push` encoded once, where it is made. Encoded without the connection's
 * frame size limit: the connection checks its own.
 */
export function encodedPush(frame: FrameInit, droppable?: boolean): PushMessage {
  return {
    type: "push",
    frame: encodeFrame(frame, { maxFrameSize: MAX_FRAME_LIMIT }),
    ...(frame.kind === FrameKind.RESPONSE ? { response: true } : {}),
    ...(droppable ? { droppable } : {}),
  };
}

/**
 * The frame a push carries, decoded when it was sent encoded (tests, logs).
 *
 * @throws {TypeError} when the bytes are not a frame.
 */
export function pushedFrame(push: PushMessage): FrameInit {
  if (!(push.frame instanceof Uint8Array)) return push.frame;
  const decoded = decodeFrameBody(push.frame.subarray(PREFIX_BYTES), {
    maxFrameSize: MAX_FRAME_LIMIT,
  });
  if (!decoded.ok) throw new TypeError(`Cannot read a pushed frame: ${decoded.error.message}`);
  return decoded.frame;
}

/** A RESPONSE with an error body. */
export function errorResponse(requestId: string, code: ErrorCode, message?: string): PushMessage {
  return {
    type: "push",
    frame: { id: u64(requestId), kind: FrameKind.RESPONSE, error: errorBody(code, { message }) },
  };
}

/** A stored message as the wire's `ChatMessage`. */
export function chatMessage(message: StoredMessage): ChatMessage {
  return {
    conversationId: message.conversationId,
    seq: u64(message.seq),
    serverMsgId: u64(message.messageId),
    senderUserId: message.senderId,
    clientMsgId: message.clientMsgId,
    serverTimeMs: u64(message.createdAt),
    content: message.content,
  };
}

/** The NOTIFY carrying a stored message to a member's devices (encoded once for all). */
export function messageNotify(message: StoredMessage): PushMessage {
  return encodedPush({
    id: u64(0),
    kind: FrameKind.NOTIFY,
    messageNotify: { message: chatMessage(message) },
  });
}

/** The NOTIFY telling members that someone's delivered or read watermark moved. */
export function receiptNotify(
  conversationId: string,
  userId: string,
  kind: WatermarkKind,
  seq: bigint,
  at: number,
): PushMessage {
  return {
    type: "push",
    frame: {
      id: u64(0),
      kind: FrameKind.NOTIFY,
      receiptNotify: {
        conversationId,
        userId,
        kind: kind === "read" ? ReceiptKind.READ : ReceiptKind.DELIVERED,
        upToSeq: u64(seq),
        serverTimeMs: u64(at),
      },
    },
  };
}
