/**
 * Refresh token values: 32 random bytes in unpadded base64url (43 characters). Only their
 * SHA-256 (hex) is ever stored, so a leaked database cannot be replayed.
 *
 * @module
 */

import { createHash, randomBytes } from "node:crypto";

/** A new token for the client and the hash to store. */
export interface RefreshTokenPair {
  readonly token: string;
  readonly tokenHash: string;
}

const TOKEN_FORMAT = /^[A-Za-z0-9_-]{43}$/;

/** Draws a new random refresh token. */
export function newRefreshToken(): RefreshTokenPair {
  const token = randomBytes(32).toString("base64url");
  return { token, tokenHash: sha256Hex(token) };
}

/**
 * The stored form of a token a client presents, or `undefined` when it cannot be one of
 * ours (wrong length or alphabet), which saves a store round trip.
 */
export function hashRefreshToken(token: string): string | undefined {
  return typeof token === "string" && TOKEN_FORMAT.test(token) ? sha256Hex(token) : undefined;
}

function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
