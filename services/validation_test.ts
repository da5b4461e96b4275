import assert from "node:assert/strict";
import { validateDeviceId, validatePassword, validateUsername } from "./validation.ts";

Deno.test("validateUsername() accepts 3-32 chars of a-z, 0-9, _ . - in any case", () => {
  for (const name of ["abc", "Alice", "bob_99", "x.y-z", "0day", "a".repeat(32)]) {
    assert.deepEqual(validateUsername(name), { ok: true }, name);
  }
});

Deno.test("validateUsername() explains each rejection", () => {
  const cases: [string, RegExp][] = [
    ["ab", /3 to 32 characters/],
    ["a".repeat(33), /3 to 32 characters/],
    ["", /3 to 32 characters/],
    ["bad name", /only letters/],
    ["émile", /only letters/],
    ["a@b.c", /only letters/],
    ["_alice", /start with a letter or a digit/],
    [".alice", /start with a letter or a digit/],
  ];
  for (const [name, message] of cases) {
    const result = validateUsername(name);
    assert.equal(result.ok, false, name);
    assert.match(!result.ok ? result.message : "", message, name);
  }
});

Deno.test("validatePassword() accepts 8-128 code points, spaces and Unicode included", () => {
  for (
    const pw of [
      "12345678",
      "correct horse battery",
      "пароль-пароль",
      "😀".repeat(8),
      "x".repeat(128),
    ]
  ) {
    assert.deepEqual(validatePassword(pw), { ok: true }, pw);
  }
});

Deno.test("validatePassword() rejects short and long passwords with clear messages", () => {
  assert.deepEqual(validatePassword("1234567"), {
    ok: false,
    message: "Password must be at least 8 characters long",
  });
  assert.deepEqual(validatePassword("x".repeat(129)), {
    ok: false,
    message: "Password must be at most 128 characters long",
  });
  // Seven emoji are 14 UTF-16 units but 7 characters.
  assert.equal(validatePassword("😀".repeat(7)).ok, false);
});

Deno.test("validateDeviceId() accepts labels and rejects empty, long or control characters", () => {
  assert.equal(validateDeviceId("ios-3f2a").ok, true);
  assert.equal(validateDeviceId("Alice's iPhone").ok, true);
  assert.equal(validateDeviceId("").ok, false);
  assert.equal(validateDeviceId("x".repeat(129)).ok, false);
  assert.equal(validateDeviceId("a\nb").ok, false);
});
