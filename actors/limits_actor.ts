/**
 * The embedded node's login buckets (`limits/main`, virtual): one in-memory rate limiter
 * per bucket kind, hosted by one actor so that every worker of the node draws from the same
 * bucket per key (HTTP requests land on any worker). On Redis the buckets are shared by
 * every node and this actor is not used.
 *
 * @module
 */

import type { Actor, ActorRef, ActorSystem } from "../runtime/mod.ts";
import { virtualRef } from "../runtime/mod.ts";
import type { RateLimitConfig, RateLimiter, RateLimitResult } from "../services/mod.ts";

/** The limits actor's kind name. */
export const LIMITS_KIND = "limits";

/** The node's one limits actor. */
export const LIMITS: ActorRef<LimitsMessage> = virtualRef<LimitsMessage>(LIMITS_KIND, "main");

/** Takes a token from `bucket`'s limiter for `key`; answered with its result. */
export type LimitsMessage = {
  readonly type: "take";
  readonly bucket: string;
  readonly key: string;
};

/** How long a worker waits for the limits actor before the attempt fails. */
const TAKE_TIMEOUT_MS = 2000;

/**
 * Creates the limits actor; `makeBuckets` gives each activation its limiters by bucket name
 * (in-memory ones). Its state is soft: if it is restarted, buckets start full again.
 */
export function limitsFactory(
  makeBuckets: () => ReadonlyMap<string, RateLimiter>,
): (ref: ActorRef) => Actor<LimitsMessage> {
  return () => {
    const limiters = makeBuckets();
    return {
      receive(message): Promise<RateLimitResult> {
        const limiter = limiters.get(message.bucket);
        if (limiter === undefined) {
          return Promise.reject(new RangeError(`No rate limit bucket ${message.bucket}`));
        }
        return limiter.take(message.key);
      },
      // Passivating would refill every bucket: a flood could wait for it.
      canPassivate: () => false,
    };
  };
}

/** A {@link RateLimiter}-shaped view of one bucket of the node's limits actor. */
export function limitsBucket(
  system: ActorSystem,
  bucket: string,
  config: RateLimitConfig,
): RateLimiter {
  return {
    config,
    take: (key) =>
      system.ask<RateLimitResult, LimitsMessage>(LIMITS, { type: "take", bucket, key }, {
        timeoutMs: TAKE_TIMEOUT_MS,
      }),
  };
}
