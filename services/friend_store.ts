/**
 * The friend store port: friend requests, friendships (always symmetric) and blocks.
 * Backends sit beside it (`friend_store_sqlite.ts`; Postgres later) and all pass
 * `friendStoreContract` (`friend_store_contract.ts`).
 *
 * User ids are canonical decimal strings; a string that is not one names no user. Expected
 * refusals are returned as `{ ok: false, reason }`; a page limit below 1 or a malformed
 * cursor rejects with a `RangeError`/`TypeError`; a database failure rejects with the
 * driver's error. Every method is atomic.
 *
 * Invariants every backend keeps:
 * - friendship is symmetric: `areFriends(a, b) === areFriends(b, a)`;
 * - a block (either direction) excludes friendship and pending requests between the two:
 *   `block` ends both, and `request` is refused while a block exists;
 * - at most one request per ordered pair (`from`, `to`) exists; asking again after it was
 *   declined or cancelled turns it back into a pending request.
 *
 * The store does not decide who may see what: whether to tell a user that they were
 * blocked (`reason: "blocked"`, `relation().blockedBy`) is the API's call.
 *
 * @module
 */

/** Largest page of {@link FriendStore.friendsOf}; larger limits are clamped to it. */
export const MAX_FRIENDS_PAGE = 500;
/** Default and largest number of requests per direction in {@link FriendStore.pendingFor}. */
export const PENDING_LIMITS = { default: 100, max: 500 } as const;

/** Outcome of {@link FriendStore.request}. */
export type FriendRequestResult =
  /**
   * `pending`: the request waits for the other user. `accepted`: the other user had already
   * asked this one, so asking back accepted their request and they are now friends.
   */
  | { readonly ok: true; readonly status: "pending" | "accepted" }
  | {
    readonly ok: false;
    readonly reason:
      | "self"
      | "unknown_user"
      | "blocked"
      | "already_friends"
      | "already_pending";
  };

/** Outcome of accepting, declining or cancelling: `not_found` when no such request is pending. */
export type RespondResult = { readonly ok: true } | {
  readonly ok: false;
  readonly reason: "not_found";
};

/** Outcome of {@link FriendStore.remove}. */
export type RemoveFriendResult = { readonly ok: true } | {
  readonly ok: false;
  readonly reason: "not_friends";
};

/** Outcome of {@link FriendStore.block}; `changed` is false when the block already existed. */
export type BlockResult = { readonly ok: true; readonly changed: boolean } | {
  readonly ok: false;
  readonly reason: "self" | "unknown_user";
};

/** Outcome of {@link FriendStore.unblock}. */
export type UnblockResult = { readonly ok: true } | {
  readonly ok: false;
  readonly reason: "not_blocked";
};

/** A friend, with the name the UI shows. */
export interface Friend {
  readonly userId: string;
  readonly username: string;
  /** When the friendship began, ms. */
  readonly since: number;
}

/** Options of {@link FriendStore.friendsOf}. */
export interface FriendsOfOptions {
  /** At least 1; values above {@link MAX_FRIENDS_PAGE} are clamped to it. */
  readonly limit: number;
  /** Start after this friend's user id (the last of the previous page). */
  readonly after?: string;
}

/** A page of friends, ordered by user id (numerically). */
export interface FriendsPage {
  readonly friends: readonly Friend[];
  readonly hasMore: boolean;
}

/** A pending request, seen from one side: `userId` is the other user. */
export interface PendingRequest {
  readonly userId: string;
  readonly username: string;
  /** When it was (last) sent, ms. */
  readonly createdAt: number;
}

/** A user's pending requests, newest first in each list. */
export interface PendingRequests {
  /** Sent to the user, waiting for their answer. */
  readonly incoming: readonly PendingRequest[];
  /** Sent by the user, waiting for the other's answer. */
  readonly outgoing: readonly PendingRequest[];
}

/** Options of {@link FriendStore.pendingFor}. */
export interface PendingForOptions {
  /** Most requests per list; default and maximum in {@link PENDING_LIMITS}. */
  readonly limit?: number;
}

/** Everything between `a` and `b`, from `a`'s side. All false for `a == b` or unknown users. */
export interface Relation {
  readonly friends: boolean;
  /** When they became friends, ms; `null` when they are not. */
  readonly friendsSince: number | null;
  /** `a` asked `b` and `b` has not answered. */
  readonly requestSent: boolean;
  /** `b` asked `a` and `a` has not answered. */
  readonly requestReceived: boolean;
  /** `a` blocks `b`. */
  readonly blocking: boolean;
  /** `b` blocks `a`. */
  readonly blockedBy: boolean;
}

/** Where friend requests, friendships and blocks live. */
export interface FriendStore {
  /**
   * `from` asks `to` to be friends. Refused, in this order of checks: `self`,
   * `unknown_user` (either id names no user), `blocked` (a block in either direction),
   * `already_friends`, `already_pending` (`from` already asked `to`). When `to` had already
   * asked `from`, this accepts that request instead (`status: "accepted"`): two users who
   * ask each other are friends.
   */
  request(from: string, to: string, now: number): Promise<FriendRequestResult>;
  /** `to` accepts the pending request of `from`: they become friends (both directions). */
  accept(to: string, from: string, now: number): Promise<RespondResult>;
  /** `to` declines the pending request of `from`; `from` may ask again later. */
  decline(to: string, from: string, now: number): Promise<RespondResult>;
  /** `from` withdraws their pending request to `to`. */
  cancel(from: string, to: string, now: number): Promise<RespondResult>;
  /** Ends the friendship of `a` and `b` (both directions). */
  remove(a: string, b: string): Promise<RemoveFriendResult>;
  /**
   * `user` blocks `other`: ends their friendship and every pending request between them
   * (`other`'s to `user` is declined, `user`'s to `other` cancelled), and refuses new
   * requests either way until `unblock`. Idempotent (`changed: false` the second time).
   */
  block(user: string, other: string, now: number): Promise<BlockResult>;
  /** Lifts `user`'s block of `other`. Friendship does not come back. */
  unblock(user: string, other: string): Promise<UnblockResult>;
  /**
   * A page of the user's friends, ordered by user id numerically.
   *
   * @throws {RangeError} (as a rejection) for a limit below 1.
   * @throws {TypeError} (as a rejection) when `after` is not a user id.
   */
  friendsOf(user: string, options: FriendsOfOptions): Promise<FriendsPage>;
  /**
   * The user's pending requests, incoming and outgoing, newest first.
   *
   * @throws {RangeError} (as a rejection) for a limit below 1.
   */
  pendingFor(user: string, options?: PendingForOptions): Promise<PendingRequests>;
  /** Whether `a` and `b` are friends. */
  areFriends(a: string, b: string): Promise<boolean>;
  /** Whether either blocks the other. */
  isBlocked(a: string, b: string): Promise<boolean>;
  /** Friendship, pending requests and blocks between `a` and `b`, from `a`'s side. */
  relation(a: string, b: string): Promise<Relation>;
}
