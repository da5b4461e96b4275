import assert from "node:assert/strict";
import { backoffDelay } from "./_backoff.ts";

const policy = { minDelayMs: 200, maxDelayMs: 30_000, jitter: 0.2 };

Deno.test("backoffDelay() doubles from minDelayMs up to maxDelayMs", () => {
  const middle = () => 0.5; // no spread
  assert.deepEqual(
    [0, 1, 2, 3, 7, 8, 100, 5000].map((a) => backoffDelay(a, policy, middle)),
    [200, 400, 800, 1600, 25_600, 30_000, 30_000, 30_000],
  );
});

Deno.test("backoffDelay() spreads by the jitter and stays within bounds", () => {
  assert.equal(backoffDelay(0, policy, () => 0), 160);
  assert.equal(backoffDelay(0, policy, () => 0.999999), 240);
  assert.equal(backoffDelay(20, policy, () => 0.999999), 30_000);
  assert.equal(backoffDelay(3, { ...policy, jitter: 0 }, Math.random), 1600);
  for (let i = 0; i < 1000; i++) {
    const delay = backoffDelay(i % 12, policy);
    assert.ok(delay >= 0 && delay <= 30_000);
  }
});
