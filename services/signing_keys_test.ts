import assert from "node:assert/strict";
import { join } from "node:path";
import {
  calculateJwkThumbprint,
  CompactSign,
  compactVerify,
  exportJWK,
  generateKeyPair,
} from "jose";
import {
  KeySet,
  loadOrCreateSigningKeys,
  PREVIOUS_KEYS_FILE,
  SIGNING_KEY_FILE,
} from "./signing_keys.ts";
import { SigningKeyError } from "./errors.ts";

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "flash-im-keys-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function roundTrip(keys: KeySet, kid = keys.current.kid): Promise<boolean> {
  const jws = await new CompactSign(new TextEncoder().encode("hi"))
    .setProtectedHeader({ alg: "EdDSA", kid: keys.current.kid })
    .sign(keys.current.privateKey);
  const key = keys.resolve(kid);
  if (!key) return false;
  return compactVerify(jws, key).then(() => true, () => false);
}

Deno.test("loadOrCreateSigningKeys() creates a 0600 private JWK in a 0700 directory", async () => {
  await withTempDir(async (root) => {
    const dir = join(root, "keys");
    const keys = await loadOrCreateSigningKeys(dir);
    assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
    const path = join(dir, SIGNING_KEY_FILE);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    const jwk = JSON.parse(await Deno.readTextFile(path));
    assert.equal(jwk.kty, "OKP");
    assert.equal(jwk.crv, "Ed25519");
    assert.equal(typeof jwk.d, "string");
    assert.equal(jwk.kid, keys.current.kid);
    assert.equal(
      keys.current.kid,
      await calculateJwkThumbprint({ kty: "OKP", crv: "Ed25519", x: jwk.x }),
    );
    assert.equal(keys.current.privateKey.extractable, false);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [SIGNING_KEY_FILE]);
  });
});

Deno.test("loadOrCreateSigningKeys() reuses the existing key", async () => {
  await withTempDir(async (dir) => {
    const first = await loadOrCreateSigningKeys(dir);
    const before = await Deno.readTextFile(join(dir, SIGNING_KEY_FILE));
    const second = await loadOrCreateSigningKeys(dir);
    assert.equal(second.current.kid, first.current.kid);
    assert.equal(await Deno.readTextFile(join(dir, SIGNING_KEY_FILE)), before);
    assert.ok(await roundTrip(second));
  });
});

Deno.test("loadOrCreateSigningKeys() from racing loaders ends with one key", async () => {
  await withTempDir(async (dir) => {
    const sets = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateSigningKeys(dir)));
    assert.equal(new Set(sets.map((s) => s.current.kid)).size, 1);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [SIGNING_KEY_FILE]);
  });
});

Deno.test("loadOrCreateSigningKeys() refuses a key file readable by others", async () => {
  await withTempDir(async (dir) => {
    await loadOrCreateSigningKeys(dir);
    await Deno.chmod(join(dir, SIGNING_KEY_FILE), 0o644);
    await assert.rejects(loadOrCreateSigningKeys(dir), SigningKeyError, "mode 644");
  });
});

Deno.test("loadOrCreateSigningKeys() refuses a malformed key file without replacing it", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, SIGNING_KEY_FILE);
    for (
      const text of [
        "not json",
        JSON.stringify({ kty: "RSA" }),
        JSON.stringify({ kty: "OKP", crv: "Ed25519", x: "A".repeat(43) }),
      ]
    ) {
      await Deno.writeTextFile(path, text, { mode: 0o600 });
      await assert.rejects(loadOrCreateSigningKeys(dir), SigningKeyError);
      assert.equal(await Deno.readTextFile(path), text);
    }
  });
});

Deno.test("loadOrCreateSigningKeys() adds retired public keys for verification only", async () => {
  await withTempDir(async (dir) => {
    const old = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
    const oldPrivate = await exportJWK(old.privateKey);
    const oldKid = await calculateJwkThumbprint({ kty: "OKP", crv: "Ed25519", x: oldPrivate.x });
    // A private member in the retired file is ignored, never published.
    await Deno.writeTextFile(join(dir, PREVIOUS_KEYS_FILE), JSON.stringify({ keys: [oldPrivate] }));
    const keys = await loadOrCreateSigningKeys(dir);
    assert.deepEqual(keys.publicJwks().keys.map((k) => k.kid), [keys.current.kid, oldKid]);
    const jws = await new CompactSign(new TextEncoder().encode("old"))
      .setProtectedHeader({ alg: "EdDSA", kid: oldKid })
      .sign(old.privateKey);
    await compactVerify(jws, keys.resolve(oldKid)!);
    assert.equal(JSON.stringify(keys.publicJwks()).includes(oldPrivate.d!), false);
  });
});

Deno.test("loadOrCreateSigningKeys() refuses a malformed retired-keys file", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, PREVIOUS_KEYS_FILE), JSON.stringify([{ kty: "OKP" }]));
    await assert.rejects(loadOrCreateSigningKeys(dir), SigningKeyError);
    await Deno.writeTextFile(
      join(dir, PREVIOUS_KEYS_FILE),
      JSON.stringify({ keys: [{ kty: "OKP" }] }),
    );
    await assert.rejects(loadOrCreateSigningKeys(dir), SigningKeyError);
  });
});

Deno.test("KeySet.publicJwks() publishes only public members", async () => {
  const keys = await KeySet.generate();
  const jwks = keys.publicJwks();
  assert.equal(jwks.keys.length, 1);
  assert.deepEqual(Object.keys(jwks.keys[0]).sort(), ["alg", "crv", "kid", "kty", "use", "x"]);
  assert.deepEqual(jwks.keys[0], {
    ...jwks.keys[0],
    kty: "OKP",
    crv: "Ed25519",
    alg: "EdDSA",
    use: "sig",
  });
  assert.equal(JSON.stringify(keys), JSON.stringify(jwks));
  assert.ok(Object.isFrozen(jwks.keys[0]));
});

Deno.test("KeySet.resolve() finds keys by kid only", async () => {
  const keys = await KeySet.generate();
  assert.ok(await roundTrip(keys));
  assert.equal(keys.resolve("unknown"), undefined);
  assert.equal(await roundTrip(keys, "unknown"), false);
});

Deno.test("KeySet.fromJwks() rejects a current key without a private part", async () => {
  const { publicKey } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
  await assert.rejects(KeySet.fromJwks(await exportJWK(publicKey)), SigningKeyError);
});
