/**
 * The real {@link RefreshTokenStore} backend on PostgreSQL (`npm:postgres`).
 *
 * @module
 */

import type { Sql } from "./postgres.ts";
import type {
  NewRefreshToken,
  NextRefreshToken,
  RefreshTokenRecord,
  RefreshTokenStore,
  RevokeFamilyOptions,
  RotateResult,
} from "./refresh_token_store.ts";
import { parseUserId } from "./_store_util.ts";
import { lockXact, type PgTx } from "./_pg_lock.ts";
import {
  checkNewRefreshToken,
  decideRotation,
  type RefreshTokenRow,
  toRefreshTokenRecord,
} from "./_refresh_token_rows.ts";

/** The lock that serializes changes to one user's tokens. */
const userLock = (userId: string) => `flash-im:refresh-tokens:${userId}`;

/**
 * {@link RefreshTokenStore} on a pool opened by `openPostgres` with `PG_MIGRATIONS`.
 *
 * A family belongs to one user, so `rotate`, `revokeFamily` and `revokeUser` run in
 * transactions under an advisory lock on the user: a revocation then always sees the
 * successor a concurrent rotation stores (a single `UPDATE` under READ COMMITTED would miss
 * a row inserted after its snapshot, leaving a stolen session alive), and of two rotations
 * of one token on any nodes, exactly one succeeds. The pool belongs to the caller.
 *
 * @example
 * ```ts
 * const tokens = new PgRefreshTokenStore(sql);
 * const result = await tokens.rotate(oldHash, next, Date.now());
 * ```
 */
export class PgRefreshTokenStore implements RefreshTokenStore {
  #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  async insert(record: NewRefreshToken): Promise<void> {
    await insertRow(this.#sql, record);
  }

  async find(tokenHash: string): Promise<RefreshTokenRecord | undefined> {
    const [row] = await this.#sql<RefreshTokenRow[]>`
      SELECT token_hash, family_id, user_id, device_id, created_at, expires_at, used_at, revoked_at
      FROM refresh_tokens WHERE token_hash = ${tokenHash}`;
    return row && toRefreshTokenRecord(row);
  }

  rotate(oldHash: string, next: NextRefreshToken, now: number): Promise<RotateResult> {
    return this.#sql.begin(async (tx): Promise<RotateResult> => {
      // Lock the owner first, then read the token again: the first read's snapshot predates
      // the lock. A token never changes owner, so the lock is the right one.
      const [owner] = await tx<{ user_id: string }[]>`
        SELECT user_id, pg_advisory_xact_lock(hashtextextended(
          ${userLock("")} || user_id::text, 0)) AS locked
        FROM refresh_tokens WHERE token_hash = ${oldHash}`;
      if (owner === undefined) return { status: "unknown" };
      const [row] = await tx<RefreshTokenRow[]>`
        SELECT token_hash, family_id, user_id, device_id, created_at, expires_at, used_at, revoked_at
        FROM refresh_tokens WHERE token_hash = ${oldHash}`;
      const result = decideRotation(row && toRefreshTokenRecord(row), next, now);
      if (result.status === "reused") {
        await tx`UPDATE refresh_tokens SET revoked_at = ${now}
                 WHERE family_id = ${result.familyId} AND revoked_at IS NULL`;
      } else if (result.status === "ok") {
        await tx`UPDATE refresh_tokens SET used_at = ${now} WHERE token_hash = ${oldHash}`;
        await insertRow(tx, result.record);
      }
      return result;
    });
  }

  async revokeFamily(
    familyId: string,
    now: number,
    options: RevokeFamilyOptions = {},
  ): Promise<number> {
    if (options.userId !== undefined && parseUserId(options.userId) === undefined) return 0;
    const [owner] = await this.#sql<{ user_id: string }[]>`
      SELECT user_id FROM refresh_tokens WHERE family_id = ${familyId} LIMIT 1`;
    if (owner === undefined) return 0;
    if (options.userId !== undefined && options.userId !== owner.user_id) return 0;
    return await this.#sql.begin(async (tx) => {
      await lockXact(tx, userLock(owner.user_id));
      const result = await tx`UPDATE refresh_tokens SET revoked_at = ${now}
        WHERE family_id = ${familyId} AND user_id = ${owner.user_id} AND revoked_at IS NULL`;
      return result.count;
    });
  }

  async revokeUser(userId: string, now: number): Promise<number> {
    if (parseUserId(userId) === undefined) return 0;
    return await this.#sql.begin(async (tx) => {
      await lockXact(tx, userLock(userId));
      const result = await tx`UPDATE refresh_tokens SET revoked_at = ${now}
        WHERE user_id = ${userId} AND revoked_at IS NULL`;
      return result.count;
    });
  }

  async isFamilyActive(familyId: string, now: number): Promise<boolean> {
    const rows = await this.#sql`
      SELECT 1 AS one FROM refresh_tokens WHERE family_id = ${familyId} AND used_at IS NULL
      AND revoked_at IS NULL AND expires_at > ${now} LIMIT 1`;
    return rows.length > 0;
  }

  async purgeExpired(now: number): Promise<number> {
    const result = await this.#sql`DELETE FROM refresh_tokens WHERE expires_at <= ${now}`;
    return result.count;
  }
}

async function insertRow(sql: Sql | PgTx, record: NewRefreshToken): Promise<void> {
  const userId = checkNewRefreshToken(record).toString();
  await sql`
    INSERT INTO refresh_tokens
      (token_hash, family_id, user_id, device_id, created_at, expires_at, used_at, revoked_at)
    VALUES (${record.tokenHash}, ${record.familyId}, ${userId}, ${record.deviceId},
      ${record.createdAt}, ${record.expiresAt}, NULL, NULL)`;
}
