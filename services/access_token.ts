/**
 * Access tokens: short-lived EdDSA (Ed25519) JWTs, verified locally from public keys.
 *
 * Header `{ alg: "EdDSA", kid, typ: "at+jwt" }` (RFC 9068's type, so no other JWT of ours
 * can pass as an access token); claims `sub` (user id, decimal string), `sid` (session =
 * refresh token family), `jti`, `iat`, `exp`, `iss`, `aud`.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { KeyObject, verify } from "node:crypto";
import { SignJWT } from "jose";

/** Why a token was refused, as an `as const` enum. */
export const VerifyFailure = {
  /** Not a compact JWS/JWT at all, or its parts do not decode. */
  Malformed: "malformed",
  /** Validly signed but past `exp` (beyond the clock tolerance). */
  Expired: "expired",
  /** Signed by a known key id, but the signature does not match. */
  BadSignature: "bad_signature",
  /** `alg` is not EdDSA (HS256, ES256, none, ...). */
  WrongAlgorithm: "wrong_algorithm",
  /** No `kid`, or a `kid` this key set does not know. */
  UnknownKey: "unknown_key",
  /** Issuer, audience, type or a required claim is wrong or missing. */
  InvalidClaims: "invalid_claims",
  /** Valid, but its session was revoked (logout, refresh-token reuse). */
  Revoked: "revoked",
} as const;
/** One of {@link VerifyFailure}'s values. */
export type VerifyFailure = typeof VerifyFailure[keyof typeof VerifyFailure];

/** What a verified access token says. Times are ms since the epoch. */
export interface AccessClaims {
  /** `sub`: decimal string user id. */
  readonly userId: string;
  /** `sid`: the session (refresh token family) the token was issued for. */
  readonly sessionId: string;
  /** `jti`: unique per token. */
  readonly tokenId: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
}

/** Outcome of {@link verifyAccessToken}: refusals are values, never throws. */
export type VerifyResult =
  | { readonly ok: true; readonly claims: AccessClaims }
  | { readonly ok: false; readonly reason: VerifyFailure };

/** Looks up a verification key by `kid` (a `KeySet` is one). */
export interface KeyResolver {
  resolve(kid: string): CryptoKey | undefined;
}

/** Who issues tokens for whom, and by which clock. */
export interface AccessTokenOptions {
  readonly issuer: string;
  readonly audience: string;
  /** Current time in ms since the epoch. */
  readonly now: () => number;
}

/** Options of {@link verifyAccessToken}. */
export interface VerifyAccessTokenOptions extends AccessTokenOptions {
  /** Allowed clock skew between nodes when checking `exp`, in seconds. */
  readonly clockToleranceSec: number;
}

/** Header `typ` of access tokens (RFC 9068). */
export const ACCESS_TOKEN_TYPE = "at+jwt";
/** Longer input is refused unparsed: a real token is ~350 characters. */
const MAX_TOKEN_LENGTH = 4096;
const USER_ID = /^[1-9][0-9]{0,18}$/;

/** Signs an access token for `userId` in session `sessionId`, valid for `ttlSec`. */
export async function signAccessToken(
  key: { readonly kid: string; readonly privateKey: CryptoKey },
  subject: { readonly userId: string; readonly sessionId: string; readonly ttlSec: number },
  options: AccessTokenOptions,
): Promise<{ token: string; claims: AccessClaims }> {
  const iat = Math.floor(options.now() / 1000);
  const exp = iat + subject.ttlSec;
  const tokenId = crypto.randomUUID();
  const token = await new SignJWT({ sid: subject.sessionId })
    .setProtectedHeader({ alg: "EdDSA", kid: key.kid, typ: ACCESS_TOKEN_TYPE })
    .setSubject(subject.userId)
    .setJti(tokenId)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .sign(key.privateKey);
  return {
    token,
    claims: {
      userId: subject.userId,
      sessionId: subject.sessionId,
      tokenId,
      issuedAt: iat * 1000,
      expiresAt: exp * 1000,
    },
  };
}

