/**
 * The user actor (`user/<id>`, virtual): knows the user's live device connections and
 * fans pushes out to them. Presence, the friends cache and the change-log cursor join it
 * as the chat grows.
 *
 * @module
 */

import { CloseCode, FrameKind, u64 } from "../protocol/mod.ts";
import type { Actor, ActorContext, ActorRef, BoundRef } from "../runtime/mod.ts";
import type { StoredMessage, WatermarkKind } from "../services/mod.ts";
import { messageNotify, type PushMessage, receiptNotify } from "./frames.ts";

/** The user actor's messages. */
export type UserMessage =
  /** A connection authenticated as this user. */
  | { readonly type: "attach"; readonly conn: BoundRef; readonly deviceId: string }
  /** That connection closed. */
  | { readonly type: "detach"; readonly conn: BoundRef }
  /** A new message in one of the user's conversations. */
  | { readonly type: "deliver"; readonly message: StoredMessage }
  /** A member's watermark moved in one of the user's conversations. */
  | {
    readonly type: "receipt";
    readonly conversationId: string;
    readonly userId: string;
    readonly kind: WatermarkKind;
    readonly seq: bigint;
    readonly at: number;
  }
  /** A member of one of the user's conversations is typing (ephemeral). */
  | {
    readonly type: "typing";
    readonly conversationId: string;
    readonly userId: string;
    readonly state: number;
  }
  /** How many devices are online (tests, presence later). */
  | { readonly type: "sessions" };

/**
 * Live connections per user (a bound: every queue and table has one); past it the oldest
 * connection is told to close with `Kicked`.
 */
export const MAX_SESSIONS_PER_USER = 256;

/** The user actor's kind options. */
export const USER_KIND = "user";

/** Creates a user actor. */
export function createUser(_ref: ActorRef): Actor<UserMessage> {
  /** Connection key -> connection, in attach order. */
  const sessions = new Map<string, { conn: BoundRef; deviceId: string }>();
  const key = (conn: BoundRef) => `${conn.node}/${conn.worker}/${conn.local}`;
  const push = (ctx: ActorContext, message: PushMessage) => {
    for (const { conn } of sessions.values()) ctx.tell(conn, message);
  };
  return {
    receive(message, ctx) {
      switch (message.type) {
        case "attach": {
          // A device connects once: a new connection with the same device id replaces the
          // older one (a reconnect that raced its own stale socket, or a second login).
          for (const [k, s] of sessions) {
            if (s.deviceId === message.deviceId) {
              sessions.delete(k);
              ctx.tell(s.conn, {
                type: "close",
                code: CloseCode.Kicked,
                reason: "logged in elsewhere",
              });
            }
          }
          sessions.set(key(message.conn), { conn: message.conn, deviceId: message.deviceId });
          if (sessions.size > MAX_SESSIONS_PER_USER) {
            const [oldest, entry] = sessions.entries().next().value!;
            sessions.delete(oldest);
            ctx.tell(entry.conn, {
              type: "close",
              code: CloseCode.Kicked,
              reason: "too many devices",
            });
          }
          return sessions.size;
        }
        case "detach":
          sessions.delete(key(message.conn));
          return sessions.size;
        case "deliver":
          push(ctx, messageNotify(message.message));
          return undefined;
        case "receipt":
          push(
            ctx,
            receiptNotify(
              message.conversationId,
              message.userId,
              message.kind,
              message.seq,
              message.at,
            ),
          );
          return undefined;
        case "typing":
          push(ctx, {
            type: "push",
            droppable: true,
            frame: {
              id: u64(0),
              kind: FrameKind.NOTIFY,
              typing: {
                conversationId: message.conversationId,
                userId: message.userId,
                state: message.state,
              },
            },
          });
          return undefined;
        case "sessions":
          return sessions.size;
      }
    },
    undelivered(_ctx, report) {
      // A push to a connection that is gone: it will detach; nothing to retry (devices
      // catch up by sync).
      const conn = report.to as BoundRef;
      if (conn.local !== undefined) sessions.delete(key(conn));
    },
  };
}
