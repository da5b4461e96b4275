import assert from "node:assert/strict";
import { u64, u64ToBigInt, u64ToSafeInteger, u64ToString } from "./u64.ts";

const MAX = (1n << 64n) - 1n;

Deno.test("u64() accepts bigint, safe integers, decimal strings and Long-like objects", () => {
  for (const value of [0n, 1n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 63n, MAX]) {
    assert.equal(u64ToBigInt(u64(value)), value);
    assert.equal(u64ToString(u64(value.toString())), value.toString());
    assert.equal(u64(value).unsigned, true);
  }
  for (const value of [0, 1, 255, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER]) {
    assert.equal(u64ToBigInt(u64(value)), BigInt(value));
  }
  const cloned = structuredClone(u64(MAX)); // a plain { low, high, unsigned } after postMessage
  assert.equal(u64ToString(cloned), MAX.toString());
  assert.equal(u64ToString(u64(cloned)), MAX.toString());
});

Deno.test("u64() throws RangeError for values outside 0..2^64-1 or lossy input", () => {
  for (const bad of [-1, 1.5, NaN, Infinity, 2 ** 53, -1n, MAX + 1n, "", "-1", "01", "1e3", " 1"]) {
    assert.throws(() => u64(bad), RangeError, String(bad));
  }
  assert.throws(() => u64((MAX + 1n).toString()), RangeError);
});

Deno.test("u64 readers treat an absent field as 0", () => {
  assert.equal(u64ToBigInt(undefined), 0n);
  assert.equal(u64ToString(null), "0");
  assert.equal(u64ToSafeInteger(undefined), 0);
});

Deno.test("u64ToSafeInteger() returns undefined above Number.MAX_SAFE_INTEGER", () => {
  assert.equal(u64ToSafeInteger(u64(Number.MAX_SAFE_INTEGER)), Number.MAX_SAFE_INTEGER);
  assert.equal(u64ToSafeInteger(u64(2n ** 53n)), undefined);
  assert.equal(u64ToSafeInteger(u64(MAX)), undefined);
  assert.equal(u64ToSafeInteger(u64(4294967296 + 5)), 4294967301);
  assert.equal(u64ToSafeInteger(2 ** 53), undefined);
});
