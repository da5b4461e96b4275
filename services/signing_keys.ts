/**
 * Ed25519 signing keys for access tokens: a {@link KeySet} (the current private key plus
 * public keys that still verify), loaded from or created in a key directory.
 *
 * Directory layout (created on first start in embedded mode; never committed):
 * - `signing-key.jwk.json`: the current private JWK, mode 0600. Created atomically: written
 *   to a temporary name, then hard-linked into place, which fails if the file exists, so of
 *   several processes starting at once exactly one key wins and the others load it.
 * - `previous-keys.jwks.json` (optional): `{ "keys": [...] }`, public JWKs of retired keys
 *   that still verify tokens issued before a rotation. Private members there are ignored.
 *
 * Key ids are RFC 7638 JWK thumbprints (SHA-256). Private keys are imported non-extractable
 * and never appear in the public JWKS, in errors or in logs.
 *
 * @module
 */

import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from "jose";
import { join } from "node:path";
import { SigningKeyError } from "./errors.ts";

/** The file holding the current private key, inside the key directory. */
export const SIGNING_KEY_FILE = "signing-key.jwk.json";
/** The optional file of retired public keys, inside the key directory. */
export const PREVIOUS_KEYS_FILE = "previous-keys.jwks.json";

/** A public key as published in the JWKS. */
export interface PublicJwk {
  readonly kty: "OKP";
  readonly crv: "Ed25519";
  readonly x: string;
  readonly kid: string;
  readonly alg: "EdDSA";
  readonly use: "sig";
}

/** The body of `/.well-known/jwks.json`. */
export interface Jwks {
  readonly keys: readonly PublicJwk[];
}

/**
 * The keys of one issuer: `current` signs, every key in {@link KeySet.publicJwks} verifies.
 *
 * @example
 * ```ts
 * const keys = await loadOrCreateSigningKeys("./data/keys");
 * const jwks = keys.publicJwks(); // serve at /.well-known/jwks.json
 * const key = keys.resolve(kidFromTokenHeader); // CryptoKey | undefined
 * ```
 */
export class KeySet {
  /** The signing key: `privateKey` is non-extractable. */
  readonly current: { readonly kid: string; readonly privateKey: CryptoKey };
  #verifiers: ReadonlyMap<string, CryptoKey>;
  #jwks: Jwks;

  private constructor(
    current: { kid: string; privateKey: CryptoKey },
    verifiers: Map<string, CryptoKey>,
    jwks: PublicJwk[],
  ) {
    this.current = Object.freeze(current);
    this.#verifiers = verifiers;
    this.#jwks = Object.freeze({ keys: Object.freeze(jwks.map((k) => Object.freeze(k))) });
  }

  /**
   * Builds a key set from the current private JWK and retired public JWKs (a retired key
   * equal to the current one is skipped).
   *
   * @throws {SigningKeyError} when a JWK is not an Ed25519 key.
   */
  static async fromJwks(privateJwk: JWK, previous: readonly JWK[] = []): Promise<KeySet> {
    const current = publicPart(privateJwk, "current key");
    if (typeof privateJwk.d !== "string" || !isKeyBytes(privateJwk.d)) {
      throw new SigningKeyError(
        "Cannot load signing key: the current key has no valid private part",
      );
    }
    const privateKey = await importOrThrow(
      { kty: "OKP", crv: "Ed25519", x: current.x, d: privateJwk.d },
      "current key",
    );
    const verifiers = new Map<string, CryptoKey>();
    const jwks: PublicJwk[] = [];
    for (const [i, jwk] of [current, ...previous].entries()) {
      const pub = i === 0 ? current : publicPart(jwk, `previous key ${i}`);
      const kid = await calculateJwkThumbprint({ kty: pub.kty, crv: pub.crv, x: pub.x }, "sha256");
      if (verifiers.has(kid)) continue;
      verifiers.set(
        kid,
        await importOrThrow({ kty: "OKP", crv: "Ed25519", x: pub.x }, `key ${kid}`),
      );
      jwks.push({ kty: "OKP", crv: "Ed25519", x: pub.x, kid, alg: "EdDSA", use: "sig" });
    }
    return new KeySet({ kid: jwks[0].kid, privateKey }, verifiers, jwks);
  }

  /** A fresh in-memory key set (tests, throwaway nodes); nothing is written anywhere. */
  static async generate(): Promise<KeySet> {
    return KeySet.fromJwks(await generatePrivateJwk());
  }

