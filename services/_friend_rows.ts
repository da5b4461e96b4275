/**
 * What the friend store backends share: the rows they read and their records, the checks
 * on page arguments, and the rules of `request` and `relation` as pure functions of what is
 * stored between two users (each backend reads that state inside its transaction and
 * applies the outcome). Private to `services/`.
 *
 * @module
 */

import {
  type Friend,
  type FriendRequestResult,
  type FriendsOfOptions,
  type FriendsPage,
  MAX_FRIENDS_PAGE,
  PENDING_LIMITS,
  type PendingForOptions,
  type PendingRequest,
  type Relation,
} from "./friend_store.ts";
import { clampLimit, parseUserId } from "./_store_util.ts";

/** The `status` column of `friend_requests`. */
export type RequestStatus = "pending" | "accepted" | "declined" | "cancelled";

/** The relation of two users who have nothing between them. */
export const NO_RELATION: Relation = Object.freeze({
  friends: false,
  friendsSince: null,
  requestSent: false,
  requestReceived: false,
  blocking: false,
  blockedBy: false,
});

/**
 * The other user of a friendship or request, with a time. Integers arrive as `bigint`
 * (SQLite) or decimal strings (Postgres).
 */
export interface PersonRow {
  user_id: bigint | string;
  username: string;
  at: bigint | string;
}

/** Everything stored between users `a` and `b`, from `a`'s side. */
export interface PairState {
  /** How many of the two ids name an existing user (0 to 2). */
  readonly users: number;
  /** When they became friends, ms; `undefined` when they are not. */
  readonly friendsSince: number | undefined;
  /** Status of the request `a` -> `b`, if any. */
  readonly sent: RequestStatus | undefined;
  /** Status of the request `b` -> `a`, if any. */
  readonly received: RequestStatus | undefined;
  /** `a` blocks `b`. */
  readonly blocking: boolean;
  /** `b` blocks `a`. */
  readonly blockedBy: boolean;
}

/**
 * The outcome of `request(a, b)` given their {@link PairState} (`a` != `b`). The caller
 * applies it: on `accepted` it accepts the request `b` -> `a`, on `pending` it stores the
 * request `a` -> `b` as pending; a refusal changes nothing.
 */
export function decideRequest(state: PairState): FriendRequestResult {
  if (state.users < 2) return { ok: false, reason: "unknown_user" };
  if (state.blocking || state.blockedBy) return { ok: false, reason: "blocked" };
  if (state.friendsSince !== undefined) return { ok: false, reason: "already_friends" };
  if (state.sent === "pending") return { ok: false, reason: "already_pending" };
  if (state.received === "pending") return { ok: true, status: "accepted" };
  return { ok: true, status: "pending" };
}

/** The {@link Relation} of a {@link PairState}. */
export function toRelation(state: PairState): Relation {
  return {
    friends: state.friendsSince !== undefined,
    friendsSince: state.friendsSince ?? null,
    requestSent: state.sent === "pending",
    requestReceived: state.received === "pending",
    blocking: state.blocking,
    blockedBy: state.blockedBy,
  };
}

/** The checked arguments of `friendsOf`: rows to read are `limit + 1`, to learn `hasMore`. */
export interface FriendsPageQuery {
  /** The user; `undefined` when the id names nobody (the page is empty). */
  readonly user: bigint | undefined;
  /** Friends with a larger id than this; 0 for the first page. */
  readonly after: bigint;
  readonly limit: number;
}

/**
 * Checks the arguments of `friendsOf(user, options)`.
 *
 * @throws {RangeError} for a limit below 1.
 * @throws {TypeError} when `after` is not a user id.
 */
export function friendsPageQuery(user: string, options: FriendsOfOptions): FriendsPageQuery {
  const limit = clampLimit(options.limit, MAX_FRIENDS_PAGE, "friends");
  let after = 0n;
  if (options.after !== undefined) {
    const parsed = parseUserId(options.after);
    if (parsed === undefined) {
      throw new TypeError(
        `Cannot read friends: after ${JSON.stringify(options.after)} is not a user id`,
      );
    }
    after = parsed;
  }
  return { user: parseUserId(user), after, limit };
}

/** The page of up to `limit + 1` rows read for a {@link FriendsPageQuery}. */
export function toFriendsPage(rows: readonly PersonRow[], limit: number): FriendsPage {
  const friends = rows.slice(0, limit).map((row): Friend => ({
    userId: row.user_id.toString(),
    username: row.username,
    since: Number(row.at),
  }));
  return { friends, hasMore: rows.length > limit };
}

/**
 * The per-list limit of `pendingFor`.
 *
 * @throws {RangeError} for a limit below 1.
 */
export function pendingLimit(options: PendingForOptions): number {
  return clampLimit(options.limit ?? PENDING_LIMITS.default, PENDING_LIMITS.max, "requests");
}

/** The record of a pending request row. */
export function toPendingRequest(row: PersonRow): PendingRequest {
  return { userId: row.user_id.toString(), username: row.username, createdAt: Number(row.at) };
}
