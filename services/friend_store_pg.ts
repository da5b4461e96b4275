/**
 * The real {@link FriendStore} backend on PostgreSQL (`npm:postgres`).
 *
 * @module
 */

import type { Sql } from "./postgres.ts";
import type {
  BlockResult,
  FriendRequestResult,
  FriendsOfOptions,
  FriendsPage,
  FriendStore,
  PendingForOptions,
  PendingRequests,
  Relation,
  RemoveFriendResult,
  RespondResult,
  UnblockResult,
} from "./friend_store.ts";
import { checkTime, parseUserId } from "./_store_util.ts";
import { lockXact, type PgTx } from "./_pg_lock.ts";
import {
  decideRequest,
  friendsPageQuery,
  NO_RELATION,
  type PairState,
  pendingLimit,
  type PersonRow,
  type RequestStatus,
  toFriendsPage,
  toPendingRequest,
  toRelation,
} from "./_friend_rows.ts";

interface PairRow {
  users: number;
  since: string | null;
  sent: RequestStatus | null;
  received: RequestStatus | null;
  blocking: boolean;
  blocked_by: boolean;
}

const NOT_FOUND: RespondResult = Object.freeze({ ok: false, reason: "not_found" });
const NOT_FRIENDS: RemoveFriendResult = Object.freeze({ ok: false, reason: "not_friends" });

/**
 * {@link FriendStore} on a pool opened by `openPostgres` with `PG_MIGRATIONS` (it reads
 * names from the `users` table).
 *
 * Every change runs in a transaction that first takes an advisory lock on the pair of users
 * it concerns, then reads what is stored between them and writes: so two users asking each
 * other at once on two nodes become friends, and a request racing a block cannot survive
 * it. Changes to different pairs do not wait for each other. The pool belongs to the caller.
 *
 * @example
 * ```ts
 * const friends = new PgFriendStore(sql);
 * const asked = await friends.request("17", "42", Date.now());
 * ```
 */
