/**
 * The embedded {@link FriendStore} backend on `node:sqlite`.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import { immediateTransaction } from "./sqlite.ts";
import { checkTime, parseUserId, settle } from "./_store_util.ts";
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

/** Options of {@link SqliteFriendStore}. */
export interface SqliteFriendStoreOptions {
  /** Close `db` when the store closes. Default `false`: the opener owns the handle. */
  readonly closeDb?: boolean;
}

/**
 * {@link FriendStore} on a database opened by `openSqlite` with `SQLITE_MIGRATIONS` (it
 * reads names from the `users` table). Mutations run in `BEGIN IMMEDIATE` transactions, so
 * they are atomic across every thread and process that opened the file.
 *
 * @example
 * ```ts
 * using friends = new SqliteFriendStore(db);
 * const asked = await friends.request("17", "42", Date.now());
 * ```
 */
export class SqliteFriendStore implements FriendStore {
  #db: DatabaseSync;
  #closeDb: boolean;
  #sql: Record<
    | "userExists"
    | "requestStatus"
    | "upsertPending"
    | "setPendingStatus"
    | "friendSince"
    | "insertFriend"
    | "deleteFriends"
    | "blocked"
    | "insertBlock"
    | "deleteBlock"
    | "friends"
    | "incoming"
    | "outgoing",
    StatementSync
  >;

  constructor(db: DatabaseSync, options: SqliteFriendStoreOptions = {}) {
    this.#db = db;
    this.#closeDb = options.closeDb ?? false;
    this.#sql = {
      userExists: db.prepare("SELECT 1 AS one FROM users WHERE id = ?"),
      requestStatus: db.prepare(
        "SELECT status FROM friend_requests WHERE from_id = ? AND to_id = ?",
      ),
      upsertPending: db.prepare(
        `INSERT INTO friend_requests (from_id, to_id, status, created_at, updated_at)
         VALUES (?, ?, 'pending', ?, ?)
         ON CONFLICT (from_id, to_id) DO UPDATE SET status = 'pending',
           created_at = excluded.created_at, updated_at = excluded.updated_at`,
      ),
      setPendingStatus: db.prepare(
        `UPDATE friend_requests SET status = ?, updated_at = ?
         WHERE from_id = ? AND to_id = ? AND status = 'pending'`,
      ),
      friendSince: db.prepare(
        "SELECT since FROM friendships WHERE user_id = ? AND friend_id = ?",
      ),
      insertFriend: db.prepare(
        `INSERT INTO friendships (user_id, friend_id, since) VALUES (?, ?, ?)
         ON CONFLICT DO NOTHING`,
      ),
      deleteFriends: db.prepare(
        `DELETE FROM friendships
         WHERE (user_id = ? AND friend_id = ?) OR (user_id = ? AND friend_id = ?)`,
      ),
      blocked: db.prepare("SELECT 1 AS one FROM blocks WHERE user_id = ? AND blocked_id = ?"),
      insertBlock: db.prepare(
        `INSERT INTO blocks (user_id, blocked_id, created_at) VALUES (?, ?, ?)
         ON CONFLICT DO NOTHING`,
      ),
      deleteBlock: db.prepare("DELETE FROM blocks WHERE user_id = ? AND blocked_id = ?"),
      friends: db.prepare(
        `SELECT f.friend_id AS user_id, u.username, f.since AS at
         FROM friendships f JOIN users u ON u.id = f.friend_id
         WHERE f.user_id = ? AND f.friend_id > ? ORDER BY f.friend_id LIMIT ?`,
      ),
      incoming: db.prepare(
        `SELECT r.from_id AS user_id, u.username, r.created_at AS at
         FROM friend_requests r JOIN users u ON u.id = r.from_id
         WHERE r.to_id = ? AND r.status = 'pending'
         ORDER BY r.created_at DESC, r.from_id DESC LIMIT ?`,
      ),
      outgoing: db.prepare(
        `SELECT r.to_id AS user_id, u.username, r.created_at AS at
         FROM friend_requests r JOIN users u ON u.id = r.to_id
         WHERE r.from_id = ? AND r.status = 'pending'
         ORDER BY r.created_at DESC, r.to_id DESC LIMIT ?`,
      ),
    };
    // User ids may exceed 2^53: read every integer as a bigint.
    for (const statement of Object.values(this.#sql)) statement.setReadBigInts(true);
  }

  request(from: string, to: string, now: number): Promise<FriendRequestResult> {
    return settle(() => {
      checkTime(now, "send a friend request");
      if (from === to) return { ok: false, reason: "self" } as const;
      const a = parseUserId(from);
      const b = parseUserId(to);
      if (a === undefined || b === undefined) return { ok: false, reason: "unknown_user" } as const;
      return immediateTransaction(this.#db, (): FriendRequestResult => {
        const result = decideRequest(this.#pair(a, b));
        if (result.ok && result.status === "accepted") this.#befriend(b, a, now);
        if (result.ok && result.status === "pending") this.#sql.upsertPending.run(a, b, now, now);
        return result;
      });
    });
  }

  accept(to: string, from: string, now: number): Promise<RespondResult> {
    return this.#respond(from, to, now, (a, b) => this.#befriend(a, b, now));
  }

  decline(to: string, from: string, now: number): Promise<RespondResult> {
    return this.#respond(from, to, now, (a, b) => this.#close(a, b, "declined", now));
  }

  cancel(from: string, to: string, now: number): Promise<RespondResult> {
    return this.#respond(from, to, now, (a, b) => this.#close(a, b, "cancelled", now));
  }

  remove(a: string, b: string): Promise<RemoveFriendResult> {
    return settle(() => {
      const x = parseUserId(a);
      const y = parseUserId(b);
      if (x === undefined || y === undefined) return { ok: false, reason: "not_friends" } as const;
      const deleted = this.#sql.deleteFriends.run(x, y, y, x).changes;
      return deleted > 0 ? { ok: true } as const : { ok: false, reason: "not_friends" } as const;
    });
  }

  block(user: string, other: string, now: number): Promise<BlockResult> {
    return settle(() => {
      checkTime(now, "block a user");
      if (user === other) return { ok: false, reason: "self" } as const;
      const a = parseUserId(user);
      const b = parseUserId(other);
      if (a === undefined || b === undefined) return { ok: false, reason: "unknown_user" } as const;
      return immediateTransaction(this.#db, (): BlockResult => {
        if (!this.#userExists(a) || !this.#userExists(b)) {
          return { ok: false, reason: "unknown_user" };
        }
        const changed = this.#sql.insertBlock.run(a, b, now).changes > 0;
        this.#sql.deleteFriends.run(a, b, b, a);
        this.#close(b, a, "declined", now);
        this.#close(a, b, "cancelled", now);
        return { ok: true, changed };
      });
    });
  }

