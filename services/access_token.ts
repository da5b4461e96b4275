/**
 * Access tokens: short-lived EdDSA (Ed25519) JWTs, verified locally from public keys.
 *
 * Header `{ alg: "EdDSA", kid, typ: "at+jwt" }` (RFC 9068's type, so no other JWT of ours
 * can pass as an access token); claims `sub` (user id, decimal string), `sid` (session =
 * refresh token family), `jti`, `iat`, `exp`, `iss`, `aud`.
 *
 * @module
 */

import { errors, jwtVerify, SignJWT } from "jose";

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

/** Sentinel thrown by the key resolver; never escapes this module. */
class UnknownKidError extends Error {
  override name = "UnknownKidError";
}

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
 * @throws only on a programming or configuration error (a non-jose failure); every way a
 *   presented token can be bad resolves to `{ ok: false, reason }`.
 */
export async function verifyAccessToken(
  token: string,
  keys: KeyResolver,
  options: VerifyAccessTokenOptions,
): Promise<VerifyResult> {
  if (typeof token !== "string" || token.length > MAX_TOKEN_LENGTH) return fail("malformed");
  try {
    const { payload } = await jwtVerify(token, (header) => {
      const key = typeof header.kid === "string" ? keys.resolve(header.kid) : undefined;
      if (key === undefined) throw new UnknownKidError();
      return key;
    }, {
      algorithms: ["EdDSA"],
      typ: ACCESS_TOKEN_TYPE,
      issuer: options.issuer,
      audience: options.audience,
      requiredClaims: ["sub", "sid", "jti", "iat", "exp"],
      currentDate: new Date(options.now()),
      clockTolerance: options.clockToleranceSec,
    });
    const { sub, sid, jti, iat, exp } = payload;
    if (
      typeof sub !== "string" || !USER_ID.test(sub) || typeof sid !== "string" || sid === "" ||
      typeof jti !== "string" || typeof iat !== "number" || typeof exp !== "number"
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
  } catch (error) {
    return fail(reasonOf(error));
  }
}

function reasonOf(error: unknown): VerifyFailure {
  if (error instanceof UnknownKidError) return "unknown_key";
  if (error instanceof errors.JWTExpired) return "expired";
  if (error instanceof errors.JWTClaimValidationFailed) return "invalid_claims";
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return "wrong_algorithm";
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return "bad_signature";
  // JWSInvalid, JWTInvalid and the rest: the input does not parse as a token.
  if (error instanceof errors.JOSEError) return "malformed";
  throw error;
}

function fail(reason: VerifyFailure): VerifyResult {
  return { ok: false, reason };
}
