import assert from "node:assert/strict";
import {
  DEFAULT_SCRYPT_COST,
  hashPassword,
  parsePasswordHash,
  type ScryptCost,
  verifyPassword,
} from "./password.ts";

// Cheap parameters keep the suite fast; one test checks the production default.
const FAST: ScryptCost = { N: 1024, r: 8, p: 1 };

Deno.test("hashPassword() encodes scrypt$N$r$p$salt$hash with a 16-byte salt and 32-byte key", async () => {
  const encoded = await hashPassword("correct horse", FAST);
  assert.match(encoded, /^scrypt\$1024\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  const parsed = parsePasswordHash(encoded);
  assert.equal(parsed.salt.length, 16);
  assert.equal(parsed.hash.length, 32);
});

Deno.test("hashPassword() uses N=16384, r=8, p=1 by default", async () => {
  const parsed = parsePasswordHash(await hashPassword("correct horse"));
  assert.deepEqual({ N: parsed.N, r: parsed.r, p: parsed.p }, { N: 16384, r: 8, p: 1 });
  assert.deepEqual(DEFAULT_SCRYPT_COST, { N: 16384, r: 8, p: 1 });
});

Deno.test("hashPassword() salts: one password hashes differently each time", async () => {
  assert.notEqual(
    await hashPassword("same password", FAST),
    await hashPassword("same password", FAST),
  );
});

Deno.test("verifyPassword() accepts the password and rejects others", async () => {
  const encoded = await hashPassword("correct horse", FAST);
  assert.equal(await verifyPassword("correct horse", encoded), true);
  assert.equal(await verifyPassword("correct horsE", encoded), false);
  assert.equal(await verifyPassword("", encoded), false);
});

Deno.test("verifyPassword() reads the cost from the stored hash", async () => {
  const encoded = await hashPassword("pw-with-other-cost", { N: 2048, r: 4, p: 2 });
  assert.ok(encoded.startsWith("scrypt$2048$4$2$"));
  assert.equal(await verifyPassword("pw-with-other-cost", encoded), true);
});

Deno.test("verifyPassword() matches NFC and NFD forms of one password", async () => {
  const nfc = "caf\u00e9 au lait";
  const nfd = "cafe\u0301 au lait";
  assert.equal(await verifyPassword(nfd, await hashPassword(nfc, FAST)), true);
});

Deno.test("parsePasswordHash() rejects malformed and out-of-bounds hashes", async () => {
  const good = await hashPassword("x", FAST);
  const [, , , , salt, hash] = good.split("$");
  const bad = [
    "",
    "plain",
    `bcrypt$1024$8$1$${salt}$${hash}`,
    `scrypt$1000$8$1$${salt}$${hash}`, // N not a power of two
    `scrypt$${2 ** 21}$8$1$${salt}$${hash}`, // N too large
    `scrypt$1024$0$1$${salt}$${hash}`,
    `scrypt$1024$8$99$${salt}$${hash}`,
    `scrypt$1024$8$1.5$${salt}$${hash}`,
    `scrypt$1024$8$1$$${hash}`,
    `scrypt$1024$8$1$${salt}$!!!`,
    `scrypt$1024$8$1$${salt}$AAAA`, // 3-byte key
    `${good}$extra`,
  ];
  for (const encoded of bad) {
    assert.throws(() => parsePasswordHash(encoded), RangeError, encoded);
  }
  await assert.rejects(verifyPassword("x", "garbage"), RangeError);
});

Deno.test("hashPassword() rejects an invalid cost", async () => {
  await assert.rejects(hashPassword("x", { N: 1000, r: 8, p: 1 }), RangeError);
  await assert.rejects(hashPassword("x", { N: 1024, r: 0, p: 1 }), RangeError);
});