  unblock(user: string, other: string): Promise<UnblockResult> {
    return settle(() => {
      const a = parseUserId(user);
      const b = parseUserId(other);
      const deleted = a !== undefined && b !== undefined &&
        this.#sql.deleteBlock.run(a, b).changes > 0;
      return deleted ? { ok: true } as const : { ok: false, reason: "not_blocked" } as const;
    });
  }

  friendsOf(user: string, options: FriendsOfOptions): Promise<FriendsPage> {
    return settle(() => {
      const query = friendsPageQuery(user, options);
      if (query.user === undefined) return { friends: [], hasMore: false };
      const rows = this.#sql.friends.all(query.user, query.after, query.limit + 1);
      return toFriendsPage(rows as unknown as PersonRow[], query.limit);
    });
  }

  pendingFor(user: string, options: PendingForOptions = {}): Promise<PendingRequests> {
    return settle(() => {
      const limit = pendingLimit(options);
      const id = parseUserId(user);
      if (id === undefined) return { incoming: [], outgoing: [] };
      const read = (statement: StatementSync) =>
        (statement.all(id, limit) as unknown as PersonRow[]).map(toPendingRequest);
      return { incoming: read(this.#sql.incoming), outgoing: read(this.#sql.outgoing) };
    });
  }

  areFriends(a: string, b: string): Promise<boolean> {
    return settle(() => {
      const x = parseUserId(a);
      const y = parseUserId(b);
      return x !== undefined && y !== undefined && this.#friendSince(x, y) !== undefined;
    });
  }

  isBlocked(a: string, b: string): Promise<boolean> {
    return settle(() => {
      const x = parseUserId(a);
      const y = parseUserId(b);
      return x !== undefined && y !== undefined && this.#blockedEither(x, y);
    });
  }

  relation(a: string, b: string): Promise<Relation> {
    return settle(() => {
      const x = parseUserId(a);
      const y = parseUserId(b);
      if (x === undefined || y === undefined || x === y) return NO_RELATION;
      return toRelation(this.#pair(x, y));
    });
  }

  /** Closes the database handle if the store owns it (`closeDb`); idempotent. */
  close(): void {
    if (this.#closeDb && this.#db.isOpen) this.#db.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Runs `apply` on the pending request `from` -> `to`, or answers `not_found`. */
  #respond(
    from: string,
    to: string,
    now: number,
    apply: (from: bigint, to: bigint) => void,
  ): Promise<RespondResult> {
    return settle(() => {
      checkTime(now, "answer a friend request");
      const a = parseUserId(from);
      const b = parseUserId(to);
      if (a === undefined || b === undefined) return { ok: false, reason: "not_found" } as const;
      return immediateTransaction(this.#db, (): RespondResult => {
        if (this.#status(a, b) !== "pending") return { ok: false, reason: "not_found" };
        apply(a, b);
        return { ok: true };
      });
    });
  }

  /** Accepts the pending request `from` -> `to` and stores the friendship both ways. */
  #befriend(from: bigint, to: bigint, now: number): void {
    this.#close(from, to, "accepted", now);
    this.#sql.insertFriend.run(from, to, now);
    this.#sql.insertFriend.run(to, from, now);
  }

  /** Gives the request `from` -> `to` its final status, if it is pending. */
  #close(from: bigint, to: bigint, status: Exclude<RequestStatus, "pending">, now: number): void {
    this.#sql.setPendingStatus.run(status, now, from, to);
  }

  /** Everything stored between `a` and `b`, from `a`'s side. */
  #pair(a: bigint, b: bigint): PairState {
    return {
      users: Number(this.#userExists(a)) + Number(this.#userExists(b)),
      friendsSince: this.#friendSince(a, b),
      sent: this.#status(a, b),
      received: this.#status(b, a),
      blocking: this.#sql.blocked.get(a, b) !== undefined,
      blockedBy: this.#sql.blocked.get(b, a) !== undefined,
    };
  }

  #status(from: bigint, to: bigint): RequestStatus | undefined {
    const row = this.#sql.requestStatus.get(from, to) as { status: RequestStatus } | undefined;
    return row?.status;
  }

  #friendSince(a: bigint, b: bigint): number | undefined {
    const row = this.#sql.friendSince.get(a, b) as { since: bigint } | undefined;
    return row === undefined ? undefined : Number(row.since);
  }

  #blockedEither(a: bigint, b: bigint): boolean {
    return this.#sql.blocked.get(a, b) !== undefined || this.#sql.blocked.get(b, a) !== undefined;
  }

  #userExists(id: bigint): boolean {
    return this.#sql.userExists.get(id) !== undefined;
  }
}
