/**
 * The auth service: registration, login, refresh token rotation with reuse detection,
 * logout, and local verification of access tokens. It holds no state of its own beyond
 * its options: accounts and sessions live in the stores, so any number of instances
 * (one per worker, one per node) can serve the same users.
 *
 * @module
 */

import { signAccessToken, verifyAccessToken, type VerifyResult } from "./access_token.ts";
import { hashRefreshToken, newRefreshToken } from "./_refresh_token.ts";
import {
  checkScryptCost,
  DEFAULT_SCRYPT_COST,
  hashPassword,
  type ScryptCost,
  verifyPassword,
} from "./password.ts";
import type { RefreshTokenStore } from "./refresh_token_store.ts";
import type { KeySet } from "./signing_keys.ts";
import type { UserStore } from "./user_store.ts";
import { validateDeviceId, validatePassword, validateUsername } from "./validation.ts";

/** Options of {@link AuthService}. */
export interface AuthServiceOptions {
  readonly users: UserStore;
  readonly refreshTokens: RefreshTokenStore;
  readonly keys: KeySet;
  /** Access token lifetime. Default 900 s. */
  readonly accessTtlSec?: number;
  /** Refresh token lifetime, renewed by each rotation. Default 30 days. */
  readonly refreshTtlSec?: number;
  /** `iss` of issued tokens, required when verifying. Default `"flash-im"`. */
  readonly issuer?: string;
  /** `aud` of issued tokens, required when verifying. Default `"flash-im"`. */
  readonly audience?: string;
  /** Clock skew allowed when checking `exp`. Default 5 s. */
  readonly clockToleranceSec?: number;
  /** scrypt cost of new password hashes. Default N=16384, r=8, p=1; lower only in tests. */
  readonly passwordCost?: ScryptCost;
  /** Current time in ms since the epoch. Default `Date.now`. */
  readonly now?: () => number;
  /**
   * Revoked sessions, so access tokens issued before a logout or a detected refresh-token
   * theft stop working at once rather than at their expiry. Without it, verification
   * checks signatures and claims only.
   */
  readonly revocations?: SessionRevocations;
  /**
   * Login attempts allowed per account name and per client address (token buckets, shared
   * by the nodes on Redis). Without them logins are not limited.
   */
  readonly loginLimits?: {
    readonly perAccount: AttemptLimiter;
    readonly perAddress: AttemptLimiter;
  };
}

/** A token bucket per key (the `RateLimiter` port, seen from the auth service). */
export interface AttemptLimiter {
  take(key: string): Promise<{ readonly allowed: boolean; readonly retryAfterMs: number }>;
}

/**
 * Where the auth service records revoked sessions and asks about them: the
 * `RevocationList` port (in-memory or Redis), plus whatever must react at once (live
 * connections of the session are closed).
 */
export interface SessionRevocations {
  /**
   * Session `sessionId` of `userId` was revoked; access tokens for it may still be presented
   * until `untilMs` (after that they have expired anyway).
   */
  revoke(revocation: { userId: string; sessionId: string; untilMs: number }): Promise<void>;
  /** Whether `sessionId` was revoked (and not forgotten yet). */
  isRevoked(sessionId: string): Promise<boolean>;
}

/** Defaults of {@link AuthServiceOptions}. */
export const AUTH_DEFAULTS = {
  accessTtlSec: 900,
  refreshTtlSec: 30 * 24 * 3600,
  issuer: "flash-im",
  audience: "flash-im",
  clockToleranceSec: 5,
} as const;

/** What a client gets after login or refresh. */
export interface TokenPair {
  /** EdDSA JWT to present to gateways and the HTTP API. */
  readonly accessToken: string;
  /** Opaque; exchange it once at refresh for a new pair. */
  readonly refreshToken: string;
  /** Seconds until `accessToken` expires. */
  readonly expiresIn: number;
  /** Seconds until `refreshToken` expires. */
  readonly refreshExpiresIn: number;
  /** Decimal string. */
  readonly userId: string;
  /** Identifies this login session (logout by session, `sid` claim). */
  readonly sessionId: string;
}

