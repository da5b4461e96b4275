/**
 * Reconnect delays: exponential backoff with jitter. Private to `client/`.
 *
 * @module
 */

/** How reconnect delays grow. */
export interface BackoffPolicy {
  /** Delay before the first attempt, in ms. */
  readonly minDelayMs: number;
  /** Largest delay, in ms (jitter never goes past it). */
  readonly maxDelayMs: number;
  /** Relative spread, 0-1: 0.2 gives a delay within ±20 % of the exponential value. */
  readonly jitter: number;
}

/**
 * The delay before reconnect attempt `attempt` (0 = the first after a drop):
 * `min(maxDelayMs, minDelayMs * 2^attempt)`, spread by ±`jitter`, clamped to
 * `[0, maxDelayMs]`. `random` returns a number in [0, 1) (injectable for tests).
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const base = Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** Math.min(attempt, 52));
  const spread = base * policy.jitter * (2 * random() - 1);
  return Math.round(Math.min(policy.maxDelayMs, Math.max(0, base + spread)));
}
