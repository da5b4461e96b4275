/**
 * What the user store backends share: the `users` row and its record, and the arguments
 * of a search (limit, escaped `LIKE` pattern, excluded id). Private to `services/`.
 *
 * @module
 */

import { MAX_USER_SEARCH, type UserRecord, type UserSearchOptions } from "./user_store.ts";
import { clampLimit, parseUserId } from "./_store_util.ts";

/** A `users` row. Integers arrive as `bigint` (SQLite) or decimal strings (Postgres). */
export interface UserRow {
  id: bigint | string;
  username: string;
  password_hash: string;
  created_at: bigint | string;
}

/** The record of a `users` row. */
export function toUserRecord(row: UserRow): UserRecord {
  return {
    id: row.id.toString(),
    username: row.username,
    passwordHash: row.password_hash,
    createdAt: Number(row.created_at),
  };
}

/** The checked arguments of one `UserStore.search`. */
export interface UserSearchQuery {
  /** The prefix with `\`, `%` and `_` escaped by `\`, then `%`: use with `ESCAPE '\'`. */
  readonly pattern: string;
  /** The id to leave out; 0 (nobody's id) when there is none or it names no user. */
  readonly excluded: bigint;
  /** The limit clamped to {@link MAX_USER_SEARCH}. */
  readonly limit: number;
}

/**
 * The query for `search(prefix, options)`, or `undefined` when the prefix is empty: the
 * store never lists every account.
 *
 * @throws {RangeError} for a limit below 1 (checked before the prefix).
 */
export function userSearchQuery(
  prefix: string,
  options: UserSearchOptions,
): UserSearchQuery | undefined {
  const limit = clampLimit(options.limit, MAX_USER_SEARCH, "users");
  if (typeof prefix !== "string" || prefix.length === 0) return undefined;
  const excluded = options.excludeUserId === undefined
    ? 0n
    : parseUserId(options.excludeUserId) ?? 0n;
  return { pattern: `${prefix.replace(/[\\%_]/g, "\\$&")}%`, excluded, limit };
}
