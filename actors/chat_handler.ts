/**
 * Chat requests from an authenticated connection: sends and receipts go to the
 * conversation actor, which answers the connection itself once the store has spoken (the
 * handler returns {@link DEFERRED}), so a device can pipeline sends.
 *
 * @module
 */

import {
  type Content,
  ContentType,
  directConversationId,
  errorBody,
  ErrorCode,
  type Frame,
  type FrameInit,
  MAX_CLIENT_MSG_ID_BYTES,
  parseDirectConversationId,
  u64,
  u64ToBigInt,
  u64ToString,
} from "../protocol/mod.ts";
import type { ActorContext, BoundRef } from "../runtime/mod.ts";
import { virtualRef } from "../runtime/mod.ts";
import type { FriendStore, MessageContent, MessageStore } from "../services/mod.ts";
import { chatMessage } from "./frames.ts";
import type { ConversationMessage } from "./conversation_actor.ts";
import type { SendPolicy } from "./conversation_state.ts";

/**
 * Returned by a handler whose answer the connection receives later as a push (the same
 * value as the gateway's `DEFERRED`; actors cannot import the gateway).
 */
export const DEFERRED = "deferred" as const;

/** Who is asking (from the connection's verified token only). */
export interface ChatIdentity {
  readonly userId: string;
}

/** Options of {@link chatHandler}. */
export interface ChatHandlerOptions {
  readonly friends: Pick<FriendStore, "areFriends" | "isBlocked">;
  /** Reads for sync and history (reads need no single writer: the store answers them). */
  readonly messages: Pick<MessageStore, "changesSince" | "page" | "load" | "ensureDirect">;
  /** 1:1 messages only between friends (default true); blocks always apply. */
  readonly requireFriends?: boolean;
  /** How long a pair's policy decision is reused (default 1000 ms). */
  readonly policyTtlMs?: number;
}

type Answer = FrameInit | typeof DEFERRED | undefined;

function refuse(code: ErrorCode, message?: string): FrameInit {
  return { error: errorBody(code, { message }) } as FrameInit;
}

/**
 * Builds the request handler for chat bodies (`sendMessage`, `deliveryAck`, `readReceipt`).
 * Other bodies return `undefined` (the gateway answers UnsupportedBody).
 */
