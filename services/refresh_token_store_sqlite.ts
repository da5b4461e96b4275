/**
 * The embedded {@link RefreshTokenStore} backend on `node:sqlite`.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import { immediateTransaction } from "./sqlite.ts";
import type {
  NewRefreshToken,
  NextRefreshToken,
  RefreshTokenRecord,
  RefreshTokenStore,
  RevokeFamilyOptions,
  RotateResult,
} from "./refresh_token_store.ts";

/** Options of {@link SqliteRefreshTokenStore}. */
export interface SqliteRefreshTokenStoreOptions {
  /** Close `db` when the store closes. Default `false`: the opener owns the handle. */
  readonly closeDb?: boolean;
}

interface TokenRow {
  token_hash: string;
  family_id: string;
  user_id: bigint;
  device_id: string;
  created_at: bigint;
  expires_at: bigint;
  used_at: bigint | null;
  revoked_at: bigint | null;
}

const COLUMNS =
  "token_hash, family_id, user_id, device_id, created_at, expires_at, used_at, revoked_at";
const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * {@link RefreshTokenStore} on a database opened by `openSqlite` with `SQLITE_MIGRATIONS`.
 * `rotate` runs in a `BEGIN IMMEDIATE` transaction, so it is atomic across every thread and
 * process that opened the file.
 *
 * @example
 * ```ts
 * using tokens = new SqliteRefreshTokenStore(db);
 * const result = await tokens.rotate(oldHash, next, Date.now());
 * ```
 */
export class SqliteRefreshTokenStore implements RefreshTokenStore {
  #db: DatabaseSync;
  #closeDb: boolean;
  #insert: StatementSync;
  #find: StatementSync;
  #markUsed: StatementSync;
  #revokeFamily: StatementSync;
  #revokeFamilyOf: StatementSync;
  #revokeUser: StatementSync;
  #active: StatementSync;
  #purge: StatementSync;

  constructor(db: DatabaseSync, options: SqliteRefreshTokenStoreOptions = {}) {
    this.#db = db;
    this.#closeDb = options.closeDb ?? false;
    this.#insert = db.prepare(
      `INSERT INTO refresh_tokens (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)`,
    );
    this.#find = db.prepare(`SELECT ${COLUMNS} FROM refresh_tokens WHERE token_hash = ?`);
    this.#find.setReadBigInts(true);
    this.#markUsed = db.prepare("UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ?");
    const revoke = "UPDATE refresh_tokens SET revoked_at = ? WHERE revoked_at IS NULL";
    this.#revokeFamily = db.prepare(`${revoke} AND family_id = ?`);
    this.#revokeFamilyOf = db.prepare(`${revoke} AND family_id = ? AND user_id = ?`);
    this.#revokeUser = db.prepare(`${revoke} AND user_id = ?`);
    this.#active = db.prepare(
      `SELECT 1 FROM refresh_tokens WHERE family_id = ? AND used_at IS NULL
       AND revoked_at IS NULL AND expires_at > ? LIMIT 1`,
    );
    this.#purge = db.prepare("DELETE FROM refresh_tokens WHERE expires_at <= ?");
  }

  insert(record: NewRefreshToken): Promise<void> {
    try {
      this.#insertRow(record);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  find(tokenHash: string): Promise<RefreshTokenRecord | undefined> {
    const row = this.#find.get(tokenHash) as TokenRow | undefined;
    return Promise.resolve(row && toRecord(row));
  }

  rotate(oldHash: string, next: NextRefreshToken, now: number): Promise<RotateResult> {
    try {
      return Promise.resolve(
        immediateTransaction(this.#db, () => this.#rotate(oldHash, next, now)),
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  revokeFamily(familyId: string, now: number, options: RevokeFamilyOptions = {}): Promise<number> {
    if (options.userId === undefined) {
      return Promise.resolve(Number(this.#revokeFamily.run(now, familyId).changes));
    }
    const userId = parseUserId(options.userId);
    if (userId === undefined) return Promise.resolve(0);
    return Promise.resolve(Number(this.#revokeFamilyOf.run(now, familyId, userId).changes));
  }

  revokeUser(userId: string, now: number): Promise<number> {
    const id = parseUserId(userId);
    if (id === undefined) return Promise.resolve(0);
    return Promise.resolve(Number(this.#revokeUser.run(now, id).changes));
  }

  isFamilyActive(familyId: string, now: number): Promise<boolean> {
    return Promise.resolve(this.#active.get(familyId, now) !== undefined);
  }

  purgeExpired(now: number): Promise<number> {
    return Promise.resolve(Number(this.#purge.run(now).changes));
  }

  /** Closes the database handle if the store owns it (`closeDb`); idempotent. */
  close(): void {
    if (this.#closeDb && this.#db.isOpen) this.#db.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #rotate(oldHash: string, next: NextRefreshToken, now: number): RotateResult {
    const old = this.#find.get(oldHash) as TokenRow | undefined;
    if (old === undefined) return { status: "unknown" };
    const userId = old.user_id.toString();
    if (old.used_at !== null || old.revoked_at !== null) {
      // Someone holds a token that was already exchanged: the legitimate client or a thief
      // has the successor, and we cannot tell which. End the session for both.
      this.#revokeFamily.run(now, old.family_id);
      return { status: "reused", familyId: old.family_id, userId };
    }
    if (now >= Number(old.expires_at)) return { status: "expired" };
    this.#markUsed.run(now, oldHash);
    const record: NewRefreshToken = {
      ...next,
      familyId: old.family_id,
      userId,
      deviceId: old.device_id,
    };
    this.#insertRow(record);
    return { status: "ok", record: { ...record, usedAt: null, revokedAt: null } };
  }

  #insertRow(record: NewRefreshToken): void {
    if (!SHA256_HEX.test(record.tokenHash)) {
      throw new TypeError("Cannot store refresh token: tokenHash is not a SHA-256 hex digest");
    }
    const userId = parseUserId(record.userId);
    if (userId === undefined) {
      throw new TypeError(
        `Cannot store refresh token: user id ${JSON.stringify(record.userId)} is invalid`,
      );
    }
    this.#insert.run(
      record.tokenHash,
      record.familyId,
      userId,
      record.deviceId,
      record.createdAt,
      record.expiresAt,
    );
  }
}

function parseUserId(id: string): bigint | undefined {
  return /^[1-9][0-9]{0,18}$/.test(id) ? BigInt(id) : undefined;
}

function toRecord(row: TokenRow): RefreshTokenRecord {
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