export class PgFriendStore implements FriendStore {
  #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  async request(from: string, to: string, now: number): Promise<FriendRequestResult> {
    checkTime(now, "send a friend request");
    if (from === to) return { ok: false, reason: "self" };
    if (parseUserId(from) === undefined || parseUserId(to) === undefined) {
      return { ok: false, reason: "unknown_user" };
    }
    return await this.#changePair(from, to, async (tx) => {
      const result = decideRequest(await readPair(tx, from, to));
      if (result.ok && result.status === "accepted") await befriend(tx, to, from, now);
      if (result.ok && result.status === "pending") {
        await tx`
          INSERT INTO friend_requests (from_id, to_id, status, created_at, updated_at)
          VALUES (${from}, ${to}, 'pending', ${now}, ${now})
          ON CONFLICT (from_id, to_id) DO UPDATE SET status = 'pending',
            created_at = excluded.created_at, updated_at = excluded.updated_at`;
      }
      return result;
    });
  }

  accept(to: string, from: string, now: number): Promise<RespondResult> {
    return this.#respond(from, to, now, (tx) => befriend(tx, from, to, now));
  }

  decline(to: string, from: string, now: number): Promise<RespondResult> {
    return this.#respond(from, to, now, (tx) => closeRequest(tx, from, to, "declined", now));
  }

  cancel(from: string, to: string, now: number): Promise<RespondResult> {
    return this.#respond(from, to, now, (tx) => closeRequest(tx, from, to, "cancelled", now));
  }

  async remove(a: string, b: string): Promise<RemoveFriendResult> {
    if (parseUserId(a) === undefined || parseUserId(b) === undefined) return NOT_FRIENDS;
    const deleted = await this.#changePair(a, b, (tx) => deleteFriendship(tx, a, b));
    return deleted > 0 ? { ok: true } : NOT_FRIENDS;
  }

  async block(user: string, other: string, now: number): Promise<BlockResult> {
    checkTime(now, "block a user");
    if (user === other) return { ok: false, reason: "self" };
    if (parseUserId(user) === undefined || parseUserId(other) === undefined) {
      return { ok: false, reason: "unknown_user" };
    }
    return await this.#changePair(user, other, async (tx): Promise<BlockResult> => {
      const [found] = await tx<{ users: number }[]>`
        SELECT count(*)::int AS users FROM users WHERE id IN (${user}, ${other})`;
      if (found?.users !== 2) return { ok: false, reason: "unknown_user" };
      const inserted = await tx`
        INSERT INTO blocks (user_id, blocked_id, created_at) VALUES (${user}, ${other}, ${now})
        ON CONFLICT DO NOTHING`;
      await deleteFriendship(tx, user, other);
      await closeRequest(tx, other, user, "declined", now);
      await closeRequest(tx, user, other, "cancelled", now);
      return { ok: true, changed: inserted.count > 0 };
    });
  }

  async unblock(user: string, other: string): Promise<UnblockResult> {
    if (parseUserId(user) === undefined || parseUserId(other) === undefined || user === other) {
      return { ok: false, reason: "not_blocked" };
    }
    const deleted = await this.#changePair(user, other, async (tx) => {
      const result = await tx`DELETE FROM blocks WHERE user_id = ${user} AND blocked_id = ${other}`;
      return result.count;
    });
    return deleted > 0 ? { ok: true } : { ok: false, reason: "not_blocked" };
  }

  async friendsOf(user: string, options: FriendsOfOptions): Promise<FriendsPage> {
    const query = friendsPageQuery(user, options);
    if (query.user === undefined) return { friends: [], hasMore: false };
    const rows = await this.#sql<PersonRow[]>`
      SELECT f.friend_id AS user_id, u.username, f.since AS at
      FROM friendships f JOIN users u ON u.id = f.friend_id
      WHERE f.user_id = ${user} AND f.friend_id > ${query.after.toString()}
      ORDER BY f.friend_id LIMIT ${query.limit + 1}`;
    return toFriendsPage(rows, query.limit);
  }

  async pendingFor(user: string, options: PendingForOptions = {}): Promise<PendingRequests> {
    const limit = pendingLimit(options);
    if (parseUserId(user) === undefined) return { incoming: [], outgoing: [] };
    const [incoming, outgoing] = await Promise.all([
      this.#sql<PersonRow[]>`
        SELECT r.from_id AS user_id, u.username, r.created_at AS at
        FROM friend_requests r JOIN users u ON u.id = r.from_id
        WHERE r.to_id = ${user} AND r.status = 'pending'
        ORDER BY r.created_at DESC, r.from_id DESC LIMIT ${limit}`,
      this.#sql<PersonRow[]>`
        SELECT r.to_id AS user_id, u.username, r.created_at AS at
        FROM friend_requests r JOIN users u ON u.id = r.to_id
        WHERE r.from_id = ${user} AND r.status = 'pending'
        ORDER BY r.created_at DESC, r.to_id DESC LIMIT ${limit}`,
    ]);
    return { incoming: incoming.map(toPendingRequest), outgoing: outgoing.map(toPendingRequest) };
  }

  async areFriends(a: string, b: string): Promise<boolean> {
    if (parseUserId(a) === undefined || parseUserId(b) === undefined) return false;
    const rows = await this.#sql`
      SELECT 1 AS one FROM friendships WHERE user_id = ${a} AND friend_id = ${b}`;
    return rows.length > 0;
  }

  async isBlocked(a: string, b: string): Promise<boolean> {
    if (parseUserId(a) === undefined || parseUserId(b) === undefined) return false;
    const rows = await this.#sql`
      SELECT 1 AS one FROM blocks
      WHERE (user_id = ${a} AND blocked_id = ${b}) OR (user_id = ${b} AND blocked_id = ${a})
      LIMIT 1`;
    return rows.length > 0;
  }

  async relation(a: string, b: string): Promise<Relation> {
    if (parseUserId(a) === undefined || parseUserId(b) === undefined || a === b) {
      return NO_RELATION;
    }
    return toRelation(await readPair(this.#sql, a, b));
  }

  /**
   * Runs `fn` in a transaction holding the lock on the pair `a`, `b` (canonical ids, in
   * either order): every change between two users takes it first and no other lock.
   */
  #changePair<T>(a: string, b: string, fn: (tx: PgTx) => Promise<T>): Promise<T> {
    const [low, high] = BigInt(a) < BigInt(b) ? [a, b] : [b, a];
    // The cast undoes the driver's typing of begin(), which unwraps arrays of queries.
    return this.#sql.begin(async (tx) => {
      await lockXact(tx, `flash-im:friends:${low}:${high}`);
      return await fn(tx);
    }) as Promise<T>;
  }

  /** Runs `apply` on the pending request `from` -> `to`, or answers `not_found`. */
  async #respond(
    from: string,
    to: string,
    now: number,
    apply: (tx: PgTx) => Promise<unknown>,
  ): Promise<RespondResult> {
    checkTime(now, "answer a friend request");
    if (parseUserId(from) === undefined || parseUserId(to) === undefined || from === to) {
      return NOT_FOUND;
    }
    return await this.#changePair(from, to, async (tx): Promise<RespondResult> => {
      const [row] = await tx<{ status: RequestStatus }[]>`
        SELECT status FROM friend_requests WHERE from_id = ${from} AND to_id = ${to}`;
      if (row?.status !== "pending") return NOT_FOUND;
      await apply(tx);
      return { ok: true };
    });
  }
}

/** Everything stored between `a` and `b` (distinct canonical ids), in one round trip. */
async function readPair(sql: Sql | PgTx, a: string, b: string): Promise<PairState> {
  const [row] = await sql<PairRow[]>`
    SELECT
      (SELECT count(*)::int FROM users WHERE id IN (${a}, ${b})) AS users,
      (SELECT since FROM friendships WHERE user_id = ${a} AND friend_id = ${b}) AS since,
      (SELECT status FROM friend_requests WHERE from_id = ${a} AND to_id = ${b}) AS sent,
      (SELECT status FROM friend_requests WHERE from_id = ${b} AND to_id = ${a}) AS received,
      EXISTS (SELECT 1 FROM blocks WHERE user_id = ${a} AND blocked_id = ${b}) AS blocking,
      EXISTS (SELECT 1 FROM blocks WHERE user_id = ${b} AND blocked_id = ${a}) AS blocked_by`;
  return {
    users: row!.users,
    friendsSince: row!.since === null ? undefined : Number(row!.since),
    sent: row!.sent ?? undefined,
    received: row!.received ?? undefined,
    blocking: row!.blocking,
    blockedBy: row!.blocked_by,
  };
}

/** Accepts the pending request `from` -> `to` and stores the friendship both ways. */
async function befriend(tx: PgTx, from: string, to: string, now: number): Promise<void> {
  await closeRequest(tx, from, to, "accepted", now);
  await tx`
    INSERT INTO friendships (user_id, friend_id, since)
    VALUES (${from}, ${to}, ${now}), (${to}, ${from}, ${now})
    ON CONFLICT DO NOTHING`;
}

/** Gives the request `from` -> `to` its final status, if it is pending. */
async function closeRequest(
  tx: PgTx,
  from: string,
  to: string,
  status: Exclude<RequestStatus, "pending">,
  now: number,
): Promise<void> {
  await tx`
    UPDATE friend_requests SET status = ${status}, updated_at = ${now}
    WHERE from_id = ${from} AND to_id = ${to} AND status = 'pending'`;
}

/** Deletes the friendship of `a` and `b` (both rows); resolves to the rows deleted. */
async function deleteFriendship(tx: PgTx, a: string, b: string): Promise<number> {
  const result = await tx`
    DELETE FROM friendships
    WHERE (user_id = ${a} AND friend_id = ${b}) OR (user_id = ${b} AND friend_id = ${a})`;
  return result.count;
}