export function chatHandler(
  options: ChatHandlerOptions,
): (identity: ChatIdentity, frame: Frame, ctx: ActorContext) => Promise<Answer> {
  const requireFriends = options.requireFriends ?? true;
  /** Direct conversations this worker has seen exist (bounded; cleared when full). */
  const known = new Set<string>();
  /** Recent send policies by `sender>peer` (see sendPolicy). */
  const policies = new Map<string, { policy: SendPolicy; until: number }>();
  return async (identity, frame, ctx) => {
    const replyTo = { conn: ctx.self as BoundRef, requestId: u64ToString(frame.id) };
    switch (frame.body) {
      case "sendMessage": {
        const send = frame.sendMessage!;
        const me = identity.userId;
        let conversationId: string;
        let peer: string | undefined;
        if (send.target === "peerUserId") {
          peer = send.peerUserId ?? "";
          if (!/^[1-9][0-9]{0,18}$/.test(peer)) {
            return refuse(ErrorCode.UserNotFound, "Invalid peer user id");
          }
          if (peer === me) return refuse(ErrorCode.InvalidField, "Cannot message yourself");
          conversationId = directConversationId(me, peer);
        } else if (send.target === "conversationId" && send.conversationId) {
          conversationId = send.conversationId;
          const pair = parseDirectConversationId(conversationId);
          if (pair === undefined) return refuse(ErrorCode.ConversationNotFound);
          if (pair[0] !== me && pair[1] !== me) return refuse(ErrorCode.NotMember);
          peer = pair[0] === me ? pair[1] : pair[0];
        } else {
          return refuse(
            ErrorCode.InvalidField,
            "SendMessage needs peer_user_id or conversation_id",
          );
        }
        const clientMsgId = send.clientMsgId ?? "";
        if (
          clientMsgId === "" ||
          new TextEncoder().encode(clientMsgId).length > MAX_CLIENT_MSG_ID_BYTES
        ) {
          return refuse(ErrorCode.ClientMsgIdInvalid);
        }
        const content = toContent(send.content);
        if (content === undefined) return refuse(ErrorCode.ContentTypeUnsupported);
        const policy = await sendPolicy(me, peer);
        if (!policy.allowed) return refuse(policy.code, policy.reason);
        // Only a permitted send creates a conversation (receipts and pulls never do, so
        // nobody can plant empty conversations in a stranger's list).
        if (!known.has(conversationId)) {
          const ensured = await options.messages.ensureDirect(me, peer, Date.now());
          if (!ensured.ok) return refuse(ErrorCode.UserNotFound, "No such user");
          if (known.size >= KNOWN_CONVERSATIONS) known.clear();
          known.add(conversationId);
        }
        ctx.tell<ConversationMessage>(virtualRef("conv", conversationId), {
          type: "send",
          senderId: me,
          clientMsgId,
          content,
          policy,
          replyTo,
          resend: send.resend === true,
        });
        return DEFERRED;
      }
      case "deliveryAck":
      case "readReceipt": {
        const body = frame.body === "deliveryAck" ? frame.deliveryAck! : frame.readReceipt!;
        const pair = parseDirectConversationId(body.conversationId ?? "");
        if (pair === undefined) return refuse(ErrorCode.ConversationNotFound);
        if (pair[0] !== identity.userId && pair[1] !== identity.userId) {
          return refuse(ErrorCode.NotMember);
        }
        ctx.tell<ConversationMessage>(virtualRef("conv", body.conversationId!), {
          type: "watermark",
          userId: identity.userId,
          kind: frame.body === "deliveryAck" ? "delivered" : "read",
          seq: u64ToBigInt(body.upToSeq),
          replyTo,
        });
        return DEFERRED;
      }
      case "syncRequest": {
        const sync = frame.syncRequest!;
        const page = await options.messages.changesSince(
          identity.userId,
          u64ToBigInt(sync.cursor),
          clampLimit(sync.limit, SYNC_PAGE),
        );
        return {
          syncResponse: {
            conversations: page.changes.map((change) => ({
              conversationId: change.conversationId,
              latestSeq: u64(change.lastSeq),
              readSeq: u64(change.readSeq),
              updatedMs: u64(change.changedAt),
            })),
            nextCursor: u64(page.cursor),
            hasMore: page.hasMore,
            reset: page.reset,
          },
        };
      }
      case "pullMessagesRequest": {
        const pull = frame.pullMessagesRequest!;
        const conversationId = pull.conversationId ?? "";
        const pair = parseDirectConversationId(conversationId);
        if (pair === undefined) return refuse(ErrorCode.ConversationNotFound);
        if (pair[0] !== identity.userId && pair[1] !== identity.userId) {
          return refuse(ErrorCode.NotMember);
        }
        const before = u64ToBigInt(pull.beforeSeq);
        const [page, record] = await Promise.all([
          options.messages.page(conversationId, {
            afterSeq: u64ToBigInt(pull.afterSeq),
            ...(before > 0n ? { beforeSeq: before } : {}),
            limit: clampLimit(pull.limit, PULL_PAGE),
          }),
          options.messages.load(conversationId),
        ]);
        return {
          pullMessagesResponse: {
            conversationId,
            messages: page.messages.map(chatMessage),
            hasMore: page.hasMore,
            latestSeq: u64(record?.lastSeq ?? 0n),
          },
        };
      }
      default:
        return undefined;
    }
  };

  /**
   * The send policy of a pair, remembered for POLICY_TTL_MS: a query per message was a
   * fifth of a send's CPU. A block or an unfriending therefore takes effect within that
   * time for sends already flowing (bounded map, cleared when full).
   */
  async function sendPolicy(me: string, peer: string): Promise<SendPolicy> {
    const key = `${me}>${peer}`;
    const now = Date.now();
    const hit = policies.get(key);
    if (hit !== undefined && hit.until > now) return hit.policy;
    const policy = await decidePolicy(me, peer);
    if (policies.size >= MAX_POLICIES) policies.clear();
    policies.set(key, { policy, until: now + (options.policyTtlMs ?? POLICY_TTL_MS) });
    return policy;
  }

  async function decidePolicy(me: string, peer: string): Promise<SendPolicy> {
    if (await options.friends.isBlocked(me, peer)) {
      return { allowed: false, code: ErrorCode.Blocked, reason: "Blocked" };
    }
    if (requireFriends && !(await options.friends.areFriends(me, peer))) {
      return {
        allowed: false,
        code: ErrorCode.NotFriends,
        reason: "Only friends can message each other",
      };
    }
    return { allowed: true };
  }
}

/** How long a send policy decision is reused, and how many are remembered. */
const POLICY_TTL_MS = 1000;
const MAX_POLICIES = 100_000;

/** How many existing conversation ids a handler remembers before starting over. */
const KNOWN_CONVERSATIONS = 10_000;

/** Default and largest pages of sync and history answers (the store clamps as well). */
const SYNC_PAGE = { fallback: 100, max: 500 } as const;
const PULL_PAGE = { fallback: 100, max: 200 } as const;

function clampLimit(
  limit: number | null | undefined,
  page: { fallback: number; max: number },
): number {
  if (!limit || limit < 1) return page.fallback;
  return Math.min(limit, page.max);
}

/**
 * Builds the NOTIFY handler for chat: `typing` goes to the peer's devices (never stored;
 * dropped when a device's queue is full). Blocked senders' typing is not forwarded.
 */
export function chatNotifyHandler(
  options: Pick<ChatHandlerOptions, "friends">,
): (identity: ChatIdentity, frame: Frame, ctx: ActorContext) => Promise<void> {
  return async (identity, frame, ctx) => {
    if (frame.body !== "typing") return;
    const typing = frame.typing!;
    const pair = parseDirectConversationId(typing.conversationId ?? "");
    if (pair === undefined || (pair[0] !== identity.userId && pair[1] !== identity.userId)) return;
    const peer = pair[0] === identity.userId ? pair[1] : pair[0];
    if (await options.friends.isBlocked(identity.userId, peer)) return;
    ctx.tell(virtualRef("user", peer), {
      type: "typing",
      conversationId: typing.conversationId!,
      userId: identity.userId,
      state: typing.state ?? 0,
    });
  };
}

function toContent(content: Content | null | undefined): MessageContent | undefined {
  if (!content) return undefined;
  if (content.type === ContentType.TEXT) {
    return { type: ContentType.TEXT, text: content.text ?? "" };
  }
  if (content.type === ContentType.CUSTOM) {
    return {
      type: ContentType.CUSTOM,
      customType: content.customType ?? "",
      ...(content.data && content.data.length > 0 ? { data: content.data } : {}),
      ...(content.text ? { text: content.text } : {}),
    };
  }
  return undefined;
}