/** A failure with a stable `code` for programs and a `message` for people. */
export interface AuthFailure<C extends string> {
  readonly ok: false;
  readonly code: C;
  readonly message: string;
}

/** Outcome of {@link AuthService.register}. */
export type RegisterResult =
  | { readonly ok: true; readonly user: { readonly id: string; readonly username: string } }
  | AuthFailure<"invalid_username" | "invalid_password" | "username_taken">;

/** Outcome of {@link AuthService.login}. */
export type LoginResult =
  | { readonly ok: true; readonly tokens: TokenPair }
  | AuthFailure<"bad_credentials" | "invalid_device_id">
  | AuthFailure<"rate_limited"> & { readonly retryAfterMs: number };

/** Outcome of {@link AuthService.refresh}. */
export type RefreshResult =
  | { readonly ok: true; readonly tokens: TokenPair }
  | AuthFailure<"token_unknown" | "token_expired" | "token_reused">;

/** What {@link AuthService.logout} ends: the session of a refresh token, or a session by id. */
export type LogoutTarget =
  | { readonly refreshToken: string }
  /** `userId` scopes the revocation: take both from a verified access token. */
  | { readonly sessionId: string; readonly userId: string };

/** Beyond these lengths login refuses without a lookup (validation caps new ones lower). */
const MAX_LOGIN_USERNAME_LENGTH = 256;
const MAX_LOGIN_PASSWORD_LENGTH = 1024;

/**
 * Registration, login, token refresh and logout over the user and refresh token stores.
 * Expected refusals are returned as values; store failures reject.
 *
 * @example
 * ```ts
 * const auth = new AuthService({ users, refreshTokens, keys });
 * await auth.register("alice", "correct horse");
 * const login = await auth.login("alice", "correct horse", "laptop");
 * if (login.ok) {
 *   const checked = await auth.verifyAccessToken(login.tokens.accessToken);
 * }
 * ```
 */
export class AuthService {
  #users: UserStore;
  #tokens: RefreshTokenStore;
  #keys: KeySet;
  #accessTtlSec: number;
  #refreshTtlSec: number;
  #issuer: string;
  #audience: string;
  #clockToleranceSec: number;
  #passwordCost: ScryptCost;
  #now: () => number;
  #dummyHash: Promise<string> | undefined;
  #revocations: SessionRevocations | undefined;
  #loginLimits: AuthServiceOptions["loginLimits"];

