/**
 * What the refresh token store backends share: the `refresh_tokens` row and its record,
 * the checks on a token before it is stored, and the rotation decision (a pure function of
 * the stored token; each backend applies its outcome inside its transaction). Private to
 * `services/`.
 *
 * @module
 */

import type {
  NewRefreshToken,
  NextRefreshToken,
  RefreshTokenRecord,
  RotateResult,
} from "./refresh_token_store.ts";
import { parseUserId } from "./_store_util.ts";

/** A `refresh_tokens` row. Integers arrive as `bigint` (SQLite) or decimal strings (Postgres). */
export interface RefreshTokenRow {
  token_hash: string;
  family_id: string;
  user_id: bigint | string;
  device_id: string;
  created_at: bigint | string;
  expires_at: bigint | string;
  used_at: bigint | string | null;
  revoked_at: bigint | string | null;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** The record of a `refresh_tokens` row. */
export function toRefreshTokenRecord(row: RefreshTokenRow): RefreshTokenRecord {
  return {
    tokenHash: row.token_hash,
    familyId: row.family_id,
    userId: row.user_id.toString(),
    deviceId: row.device_id,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    usedAt: row.used_at === null ? null : Number(row.used_at),
    revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
  };
}

/**
 * Checks a token about to be stored and returns its owner's id.
 *
 * @throws {TypeError} when `tokenHash` is not a SHA-256 hex digest (a raw token, say) or
 *   `userId` is not a user id.
 */
export function checkNewRefreshToken(record: NewRefreshToken): bigint {
  if (typeof record.tokenHash !== "string" || !SHA256_HEX.test(record.tokenHash)) {
    throw new TypeError("Cannot store refresh token: tokenHash is not a SHA-256 hex digest");
  }
  const userId = parseUserId(record.userId);
  if (userId === undefined) {
    throw new TypeError(
      `Cannot store refresh token: user id ${JSON.stringify(record.userId)} is invalid`,
    );
  }
  return userId;
}

/**
 * What rotating `old` (as read under the transaction's lock; `undefined` when there is no
 * such token) into `next` at `now` comes to. The caller applies it: on `reused` it revokes
 * the family, on `ok` it marks `old` used and stores `record`; otherwise nothing changes.
 * Checks in order: unknown, used or revoked, expired.
 */
export function decideRotation(
  old: RefreshTokenRecord | undefined,
  next: NextRefreshToken,
  now: number,
): RotateResult {
  if (old === undefined) return { status: "unknown" };
  if (old.usedAt !== null || old.revokedAt !== null) {
    // Someone holds a token that was already exchanged: the legitimate client or a thief
    // has the successor, and we cannot tell which. End the session for both.
    return { status: "reused", familyId: old.familyId, userId: old.userId };
  }
  if (now >= old.expiresAt) return { status: "expired" };
  return {
    status: "ok",
    record: {
      tokenHash: next.tokenHash,
      familyId: old.familyId,
      userId: old.userId,
      deviceId: old.deviceId,
      createdAt: next.createdAt,
      expiresAt: next.expiresAt,
      usedAt: null,
      revokedAt: null,
    },
  };
}
