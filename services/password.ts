/**
 * Password hashing with scrypt (`node:crypto`, run off the main thread), encoded as
 * `scrypt$N$r$p$saltB64$hashB64`. The cost parameters are read back from each stored hash,
 * so the default can be raised later without invalidating existing hashes.
 *
 * Passwords are NFKC-normalized before hashing (NIST SP 800-63B), so the same password typed
 * on two keyboards that compose characters differently still matches.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

/** scrypt cost parameters: `N` (CPU/memory, a power of two), `r` (block size), `p`. */
export interface ScryptCost {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/** Production cost: N=16384, r=8, p=1 (16 MiB, ~40-100 ms on this project's machines). */
export const DEFAULT_SCRYPT_COST: ScryptCost = Object.freeze({ N: 16_384, r: 8, p: 1 });

/** A stored hash, decoded by {@link parsePasswordHash}. */
export interface ParsedPasswordHash extends ScryptCost {
  readonly salt: Uint8Array;
  readonly hash: Uint8Array;
}

const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** Bounds on parameters read from storage: a tampered row must not exhaust memory. */
const LIMITS = { maxN: 2 ** 20, maxR: 32, maxP: 16, minBytes: 8, maxBytes: 64 } as const;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Hashes `password` with a fresh 16-byte salt into a 32-byte scrypt key.
 *
 * @throws {RangeError} when `cost` is outside the accepted bounds.
 * @example
 * ```ts
 * const stored = await hashPassword("correct horse battery");
 * await verifyPassword("correct horse battery", stored); // true
 * ```
 */
export async function hashPassword(
  password: string,
  cost: ScryptCost = DEFAULT_SCRYPT_COST,
): Promise<string> {
  checkScryptCost(cost);
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, KEY_BYTES, cost);
  return [
    "scrypt",
    cost.N,
    cost.r,
    cost.p,
    salt.toString("base64"),
    Buffer.from(hash).toString("base64"),
  ].join("$");
}

/**
 * Checks `password` against a hash from {@link hashPassword}, in constant time with respect
 * to the stored key.
 *
 * @throws {RangeError} when `encoded` is not a valid stored hash (corrupt data, not a wrong
 *   password: a wrong password resolves to `false`).
 */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const stored = parsePasswordHash(encoded);
  const actual = await derive(password, stored.salt, stored.hash.length, stored);
  return timingSafeEqual(actual, stored.hash);
}

/**
 * Decodes `scrypt$N$r$p$saltB64$hashB64`, checking every field and bound.
 *
 * @throws {RangeError} naming the first malformed field (never echoing the hash itself).
 */
export function parsePasswordHash(encoded: string): ParsedPasswordHash {
  const parts = encoded.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") {
    throw new RangeError("Cannot parse password hash: expected scrypt$N$r$p$salt$hash");
  }
  const [N, r, p] = parts.slice(1, 4).map((part, i) => {
    if (!/^[1-9][0-9]{0,7}$/.test(part)) {
      throw new RangeError(`Cannot parse password hash: ${"Nrp"[i]} is not a positive integer`);
    }
    return Number(part);
  });
  const cost = { N, r, p };
  checkScryptCost(cost);
  return { ...cost, salt: decodeField(parts[4], "salt"), hash: decodeField(parts[5], "hash") };
}

function decodeField(text: string, field: string): Uint8Array {
  const bytes = BASE64.test(text) ? Buffer.from(text, "base64") : Buffer.alloc(0);
  if (bytes.length < LIMITS.minBytes || bytes.length > LIMITS.maxBytes) {
    throw new RangeError(
      `Cannot parse password hash: ${field} is not base64 of ${LIMITS.minBytes}-${LIMITS.maxBytes} bytes`,
    );
  }
  return new Uint8Array(bytes);
}

/** Throws a `RangeError` naming the bad parameter when `cost` is out of bounds. */
export function checkScryptCost({ N, r, p }: ScryptCost): void {
  const powerOfTwo = Number.isInteger(N) && N >= 2 && (N & (N - 1)) === 0;
  if (!powerOfTwo || N > LIMITS.maxN) {
    throw new RangeError(`Invalid scrypt cost: N ${N} is not a power of two in 2..${LIMITS.maxN}`);
  }
  if (!Number.isInteger(r) || r < 1 || r > LIMITS.maxR) {
    throw new RangeError(`Invalid scrypt cost: r ${r} is not in 1..${LIMITS.maxR}`);
  }
  if (!Number.isInteger(p) || p < 1 || p > LIMITS.maxP) {
    throw new RangeError(`Invalid scrypt cost: p ${p} is not in 1..${LIMITS.maxP}`);
  }
}

function derive(
  password: string,
  salt: Uint8Array,
  length: number,
  { N, r, p }: ScryptCost,
): Promise<Uint8Array> {
  // OpenSSL needs 128 * r * (N + p) bytes plus a little; node's default cap is 32 MiB.
  const maxmem = 128 * r * (N + p + 2) + 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(password.normalize("NFKC"), salt, length, { N, r, p, maxmem }, (error, key) => {
      if (error) reject(error);
      else resolve(new Uint8Array(key));
    });
  });
}
