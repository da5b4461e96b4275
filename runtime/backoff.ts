/**
 * Supervision restart policy: exponential backoff with jitter, bounded by an
 * intensity limit (at most `maxRestarts` restarts within `withinMs`), as in
 * Erlang/OTP supervisors.
 *
 * @module
 */

/** How a supervisor restarts a failing child. All durations in milliseconds. */
export interface RestartPolicy {
  /** Intensity: at most this many restarts ... (non-negative integer). */
  readonly maxRestarts: number;
  /** ... within this sliding window. */
  readonly withinMs: number;
  /** Delay before the first restart in a window. */
  readonly minBackoffMs: number;
  /** Cap of the doubling delay (before jitter). */
  readonly maxBackoffMs: number;
  /** Fraction in [0, 1]: a delay `d` becomes uniform in `d * (1 ± jitter)`. */
  readonly jitter: number;
}

/**
 * 5 restarts in 30 s, backoff from 100 ms doubling up to 10 s, ±20 % jitter.
 *
 * @example
 * ```ts
 * import { DEFAULT_RESTART_POLICY } from "./backoff.ts";
 *
 * const { maxRestarts, withinMs } = DEFAULT_RESTART_POLICY; // 5, 30_000
 * ```
 */
export const DEFAULT_RESTART_POLICY: RestartPolicy = Object.freeze({
  maxRestarts: 5,
  withinMs: 30_000,
  minBackoffMs: 100,
  maxBackoffMs: 10_000,
  jitter: 0.2,
});

/**
 * Builds a validated policy from {@linkcode DEFAULT_RESTART_POLICY} and overrides.
 *
 * @throws {RangeError} if a duration is negative or not finite, `maxRestarts`
 * is not a non-negative integer, `jitter` is outside [0, 1], or
 * `minBackoffMs` exceeds `maxBackoffMs`.
 * @example
 * ```ts
 * import { restartPolicy } from "./backoff.ts";
 *
 * const policy = restartPolicy({ maxRestarts: 3, withinMs: 10_000 });
 * ```
 */
export function restartPolicy(
  partial: Partial<RestartPolicy> = {},
): RestartPolicy {
  const policy = { ...DEFAULT_RESTART_POLICY, ...withoutUndefined(partial) };
  if (!Number.isSafeInteger(policy.maxRestarts) || policy.maxRestarts < 0) {
    throw new RangeError(
      `Cannot create restart policy: maxRestarts ${policy.maxRestarts} is not a non-negative integer`,
    );
  }
  for (const key of ["withinMs", "minBackoffMs", "maxBackoffMs"] as const) {
    const value = policy[key];
    if (!Number.isFinite(value) || value < 0) {
      throw new RangeError(
        `Cannot create restart policy: ${key} ${value} is not a finite non-negative number`,
      );
    }
  }
  if (policy.minBackoffMs > policy.maxBackoffMs) {
    throw new RangeError(
      `Cannot create restart policy: minBackoffMs ${policy.minBackoffMs} exceeds maxBackoffMs ${policy.maxBackoffMs}`,
    );
  }
  if (!(policy.jitter >= 0 && policy.jitter <= 1)) {
    throw new RangeError(
      `Cannot create restart policy: jitter ${policy.jitter} is not within 0..1`,
    );
  }
  return Object.freeze(policy);
}

/** What to do after a failure: restart after `delayMs`, or give up (escalate). */
export type RestartDecision =
  | {
    readonly restart: true;
    /** Wait this long before restarting. */
    readonly delayMs: number;
    /** 1 for the first failure in the window, then 2, ... */
    readonly attempt: number;
  }
  | {
    readonly restart: false;
    /** Failures in the window, this one included (at least `maxRestarts + 1`). */
    readonly failures: number;
  };

/**
 * Tracks one child's failures and decides, per failure, whether and when to
 * restart it. Pure: time is passed in, randomness is injectable.
 *
 * Failures older than `withinMs` (strictly) are forgotten, so a child that
 * stays healthy long enough gets fresh restarts with short delays again. Only
 * the latest `maxRestarts + 1` failures are kept: that is all a decision
 * needs, and it keeps memory bounded when a caller keeps failing a child.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { restartPolicy, RestartTracker } from "./backoff.ts";
 *
 * const tracker = new RestartTracker(restartPolicy({ maxRestarts: 2, jitter: 0 }));
 * assert.deepEqual(tracker.fail(0), { restart: true, delayMs: 100, attempt: 1 });
 * assert.deepEqual(tracker.fail(10), { restart: true, delayMs: 200, attempt: 2 });
 * assert.deepEqual(tracker.fail(20), { restart: false, failures: 3 });
 * ```
 */
export class RestartTracker {
  #policy: RestartPolicy;
  #random: () => number;
  /** Failure times, oldest first. */
  #failures: number[] = [];

  /**
   * Creates a tracker with no failures recorded.
   *
   * @param policy validated again, so a hand-built object is safe.
   * @param options.random uniform in [0, 1), default `Math.random`.
   * @throws {RangeError} if the policy is invalid (see {@linkcode restartPolicy}).
   */
  constructor(policy: RestartPolicy, options: { random?: () => number } = {}) {
    this.#policy = restartPolicy(policy);
    this.#random = options.random ?? Math.random;
  }

  /** Failures in the window as of the last {@linkcode RestartTracker.fail}. */
  get failuresInWindow(): number {
    return this.#failures.length;
  }

  /**
   * Records a failure at time `now` (ms, same clock as earlier calls) and
   * decides what to do about it.
   *
   * @throws {RangeError} if `now` is not finite.
   */
  fail(now: number): RestartDecision {
    if (!Number.isFinite(now)) {
      throw new RangeError(
        `Cannot record failure: now ${now} is not a finite number`,
      );
    }
    const { maxRestarts, withinMs, minBackoffMs, maxBackoffMs, jitter } = this.#policy;
    const failures = this.#failures;
    while (failures.length > 0 && now - failures[0] > withinMs) {
      failures.shift();
    }
    failures.push(now);
    if (failures.length > maxRestarts + 1) failures.shift();
    const attempt = failures.length;
    if (attempt > maxRestarts) return { restart: false, failures: attempt };
    // Capping the exponent keeps 2 ** n finite, so 0 * 2 ** n is never NaN.
    const base = minBackoffMs * 2 ** Math.min(attempt - 1, 1000);
    const capped = Math.min(maxBackoffMs, base);
    const factor = 1 + jitter * (2 * this.#random() - 1);
    return { restart: true, delayMs: Math.round(capped * factor), attempt };
  }

  /** Forgets all failures (e.g. after the child proved healthy). */
  reset(): void {
    this.#failures = [];
  }
}

function withoutUndefined<T extends object>(partial: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(partial).filter(([, value]) => value !== undefined),
  ) as Partial<T>;
}
