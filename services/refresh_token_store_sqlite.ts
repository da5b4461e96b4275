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
import { parseUserId } from "./_store_util.ts";
import {
  checkNewRefreshToken,
  decideRotation,
  type RefreshTokenRow,
  toRefreshTokenRecord,
} from "./_refresh_token_rows.ts";

/** Options of {@link SqliteRefreshTokenStore}. */
export interface SqliteRefreshTokenStoreOptions {
  /** Close `db` when the store closes. Default `false`: the opener owns the handle. */
  readonly closeDb?: boolean;
}

const COLUMNS =
  "token_hash, family_id, user_id, device_id, created_at, expires_at, used_at, revoked_at";

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
    const row = this.#find.get(tokenHash) as RefreshTokenRow | undefined;
    return Promise.resolve(row && toRefreshTokenRecord(row));
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
    const old = this.#find.get(oldHash) as RefreshTokenRow | undefined;
    const result = decideRotation(old && toRefreshTokenRecord(old), next, now);
    if (result.status === "reused") {
      this.#revokeFamily.run(now, result.familyId);
    } else if (result.status === "ok") {
      this.#markUsed.run(now, oldHash);
      this.#insertRow(result.record);
    }
    return result;
  }

  #insertRow(record: NewRefreshToken): void {
    const userId = checkNewRefreshToken(record);
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
