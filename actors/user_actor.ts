/**
 * The user actor (`user/<id>`, virtual): knows the user's live device connections and
 * fans pushes out to them. Presence, the friends cache and the change-log cursor join it
 * as the chat grows.
 *
 * @module
 */

import { CloseCode, FrameKind, PresenceStatus, u64 } from "../protocol/mod.ts";
import type { Actor, ActorContext, ActorRef, BoundRef } from "../runtime/mod.ts";
import { virtualRef } from "../runtime/mod.ts";
import type { FriendStore, StoredMessage, WatermarkKind } from "../services/mod.ts";

/** Friends told about one presence change (the store's largest page). */
const MAX_FRIENDS_PAGE = 500;
/** Friends whose presence a user actor re-checks after a view change (one page of them). */
const MAX_TRACKED_FRIENDS = MAX_FRIENDS_PAGE;
/** How long a re-check waits for a friend's actor before asking it again later. */
const RECHECK_TIMEOUT_MS = 2000;
/** Re-checks of a friend that does not answer, at most. */
const RECHECK_ATTEMPTS = 4;
import { messageNotify, type PushMessage, receiptNotify } from "./frames.ts";

/** The user actor's messages. */
export type UserMessage =
  /** A connection authenticated as this user. */
  | {
    readonly type: "attach";
    readonly conn: BoundRef;
    readonly deviceId: string;
    /**
     * Attached again after a cluster view change that removed nodes: the user's actor may
     * have moved, and friends whose actors died with a node said nothing. A fresh actor
     * re-checks every friend's presence for the devices.
     */
    readonly rehome?: boolean;
  }
  /** That connection closed. */
  | { readonly type: "detach"; readonly conn: BoundRef }
  /** The cluster view changed: sessions on nodes not in `live` are gone (their node died). */
  | { readonly type: "nodesChanged"; readonly live: readonly string[] }
  /** A new message in one of the user's conversations. */
  /** A new message; `except` is the connection that sent it (it has the ack, not a copy). */
  | { readonly type: "deliver"; readonly message: StoredMessage; readonly except?: BoundRef }
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
  /** A friend came online or went offline. */
  | {
    readonly type: "presence";
    readonly userId: string;
    readonly online: boolean;
    readonly lastSeenMs: number;
    /** Asks for the receiver's presence back if it is online (a login learns who is). */
    readonly reply?: "online";
  }
  /** Internal: the offline grace period that started at `epoch` ended. */
  | { readonly type: "graceOver"; readonly epoch: number }
  /**
   * Internal: after a view change, ask friends whether they are online: those last seen
   * online, or (`all`, a re-homed actor that forgot what its devices were told) every
   * friend; `only` those whose answer did not come last time (`attempt` counts).
   */
  | {
    readonly type: "recheckFriends";
    readonly all?: boolean;
    readonly only?: readonly string[];
    readonly attempt?: number;
  }
  /** Whether this user is online (any live device). */
  | { readonly type: "online" }
  /** How many devices are online. */
  | { readonly type: "sessions" };

/**
 * Live connections per user (a bound: every queue and table has one); past it the oldest
 * connection is told to close with `Kicked`.
 */
export const MAX_SESSIONS_PER_USER = 256;

/** The user actor's kind options. */
export const USER_KIND = "user";

/** What user actors need. */
export interface UserDeps {
  /** Friends to tell about presence changes (read at each change: never stale). */
  readonly friends: Pick<FriendStore, "friendsOf">;
  /**
   * How long the last device may be gone before friends see the user offline, so a quick
   * reconnect does not flap. Default 5000 ms.
   */
  readonly offlineGraceMs?: number;
  readonly now?: () => number;
}

/**
 * Creates user actors bound to `deps` (the kind's factory).
 *
 * Presence: online from the first live device; offline once the last one has been gone for
 * the grace period. Friends are told each change (`PresenceNotify` to their devices); a
 * blocked user is not a friend, so blocks hide presence.
 */
