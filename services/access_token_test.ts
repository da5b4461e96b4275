import assert from "node:assert/strict";
import {
  base64url,
  CompactSign,
  type CryptoKey as JoseKey,
  exportJWK,
  generateKeyPair,
  type JWTPayload,
  SignJWT,
  UnsecuredJWT,
} from "jose";
import {
  type AccessTokenOptions,
  signAccessToken,
  verifyAccessToken,
  type VerifyFailure,
} from "./access_token.ts";
import { KeySet } from "./signing_keys.ts";

const T0 = 1_700_000_000_000;
const keys = await KeySet.generate();
const options = (now = T0) => ({
  issuer: "flash-im",
  audience: "flash-im",
  now: () => now,
  clockToleranceSec: 5,
});
const issued = (ttlSec = 900, opts: AccessTokenOptions = options()) =>
  signAccessToken(keys.current, { userId: "42", sessionId: "s-1", ttlSec }, opts);

/** A token with arbitrary header and claims, signed by `key` with the header's alg. */
function craft(
  overrides: {
    header?: Record<string, unknown>;
    payload?: JWTPayload;
    key?: JoseKey | Uint8Array;
  } = {},
): Promise<string> {
  const iat = T0 / 1000;
  const payload: JWTPayload = {
    sub: "42",
    sid: "s-1",
    jti: "j",
    iat,
    exp: iat + 900,
    iss: "flash-im",
    aud: "flash-im",
    ...overrides.payload,
  };
  const header = { alg: "EdDSA", kid: keys.current.kid, typ: "at+jwt", ...overrides.header };
  return new SignJWT(payload).setProtectedHeader(header as { alg: string })
    .sign(overrides.key ?? keys.current.privateKey);
}

async function reasonFor(token: string, now = T0): Promise<VerifyFailure | "ok"> {
  const result = await verifyAccessToken(token, keys, options(now));
  return result.ok ? "ok" : result.reason;
}

Deno.test("signAccessToken() output verifies to the same claims", async () => {
  const { token, claims } = await issued();
  assert.deepEqual(claims, {
    userId: "42",
    sessionId: "s-1",
    tokenId: claims.tokenId,
    issuedAt: T0,
    expiresAt: T0 + 900_000,
  });
  assert.deepEqual(await verifyAccessToken(token, keys, options()), { ok: true, claims });
  const [header] = token.split(".");
  assert.deepEqual(JSON.parse(new TextDecoder().decode(base64url.decode(header))), {
    alg: "EdDSA",
    kid: keys.current.kid,
    typ: "at+jwt",
  });
});

Deno.test("verifyAccessToken() reports expired past exp plus the clock tolerance", async () => {
  const { token } = await issued(60);
  assert.equal(await reasonFor(token, T0 + 64_000), "ok");
  assert.equal(await reasonFor(token, T0 + 66_000), "expired");
});

Deno.test("verifyAccessToken() reports bad_signature for a flipped signature byte", async () => {
  const [h, p, s] = (await issued()).token.split(".");
  const signature = base64url.decode(s);
  signature[10] ^= 0x01;
  assert.equal(await reasonFor(`${h}.${p}.${base64url.encode(signature)}`), "bad_signature");
});

Deno.test("verifyAccessToken() reports bad_signature for a changed payload", async () => {
  const [h, , s] = (await issued()).token.split(".");
  const forged = base64url.encode(
    JSON.stringify({
      sub: "1",
      sid: "s",
      jti: "j",
      iat: T0 / 1000,
      exp: T0 / 1000 + 900,
      iss: "flash-im",
      aud: "flash-im",
    }),
  );
  assert.equal(await reasonFor(`${h}.${forged}.${s}`), "bad_signature");
});

Deno.test("verifyAccessToken() reports bad_signature for another key claiming our kid", async () => {
  const other = await generateKeyPair("EdDSA", { crv: "Ed25519" });
  assert.equal(await reasonFor(await craft({ key: other.privateKey })), "bad_signature");
});