  /** @throws {RangeError} when a lifetime, the tolerance or the scrypt cost is invalid. */
  constructor(options: AuthServiceOptions) {
    this.#users = options.users;
    this.#revocations = options.revocations;
    this.#loginLimits = options.loginLimits;
    this.#tokens = options.refreshTokens;
    this.#keys = options.keys;
    this.#accessTtlSec = seconds(
      "accessTtlSec",
      options.accessTtlSec ?? AUTH_DEFAULTS.accessTtlSec,
      1,
    );
    this.#refreshTtlSec = seconds(
      "refreshTtlSec",
      options.refreshTtlSec ?? AUTH_DEFAULTS.refreshTtlSec,
      1,
    );
    this.#clockToleranceSec = seconds(
      "clockToleranceSec",
      options.clockToleranceSec ?? AUTH_DEFAULTS.clockToleranceSec,
      0,
    );
    this.#issuer = options.issuer ?? AUTH_DEFAULTS.issuer;
    this.#audience = options.audience ?? AUTH_DEFAULTS.audience;
    this.#passwordCost = options.passwordCost ?? DEFAULT_SCRYPT_COST;
    checkScryptCost(this.#passwordCost);
    this.#now = options.now ?? Date.now;
  }

  /** Creates an account after checking the name and password rules. */
  async register(username: string, password: string): Promise<RegisterResult> {
    const name = validateUsername(username);
    if (!name.ok) return { ok: false, code: "invalid_username", message: name.message };
    const pw = validatePassword(password);
    if (!pw.ok) return { ok: false, code: "invalid_password", message: pw.message };
    // Registration reveals whether a name exists anyway; checking first saves a hash.
    if (await this.#users.byUsername(username)) return taken(username);
    const created = await this.#users.create(
      username,
      await hashPassword(password, this.#passwordCost),
    );
    if (!created.ok) return taken(username);
    return { ok: true, user: { id: created.user.id, username: created.user.username } };
  }

  /**
   * Checks credentials and starts a session on `deviceId`. An unknown user and a wrong
   * password get the same answer after the same work (a hash against a dummy), so neither
   * the reply nor its timing tells whether an account exists.
   */
  async login(
    username: string,
    password: string,
    deviceId: string,
    client: { readonly address?: string } = {},
  ): Promise<LoginResult> {
    const device = validateDeviceId(deviceId);
    if (!device.ok) return { ok: false, code: "invalid_device_id", message: device.message };
    const plausible = typeof username === "string" && typeof password === "string" &&
      username.length <= MAX_LOGIN_USERNAME_LENGTH && password.length <= MAX_LOGIN_PASSWORD_LENGTH;
    // Every attempt costs a token, before any password work: guessing and scrypt floods
    // are both bounded. The address is checked first so one client cannot drain an
    // account's bucket and lock its owner out beyond that client's own allowance.
    const limits = this.#loginLimits;
    if (limits !== undefined) {
      const checks = [
        ...(client.address ? [() => limits.perAddress.take(`address:${client.address}`)] : []),
        ...(plausible ? [() => limits.perAccount.take(`account:${username.toLowerCase()}`)] : []),
      ];
      for (const check of checks) {
        const { allowed, retryAfterMs } = await check();
        if (!allowed) {
          return {
            ok: false,
            code: "rate_limited",
            message: `Too many login attempts; retry in ${Math.ceil(retryAfterMs / 1000)} s`,
            retryAfterMs,
          };
        }
      }
    }
    const user = plausible ? await this.#users.byUsername(username) : undefined;
    if (user === undefined) {
      if (plausible) await this.#dummyWork(password);
      return badCredentials();
    }
    if (!(await verifyPassword(password, user.passwordHash))) return badCredentials();
    const now = this.#now();
    const sessionId = crypto.randomUUID();
    const refresh = newRefreshToken();
    await this.#tokens.insert({
      tokenHash: refresh.tokenHash,
      familyId: sessionId,
      userId: user.id,
      deviceId,
      createdAt: now,
      expiresAt: now + this.#refreshTtlSec * 1000,
    });
    return { ok: true, tokens: await this.#pair(user.id, sessionId, refresh.token) };
  }

  /**
   * Exchanges a refresh token for a new pair; the old token stops working. Presenting a
   * token a second time is treated as theft: the whole session is revoked, and both the
   * thief and the legitimate client must log in again.
   */
  async refresh(refreshToken: string): Promise<RefreshResult> {
    const oldHash = hashRefreshToken(refreshToken);
    if (oldHash === undefined) return tokenFailure("token_unknown");
    const now = this.#now();
    const next = newRefreshToken();
    const result = await this.#tokens.rotate(oldHash, {
      tokenHash: next.tokenHash,
      createdAt: now,
      expiresAt: now + this.#refreshTtlSec * 1000,
    }, now);
    switch (result.status) {
      case "ok":
        return {
          ok: true,
          tokens: await this.#pair(result.record.userId, result.record.familyId, next.token),
        };
      case "unknown":
        return tokenFailure("token_unknown");
      case "expired":
        return tokenFailure("token_expired");
      case "reused":
        await this.#revoked(result.userId, result.familyId, now);
        return tokenFailure("token_reused");
    }
  }

  /**
   * Ends a session: every refresh token of its family stops working. Access tokens already
   * issued stay valid until they expire unless the verifier also checks
   * {@link AuthService.isSessionActive}. Idempotent: `revoked` is false when nothing live
   * was found.
   */
  async logout(target: LogoutTarget): Promise<{ revoked: boolean }> {
    const now = this.#now();
    let userId: string, sessionId: string;
    if ("refreshToken" in target) {
      const hash = hashRefreshToken(target.refreshToken);
      const record = hash === undefined ? undefined : await this.#tokens.find(hash);
      if (record === undefined) return { revoked: false };
      ({ userId, familyId: sessionId } = record);
    } else {
      ({ userId, sessionId } = target);
    }
    const count = await this.#tokens.revokeFamily(sessionId, now, { userId });
    // Also when nothing was live: a repeated logout still ends the session's connections.
    if ("sessionId" in target || count > 0) await this.#revoked(userId, sessionId, now);
    return { revoked: count > 0 };
  }

  async #revoked(userId: string, sessionId: string, now: number): Promise<void> {
    await this.#revocations?.revoke({
      userId,
      sessionId,
      // Tokens are accepted up to the clock tolerance past their expiry.
      untilMs: now + (this.#accessTtlSec + this.#clockToleranceSec) * 1000,
    });
  }

  /** Ends every session of a user (after a password change, say); resolves to how many tokens. */
  async logoutEverywhere(userId: string): Promise<number> {
    return await this.#tokens.revokeUser(userId, this.#now());
  }

  /** True while the session can still be refreshed (not logged out, revoked or expired). */
  isSessionActive(sessionId: string): Promise<boolean> {
    return this.#tokens.isFamilyActive(sessionId, this.#now());
  }

  /**
   * Verifies an access token locally: EdDSA signature by a key of the key set (by `kid`),
   * type, issuer, audience, expiry and claim shapes. Never rejects for a bad token.
   */
  async verifyAccessToken(token: string): Promise<VerifyResult> {
    const result = await verifyAccessToken(token, this.#keys, {
      issuer: this.#issuer,
      audience: this.#audience,
      clockToleranceSec: this.#clockToleranceSec,
      now: this.#now,
    });
    if (result.ok && await this.#revocations?.isRevoked(result.claims.sessionId)) {
      return { ok: false, reason: "revoked" };
    }
    return result;
  }

  async #pair(userId: string, sessionId: string, refreshToken: string): Promise<TokenPair> {
    const { token } = await signAccessToken(
      this.#keys.current,
      { userId, sessionId, ttlSec: this.#accessTtlSec },
      { issuer: this.#issuer, audience: this.#audience, now: this.#now },
    );
    return {
      accessToken: token,
      refreshToken,
      expiresIn: this.#accessTtlSec,
      refreshExpiresIn: this.#refreshTtlSec,
      userId,
      sessionId,
    };
  }

  /**
   * One scrypt run, as long as checking a real password: a verify against a dummy hash of a
   * random password, or on the first call the hashing that creates that dummy.
   */
  async #dummyWork(password: string): Promise<void> {
    if (this.#dummyHash === undefined) {
      this.#dummyHash = hashPassword(crypto.randomUUID(), this.#passwordCost);
      await this.#dummyHash;
      return;
    }
    await verifyPassword(password, await this.#dummyHash);
  }
}

function seconds(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(
      `Invalid AuthService option: ${name} ${value} is not an integer >= ${min}`,
    );
  }
  return value;
}

function taken(username: string): AuthFailure<"username_taken"> {
  return { ok: false, code: "username_taken", message: `Username ${username} is already taken` };
}

function badCredentials(): AuthFailure<"bad_credentials"> {
  return { ok: false, code: "bad_credentials", message: "Wrong username or password" };
}

const TOKEN_MESSAGES = {
  token_unknown: "Refresh token is not valid; log in again",
  token_expired: "Refresh token has expired; log in again",
  token_reused: "Refresh token was already used or its session has ended; log in again",
} as const;

function tokenFailure(code: keyof typeof TOKEN_MESSAGES): AuthFailure<typeof code> {
  return { ok: false, code, message: TOKEN_MESSAGES[code] };
}