  /** The public keys, as the JWKS document to serve. Frozen; contains no private part. */
  publicJwks(): Jwks {
    return this.#jwks;
  }

  /** The verification key with this `kid`, or `undefined` when the set has none. */
  resolve(kid: string): CryptoKey | undefined {
    return this.#verifiers.get(kid);
  }

  /** Serializes as the public JWKS, so logging the set cannot leak a private key. */
  toJSON(): Jwks {
    return this.#jwks;
  }
}

/**
 * Loads the key set from `dir`, first creating the directory (mode 0700) and a new Ed25519
 * key file (mode 0600) when there is none. Safe to call from several processes at once:
 * they all end up with the same key.
 *
 * @throws {SigningKeyError} when a key file is unreadable, malformed, or readable by group
 *   or others (fix it with `chmod 600`; the key is not silently replaced).
 */
export async function loadOrCreateSigningKeys(dir: string): Promise<KeySet> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, SIGNING_KEY_FILE);
  if (!(await exists(path))) await createKeyFile(dir, path);
  const current = await readJson(path);
  const info = await Deno.stat(path);
  // `mode` is null where the platform has no Unix permissions.
  if (info.mode !== null && (info.mode & 0o077) !== 0) {
    const mode = (info.mode & 0o777).toString(8);
    throw new SigningKeyError(
      `Cannot load signing key ${path}: mode ${mode} lets other users read it; run chmod 600`,
    );
  }
  const previousPath = join(dir, PREVIOUS_KEYS_FILE);
  let previous: JWK[] = [];
  if (await exists(previousPath)) {
    const doc = await readJson(previousPath) as { keys?: unknown };
    if (!Array.isArray(doc.keys)) {
      throw new SigningKeyError(`Cannot load ${previousPath}: expected { "keys": [...] }`);
    }
    previous = doc.keys;
  }
  return KeySet.fromJwks(current as JWK, previous);
}

async function createKeyFile(dir: string, path: string): Promise<void> {
  const jwk = await generatePrivateJwk();
  const kid = await calculateJwkThumbprint({ kty: jwk.kty, crv: jwk.crv, x: jwk.x }, "sha256");
  const temp = join(dir, `.${SIGNING_KEY_FILE}.${crypto.randomUUID()}.tmp`);
  try {
    {
      using file = await Deno.open(temp, { write: true, createNew: true, mode: 0o600 });
      const bytes = new TextEncoder().encode(
        `${JSON.stringify({ ...jwk, kid, alg: "EdDSA", use: "sig" }, null, 2)}\n`,
      );
      for (let written = 0; written < bytes.length;) {
        written += await file.write(bytes.subarray(written));
      }
      await file.sync();
    }
    // The umask can only remove bits, but be explicit: the file must not be shared.
    await Deno.chmod(temp, 0o600);
    // link() never replaces an existing file: a loser of the race keeps the winner's key.
    await Deno.link(temp, path);
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) {
      throw new SigningKeyError(`Cannot create signing key ${path}`, { cause: error });
    }
  } finally {
    await Deno.remove(temp).catch(() => {});
  }
}

async function generatePrivateJwk(): Promise<JWK> {
  const { privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
  return exportJWK(privateKey);
}

function publicPart(jwk: JWK, what: string): { kty: "OKP"; crv: "Ed25519"; x: string } {
  if (
    typeof jwk !== "object" || jwk === null || jwk.kty !== "OKP" || jwk.crv !== "Ed25519" ||
    typeof jwk.x !== "string" || !isKeyBytes(jwk.x)
  ) {
    throw new SigningKeyError(`Cannot load signing key: the ${what} is not an Ed25519 JWK`);
  }
  return { kty: "OKP", crv: "Ed25519", x: jwk.x };
}

/** 32 bytes in unpadded base64url is 43 characters. */
function isKeyBytes(text: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(text);
}

async function importOrThrow(jwk: JWK, what: string): Promise<CryptoKey> {
  try {
    // Non-extractable: even code holding the CryptoKey cannot export the private part.
    return await importJWK(jwk, "EdDSA", { extractable: false }) as CryptoKey;
  } catch (error) {
    // The cause is dropped on purpose: it may quote key material.
    throw new SigningKeyError(
      `Cannot import signing key: the ${what} is invalid (${(error as Error).name})`,
    );
  }
}

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new SigningKeyError(`Cannot read signing key file ${path}`, { cause: error });
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new SigningKeyError(`Cannot load signing key file ${path}: it is not valid JSON`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw new SigningKeyError(`Cannot inspect ${path}`, { cause: error });
  }
}