Deno.test("verifyAccessToken() reports wrong_algorithm for HS256, ES256 and none", async () => {
  assert.equal(
    await reasonFor(await craft({ header: { alg: "HS256" }, key: new Uint8Array(32) })),
    "wrong_algorithm",
  );
  // Even with an unknown kid, the algorithm is refused first.
  assert.equal(
    await reasonFor(await craft({ header: { alg: "HS256", kid: "zzz" }, key: new Uint8Array(32) })),
    "wrong_algorithm",
  );
  const es = await generateKeyPair("ES256");
  assert.equal(
    await reasonFor(await craft({ header: { alg: "ES256" }, key: es.privateKey })),
    "wrong_algorithm",
  );
  const none = new UnsecuredJWT({ sub: "42", sid: "s", jti: "j", iss: "flash-im", aud: "flash-im" })
    .setIssuedAt(T0 / 1000).setExpirationTime(T0 / 1000 + 900).encode();
  assert.equal(await reasonFor(none), "wrong_algorithm");
});

Deno.test("verifyAccessToken() reports unknown_key for an unknown or missing kid", async () => {
  const other = await generateKeyPair("EdDSA", { crv: "Ed25519" });
  assert.equal(
    await reasonFor(await craft({ header: { kid: "other" }, key: other.privateKey })),
    "unknown_key",
  );
  assert.equal(await reasonFor(await craft({ header: { kid: undefined } })), "unknown_key");
});

Deno.test("verifyAccessToken() reports malformed for text that is not a token", async () => {
  // Validly signed, but the payload is not a JSON object.
  const notJson = await new CompactSign(new TextEncoder().encode("hello"))
    .setProtectedHeader({ alg: "EdDSA", kid: keys.current.kid, typ: "at+jwt" })
    .sign(keys.current.privateKey);
  for (const text of ["", "garbage", "a.b.c", "a.b", "...", notJson, "x".repeat(5000), "é.é.é"]) {
    assert.equal(await reasonFor(text), "malformed", text.slice(0, 40));
  }
  assert.equal(await reasonFor(undefined as unknown as string), "malformed");
});

Deno.test("verifyAccessToken() reports invalid_claims for audience, issuer, type and claim shape", async () => {
  const cases: [string, Parameters<typeof craft>[0]][] = [
    ["wrong audience", { payload: { aud: "other-app" } }],
    ["wrong issuer", { payload: { iss: "evil" } }],
    ["wrong typ", { header: { typ: "JWT" } }],
    ["no typ", { header: { typ: undefined } }],
    ["missing sid", { payload: { sid: undefined } }],
    ["missing jti", { payload: { jti: undefined } }],
    ["missing exp", { payload: { exp: undefined } }],
    ["non-numeric sub", { payload: { sub: "alice" } }],
    ["numeric sid", { payload: { sid: 7 as unknown as string } }],
  ];
  for (const [label, overrides] of cases) {
    assert.equal(await reasonFor(await craft(overrides)), "invalid_claims", label);
  }
});

Deno.test("verifyAccessToken() accepts a token signed by a retired key still in the set", async () => {
  const old = await KeySet.generate();
  const oldJwk = await exportJWK(old.current.privateKey).catch(() => undefined);
  assert.equal(oldJwk, undefined, "private keys are not extractable");
  const rotated = await KeySet.fromJwks(
    await exportJWK(
      (await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true })).privateKey,
    ),
    old.publicJwks().keys,
  );
  const { token } = await signAccessToken(
    old.current,
    { userId: "7", sessionId: "s", ttlSec: 60 },
    options(),
  );
  assert.equal((await verifyAccessToken(token, rotated, options())).ok, true);
});

Deno.test("verifyAccessToken() never throws on mutated tokens", async () => {
  const { token } = await issued();
  const alphabet = 'ABCxyz019-_.=+/ {}"';
  for (let i = 0; i < 300; i++) {
    const chars = [...token];
    for (let n = 0; n < 1 + (i % 4); n++) {
      chars[Math.floor(Math.random() * chars.length)] =
        alphabet[Math.floor(Math.random() * alphabet.length)];
    }
    const result = await verifyAccessToken(chars.join(""), keys, options());
    assert.equal(typeof result.ok, "boolean");
  }
});
