/**
 * The conversation actors' side of the idempotency cache (one per worker): lookups of
 * resent messages bounded by a deadline, puts of new acks bounded in number, warnings
 * rate-limited. The cache value is a small JSON object, e.g.
 * `{"conversationId":"d:1:2","seq":"7","messageId":"123","createdAt":1700000000000,
 * "digest":"1::2:0:..."}` (seq and messageId as decimal strings: they are 64-bit; digest is
 * the content's `contentDigest`). Private to `actors/`.
 *
 * @module
 */

import type { Logger } from "../runtime/mod.ts";
import type { DedupeCache } from "../services/mod.ts";
import type { CachedAck } from "./conversation_state.ts";

/** How the conversation actors use a {@link DedupeCache}. */
export interface AckCacheOptions {
  readonly cache: DedupeCache;
  /** How long a stored message's ack stays in the cache, ms. */
  readonly ttlMs: number;
  /** Longest a lookup may take before the send goes on as a miss. Default 500 ms. */
  readonly lookupTimeoutMs?: number;
  /** Most puts in flight across the factory's actors; more are skipped. Default 256. */
  readonly maxPutsInFlight?: number;
}

/** Default longest dedupe lookup: a resent message waits this long at most for the cache. */
const DEDUPE_LOOKUP_TIMEOUT_MS = 500;
/** Default bound of dedupe puts in flight per factory (one factory per worker). */
const DEDUPE_MAX_PUTS_IN_FLIGHT = 256;
/** At most one dedupe-cache warning per this many ms; the rest are counted. */
const DEDUPE_WARN_INTERVAL_MS = 10_000;

/**
 * The factory's side of the dedupe cache: lookups bounded by a deadline, puts bounded in
 * number, and warnings limited to one per {@link DEDUPE_WARN_INTERVAL_MS} (the cache is an
 * optimisation: its trouble must not flood the log).
 */
export class AckCache {
  readonly #cache: DedupeCache;
  readonly #ttlMs: number;
  readonly #timeoutMs: number;
  readonly #maxPuts: number;
  readonly #logger: Logger;
  readonly #now: () => number;
  #puts = 0;
  #skippedPuts = 0;
  #lastWarnAt = -Infinity;
  #suppressed = 0;

  /** @throws {RangeError} for a `ttlMs`, timeout or bound that is not positive. */
  constructor(
    options: AckCacheOptions,
    logger: Logger,
    now: () => number,
  ) {
    this.#cache = options.cache;
    this.#ttlMs = options.ttlMs;
    this.#timeoutMs = options.lookupTimeoutMs ?? DEDUPE_LOOKUP_TIMEOUT_MS;
    this.#maxPuts = options.maxPutsInFlight ?? DEDUPE_MAX_PUTS_IN_FLIGHT;
    for (const [name, value] of [["ttlMs", this.#ttlMs], ["lookupTimeoutMs", this.#timeoutMs]]) {
      if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value)) {
        throw new RangeError(`Cannot use dedupe ${name} ${value}: expected a positive number`);
      }
    }
    if (!Number.isSafeInteger(this.#maxPuts) || this.#maxPuts < 1) {
      throw new RangeError(`Cannot use dedupe maxPutsInFlight ${this.#maxPuts}: not positive`);
    }
    this.#logger = logger;
    this.#now = now;
  }

  /** The cached ack, or `undefined` on a miss; rejects when the cache fails or is too slow. */
  lookup(senderId: string, clientMsgId: string): Promise<CachedAck | undefined> {
    const timeoutMs = this.#timeoutMs;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`Dedupe lookup took longer than ${timeoutMs} ms`)),
        timeoutMs,
      );
      let answer: Promise<string | undefined>;
      try {
        answer = this.#cache.get(senderId, clientMsgId);
      } catch (error) { // a cache that throws instead of rejecting
        answer = Promise.reject(error);
      }
      answer.then(
        (value) => {
          clearTimeout(timer);
          try {
            resolve(value === undefined ? undefined : parseAck(value));
          } catch (error) {
            reject(error);
          }
        },
        (error) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  /** Puts `ack` in the cache without waiting; skipped (and counted) when too many are in flight. */
  remember(senderId: string, clientMsgId: string, ack: CachedAck): void {
    if (this.#puts >= this.#maxPuts) {
      this.#skippedPuts++;
      this.warn("Dedupe cache put skipped: too many in flight", { limit: this.#maxPuts });
      return;
    }
    this.#puts++;
    // A failed put costs only a store write on a later resend: warn and go on.
    this.#cache.put(senderId, clientMsgId, formatAck(ack), this.#ttlMs)
      .catch((error) => {
        this.warn("Dedupe cache put failed", { conversation: ack.conversationId, error });
      })
      .finally(() => this.#puts--);
  }

  /** Logs a warning unless one was logged in the last interval (then only counts it). */
  warn(message: string, fields: Record<string, unknown>): void {
    const at = this.#now();
    if (at - this.#lastWarnAt < DEDUPE_WARN_INTERVAL_MS) {
      this.#suppressed++;
      return;
    }
    this.#lastWarnAt = at;
    this.#logger.log("warn", message, {
      ...fields,
      suppressed: this.#suppressed,
      skippedPuts: this.#skippedPuts,
    });
    this.#suppressed = 0;
  }
}

/** The cache value of an ack (see the module doc). */
function formatAck(ack: CachedAck): string {
  return JSON.stringify({
    conversationId: ack.conversationId,
    seq: ack.seq.toString(),
    messageId: ack.messageId,
    createdAt: ack.createdAt,
    digest: ack.digest,
  });
}

const DECIMAL_U64 = /^(0|[1-9][0-9]{0,19})$/;

/**
 * Reads a value written by {@link formatAck}.
 *
 * @throws {Error} naming the bad field when the value is not such an ack.
 */
function parseAck(value: string): CachedAck {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    throw new Error(`Cannot parse dedupe cache value: not JSON (${value.length} chars)`, {
      cause: error,
    });
  }
  const v = (parsed ?? {}) as Record<string, unknown>;
  const bad = typeof v.conversationId !== "string" || v.conversationId === ""
    ? "conversationId"
    : typeof v.seq !== "string" || !DECIMAL_U64.test(v.seq)
    ? "seq"
    : typeof v.messageId !== "string" || !DECIMAL_U64.test(v.messageId)
    ? "messageId"
    : !Number.isSafeInteger(v.createdAt) || (v.createdAt as number) < 0
    ? "createdAt"
    : v.digest !== undefined && typeof v.digest !== "string"
    ? "digest"
    : undefined;
  if (bad !== undefined) {
    throw new Error(`Cannot parse dedupe cache value: field ${bad} is missing or malformed`);
  }
  return {
    conversationId: v.conversationId as string,
    seq: BigInt(v.seq as string),
    messageId: v.messageId as string,
    createdAt: v.createdAt as number,
    ...(typeof v.digest === "string" ? { digest: v.digest } : {}),
  };
}
