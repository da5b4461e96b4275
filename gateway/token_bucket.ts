/**
 * A token bucket: the per-connection request rate limit.
 *
 * @module
 */

/**
 * Allows `ratePerSec` requests per second on average with bursts up to `burst`. Time is
 * passed in, so the bucket holds two numbers and no timer.
 *
 * @example
 * ```ts
 * const bucket = new TokenBucket({ ratePerSec: 10, burst: 20 }, 0);
 * bucket.take(0); // true, 19 left
 * ```
 */
export class TokenBucket {
  readonly ratePerSec: number;
  readonly burst: number;
  #tokens: number;
  #at: number;

  /** @throws {RangeError} if the rate or burst is not positive. */
  constructor(options: { ratePerSec: number; burst: number }, now: number) {
    if (!(options.ratePerSec > 0 && Number.isFinite(options.ratePerSec))) {
      throw new RangeError(`Invalid rate limit: ${options.ratePerSec} requests/s is not positive`);
    }
    if (!(options.burst >= 1 && Number.isFinite(options.burst))) {
      throw new RangeError(`Invalid rate limit burst: ${options.burst} is less than 1`);
    }
    this.ratePerSec = options.ratePerSec;
    this.burst = options.burst;
    this.#tokens = options.burst;
    this.#at = now;
  }

  /** Takes one token if there is one at time `now` (ms). */
  take(now: number): boolean {
    const elapsed = Math.max(0, now - this.#at);
    this.#at = Math.max(this.#at, now);
    this.#tokens = Math.min(this.burst, this.#tokens + (elapsed * this.ratePerSec) / 1000);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Milliseconds until the next token, for a retry-after hint. */
  retryAfterMs(): number {
    return this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) * 1000) / this.ratePerSec);
  }
}
