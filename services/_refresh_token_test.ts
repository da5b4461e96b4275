import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { hashRefreshToken, newRefreshToken } from "./_refresh_token.ts";

Deno.test("newRefreshToken() draws 32 random bytes as base64url and hashes them", () => {
  const a = newRefreshToken();
  const b = newRefreshToken();
  assert.match(a.token, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(a.token, b.token);
  assert.equal(a.tokenHash, createHash("sha256").update(a.token).digest("hex"));
  assert.equal(hashRefreshToken(a.token), a.tokenHash);
});

Deno.test("hashRefreshToken() refuses values that cannot be refresh tokens", () => {
  for (const value of ["", "short", "x".repeat(44), `${"x".repeat(42)}=`, `${"x".repeat(42)}+`]) {
    assert.equal(hashRefreshToken(value), undefined, value);
  }
});
