import assert from "node:assert/strict";
import { TokenBucket } from "./token_bucket.ts";

Deno.test("TokenBucket.take() allows a burst, then the steady rate", () => {
  const bucket = new TokenBucket({ ratePerSec: 10, burst: 3 }, 0);
  assert.deepEqual([0, 0, 0, 0].map((t) => bucket.take(t)), [true, true, true, false]);
  assert.equal(bucket.retryAfterMs(), 100);
  assert.equal(bucket.take(50), false);
  assert.equal(bucket.take(100), true);
  assert.equal(bucket.take(100), false);
  // A long pause refills only up to the burst.
  assert.deepEqual([10_000, 10_000, 10_000, 10_000].map((t) => bucket.take(t)), [
    true,
    true,
    true,
    false,
  ]);
});

Deno.test("TokenBucket refuses a clock that goes backwards without minting tokens", () => {
  const bucket = new TokenBucket({ ratePerSec: 1, burst: 1 }, 1000);
  assert.equal(bucket.take(1000), true);
  assert.equal(bucket.take(0), false);
  assert.equal(bucket.take(1000), false);
});

Deno.test("TokenBucket rejects invalid limits", () => {
  assert.throws(() => new TokenBucket({ ratePerSec: 0, burst: 1 }, 0), RangeError);
  assert.throws(() => new TokenBucket({ ratePerSec: 1, burst: 0.5 }, 0), RangeError);
});