export function userFactory(deps: UserDeps): (ref: ActorRef) => Actor<UserMessage> {
  const grace = deps.offlineGraceMs ?? 5000;
  const now = deps.now ?? Date.now;
  return (ref) => createUser(ref, deps.friends, grace, now);
}

function createUser(
  ref: ActorRef,
  friendStore: Pick<FriendStore, "friendsOf">,
  graceMs: number,
  now: () => number,
): Actor<UserMessage> {
  const userId = (ref as { id: string }).id;
  /** Connection key -> connection, in attach order. */
  const sessions = new Map<string, { conn: BoundRef; deviceId: string }>();
  let online = false;
  /** Bumped by every attach/detach: a grace timer from an older epoch is void. */
  let epoch = 0;
  let graceTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * Friends this user's devices were last told are online. A friend whose node died says
   * nothing more (its actor went with the node): after a view change they are asked again.
   */
  const friendsOnline = new Set<string>();
  let recheckTimer: ReturnType<typeof setTimeout> | undefined;
  let recheckAll = false;
  /** Asks friends again after `delayMs` (a pending `all` re-check stays `all`). */
  const recheck = (
    ctx: ActorContext,
    delayMs: number,
    options: { all?: boolean; only?: readonly string[]; attempt?: number } = {},
  ) => {
    clearTimeout(recheckTimer);
    const all = recheckAll = recheckAll || (options.all ?? false);
    const only = all && options.only === undefined ? undefined : options.only;
    recheckTimer = setTimeout(
      () => ctx.schedule({ type: "recheckFriends", all, only, attempt: options.attempt }),
      delayMs,
    );
  };
  const announce = async (ctx: ActorContext, isOnline: boolean, reply?: "online") => {
    online = isOnline;
    const page = await friendStore.friendsOf(userId, { limit: MAX_FRIENDS_PAGE });
    for (const friend of page.friends) {
      ctx.tell<UserMessage>(virtualRef(USER_KIND, friend.userId), {
        type: "presence",
        userId,
        online: isOnline,
        lastSeenMs: now(),
        ...(reply === undefined ? {} : { reply }),
      });
    }
  };
  const key = (conn: BoundRef) => `${conn.node}/${conn.worker}/${conn.local}`;
  const push = (ctx: ActorContext, message: PushMessage, except?: BoundRef) => {
    const skip = except === undefined ? undefined : key(except);
    for (const [at, { conn }] of sessions) if (at !== skip) ctx.tell(conn, message);
  };
  return {
    stopped() {
      clearTimeout(graceTimer);
      clearTimeout(recheckTimer);
    },
    // Live connections and a pending offline announcement exist only here: stay resident.
    canPassivate: () => sessions.size === 0 && graceTimer === undefined,
    async receive(message, ctx) {
      switch (message.type) {
        case "attach": {
          epoch++;
          clearTimeout(graceTimer);
          graceTimer = undefined;
          // A device connects once: a new connection with the same device id replaces the
          // older one (a reconnect that raced its own stale socket, or a second login).
          const mine = key(message.conn);
          for (const [k, s] of sessions) {
            // The same connection attaching again (after its user moved nodes) is no rival.
            if (s.deviceId === message.deviceId && k !== mine) {
              sessions.delete(k);
              ctx.tell(s.conn, {
                type: "close",
                code: CloseCode.Kicked,
                reason: "logged in elsewhere",
              });
            }
          }
          sessions.set(mine, { conn: message.conn, deviceId: message.deviceId });
          if (!online) {
            friendsOnline.clear(); // new devices: they learn afresh from the answers
            await announce(ctx, true, "online");
            // Moved by a view change: what the devices were told went with the old actor.
            if (message.rehome) recheck(ctx, graceMs, { all: true });
          }
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
        case "nodesChanged": {
          const before = sessions.size;
          if (message.type === "detach") sessions.delete(key(message.conn));
          else {
            const live = new Set(message.live);
            for (const [k, s] of sessions) if (!live.has(s.conn.node)) sessions.delete(k);
          }
          if (message.type === "nodesChanged" && sessions.size > 0 && friendsOnline.size > 0) {
            // After the grace period, so friends' moved actors have their sessions back.
            recheck(ctx, graceMs);
          }
          if (sessions.size === before) return sessions.size;
          if (sessions.size === 0 && online) {
            const mine = ++epoch;
            clearTimeout(graceTimer);
            graceTimer = setTimeout(
              () => ctx.schedule({ type: "graceOver", epoch: mine }),
              graceMs,
            );
          }
          return sessions.size;
        }
        case "graceOver":
          if (message.epoch !== epoch) return undefined;
          graceTimer = undefined;
          if (sessions.size === 0 && online) await announce(ctx, false);
          return undefined;
        case "recheckFriends": {
          recheckTimer = undefined;
          recheckAll = false;
          if (sessions.size === 0) return undefined;
          const all = message.all ?? false;
          const attempt = (message.attempt ?? 0) + 1;
          let friends: string[];
          if (message.only !== undefined) friends = [...message.only];
          else if (!all) friends = [...friendsOnline];
          else {
            try {
              const page = await friendStore.friendsOf(userId, { limit: MAX_FRIENDS_PAGE });
              friends = page.friends.map((f) => f.userId);
            } catch (error) {
              // The store is away: a failed turn would restart this actor and drop its
              // sessions. Ask again later instead.
              ctx.log.log("warn", "Presence re-check could not list friends", { userId, error });
              if (attempt < RECHECK_ATTEMPTS) {
                recheck(ctx, graceMs * 2 ** attempt, { all, attempt });
              }
              return undefined;
            }
          }
          const answers = await Promise.all(
            friends.map((friend) =>
              ctx.ask<boolean, UserMessage>(virtualRef(USER_KIND, friend), { type: "online" }, {
                timeoutMs: RECHECK_TIMEOUT_MS,
              }).catch(() => undefined)
            ),
          );
          const unanswered: string[] = [];
          friends.forEach((friend, i) => {
            const answer = answers[i];
            if (answer === undefined) unanswered.push(friend);
            else if (answer && !friendsOnline.has(friend)) {
              if (friendsOnline.size < MAX_TRACKED_FRIENDS) friendsOnline.add(friend);
              push(ctx, presenceNotify(friend, true, now()));
            } else if (!answer && (friendsOnline.delete(friend) || all)) {
              push(ctx, presenceNotify(friend, false, now()));
            }
          });
          // Views settle at different moments on different nodes: an ask may have gone to a
          // node that had not taken over yet. Ask those again, a few times, backing off.
          if (unanswered.length > 0 && attempt < RECHECK_ATTEMPTS) {
            recheck(ctx, graceMs * 2 ** attempt, { all, only: unanswered, attempt });
          }
          return undefined;
        }
        case "presence":
          if (message.reply === "online" && online) {
            ctx.tell<UserMessage>(virtualRef(USER_KIND, message.userId), {
              type: "presence",
              userId,
              online,
              lastSeenMs: now(),
            });
          }
          // What this user's devices were told; with no device attached, nobody was.
          if (sessions.size === 0) return undefined;
          if (!message.online) friendsOnline.delete(message.userId);
          else if (friendsOnline.has(message.userId)) {
            return undefined; // already told (an announce and an answer crossed)
          } else if (friendsOnline.size < MAX_TRACKED_FRIENDS) friendsOnline.add(message.userId);
          push(ctx, presenceNotify(message.userId, message.online, message.lastSeenMs));
          return undefined;
        case "online":
          return online;
        case "deliver":
          push(ctx, messageNotify(message.message), message.except);
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

/** The NOTIFY telling a device that `userId` came online or went offline. */
function presenceNotify(userId: string, online: boolean, lastSeenMs: number): PushMessage {
  return {
    type: "push",
    frame: {
      id: u64(0),
      kind: FrameKind.NOTIFY,
      presenceNotify: {
        userId,
        status: online ? PresenceStatus.ONLINE : PresenceStatus.OFFLINE,
        lastSeenMs: u64(lastSeenMs),
      },
    },
  };
}