/**
 * Verifies signature (EdDSA only, key chosen by `kid`), type, issuer, audience and expiry,
 * and that `sub`, `sid`, `jti`, `iat` and `exp` are present and well-formed. Revocation is
 * not checked here (see `AuthService.isSessionActive`).
 *
 * The compact JWS is checked here with `node:crypto`'s synchronous Ed25519 verify rather
 * than jose's `jwtVerify`: every connection's handshake pays this, and WebCrypto's async
 * verify costs about twice as much CPU in Deno (plus a blocking-pool thread hop). The checks
 * and their order follow jose's: algorithm before key, signature before claims.
 *
 * @throws never for a bad token: every way a presented token can be bad resolves to
 *   `{ ok: false, reason }`.
 */
export function verifyAccessToken(
  token: string,
  keys: KeyResolver,
  options: VerifyAccessTokenOptions,
): Promise<VerifyResult> {
  return Promise.resolve(verifySync(token, keys, options));
}

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();
const BASE64URL = /^[A-Za-z0-9_-]*$/;
/** Verification keys as `node:crypto` objects, per resolved `CryptoKey`. */
const keyObjects = new WeakMap<CryptoKey, KeyObject>();

function verifySync(
  token: string,
  keys: KeyResolver,
  options: VerifyAccessTokenOptions,
): VerifyResult {
  if (typeof token !== "string" || token.length > MAX_TOKEN_LENGTH) return fail("malformed");
  const parts = token.split(".");
  if (parts.length !== 3) return fail("malformed");
  const [headerText, payloadText, signatureText] = parts as [string, string, string];
  const header = decodeJson(headerText);
  if (header === undefined || "crit" in header) return fail("malformed");
  if (typeof header.alg !== "string") return fail("malformed");
  if (header.alg !== "EdDSA") return fail("wrong_algorithm");
  const cryptoKey = typeof header.kid === "string" ? keys.resolve(header.kid) : undefined;
  if (cryptoKey === undefined) return fail("unknown_key");
  if (!BASE64URL.test(signatureText)) return fail("malformed");
  let key = keyObjects.get(cryptoKey);
  if (key === undefined) keyObjects.set(cryptoKey, key = KeyObject.from(cryptoKey));
  const signature = Buffer.from(signatureText, "base64url");
  const signed = encoder.encode(`${headerText}.${payloadText}`);
  if (signature.length !== 64 || !verify(null, signed, key, signature)) {
    return fail("bad_signature");
  }
  const payload = decodeJson(payloadText);
  if (payload === undefined) return fail("malformed");
  if (!typeMatches(header.typ)) return fail("invalid_claims");
  const { sub, sid, jti, iat, exp, nbf, iss, aud } = payload;
  if (iss !== options.issuer) return fail("invalid_claims");
  if (!(aud === options.audience || (Array.isArray(aud) && aud.includes(options.audience)))) {
    return fail("invalid_claims");
  }
  if (typeof exp !== "number" || !Number.isFinite(exp)) return fail("invalid_claims");
  const now = Math.floor(options.now() / 1000);
  const tolerance = options.clockToleranceSec;
  if (exp <= now - tolerance) return fail("expired");
  if (nbf !== undefined && (typeof nbf !== "number" || nbf > now + tolerance)) {
    return fail("invalid_claims");
  }
  if (
    typeof sub !== "string" || !USER_ID.test(sub) || typeof sid !== "string" || sid === "" ||
    typeof jti !== "string" || jti === "" || typeof iat !== "number" || !Number.isFinite(iat)
  ) {
    return fail("invalid_claims");
  }
  return {
    ok: true,
    claims: {
      userId: sub,
      sessionId: sid,
      tokenId: jti,
      issuedAt: iat * 1000,
      expiresAt: exp * 1000,
    },
  };
}

/** A base64url JSON object, or `undefined` when it is not one. */
function decodeJson(text: string): Record<string, unknown> | undefined {
  if (text === "" || !BASE64URL.test(text)) return undefined;
  try {
    const value = JSON.parse(decoder.decode(Buffer.from(text, "base64url")));
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? value as Record<string, unknown>
      : undefined;
  } catch {
    return undefined;
  }
}

/** `typ` compared as jose does: case-insensitive, `application/` prefix optional. */
function typeMatches(typ: unknown): boolean {
  if (typeof typ !== "string") return false;
  const normalized = typ.toLowerCase().replace(/^application\//, "");
  return normalized === ACCESS_TOKEN_TYPE;
}

function fail(reason: VerifyFailure): VerifyResult {
  return { ok: false, reason };
}
