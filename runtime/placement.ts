/**
 * Placement: which member (node or worker) owns an actor.
 *
 * An actor `kind/id` hashes to one of a fixed number of shards; a shard is
 * owned by the member with the highest weighted rendezvous (HRW) score. Every
 * member computes this locally from the same membership view, so no
 * coordinator is needed, and a join or leave moves only the shards that must
 * move (about 1/n of them, to or from the changed member).
 *
 * @module
 */

/** Default number of shards; fixed for the life of a cluster. */
export const DEFAULT_SHARDS = 1024;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const TWO_POW_32 = 2 ** 32;
/** More shards than hash values would leave shards that are never used. */
const MAX_SHARDS = TWO_POW_32 - 1;

/**
 * FNV-1a, 32 bits, over the UTF-8 bytes of `text` (lone surrogates encode as
 * U+FFFD, like `TextEncoder`). Returns an unsigned integer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fnv1a32 } from "./placement.ts";
 *
 * assert.equal(fnv1a32("foobar"), 0xbf9cf968);
 * ```
 */
export function fnv1a32(text: string): number {
  let hash = FNV_OFFSET;
  const step = (byte: number) => {
    hash = Math.imul(hash ^ byte, FNV_PRIME);
  };
  // Encodes inline to avoid allocating a byte array on the routing hot path.
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    if (code < 0x80) {
      step(code);
      continue;
    }
    if (code < 0x800) {
      step(0xc0 | (code >> 6));
      step(0x80 | (code & 0x3f));
      continue;
    }
    if (code >= 0xd800 && code <= 0xdfff) {
      const low = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (code <= 0xdbff && low >= 0xdc00 && low <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        i++;
        step(0xf0 | (code >> 18));
        step(0x80 | ((code >> 12) & 0x3f));
        step(0x80 | ((code >> 6) & 0x3f));
        step(0x80 | (code & 0x3f));
        continue;
      }
      code = 0xfffd;
    }
    step(0xe0 | (code >> 12));
    step(0x80 | ((code >> 6) & 0x3f));
    step(0x80 | (code & 0x3f));
  }
  return hash >>> 0;
}

/**
 * The shard of actor `kind/id`: `fnv1a32(kind + "/" + id) % shards`.
 *
 * @throws {RangeError} if `shards` is not an integer within 1..2^32-1.
 * @example
 * ```ts
 * import { shardOf } from "./placement.ts";
 *
 * const shard = shardOf("user", "42"); // 0..1023
 * ```
 */
export function shardOf(
  kind: string,
  id: string,
  shards: number = DEFAULT_SHARDS,
): number {
  checkShards(shards, "compute shard");
  return fnv1a32(`${kind}/${id}`) % shards;
}

/** A placement target (a node or a worker) with an optional relative weight. */
export interface Member {
  /** Unique, stable identity; it seeds the member's scores. */
  readonly id: string;
  /** Relative capacity, positive and finite; default 1. */
  readonly weight?: number;
}

/**
 * The owner of `shard` among `members` by weighted rendezvous hashing.
 *
 * Each member scores `-weight / ln(u)` where `u` in (0, 1) comes from a mixed
 * 32-bit hash of the member id and the shard; the highest score wins, ties go
 * to the smaller id. The result does not depend on the order of `members`.
 * Member ids must be unique.
 *
 * @throws {RangeError} if `members` is empty, an id repeats, a weight is not
 * positive and finite, or `shard` is not a non-negative integer.
 * @example
 * ```ts
 * import { rendezvous } from "./placement.ts";
 *
 * const owner = rendezvous(17, [{ id: "node-a" }, { id: "node-b", weight: 2 }]);
 * ```
 */
export function rendezvous(shard: number, members: readonly Member[]): Member {
  if (!Number.isSafeInteger(shard) || shard < 0) {
    throw new RangeError(
      `Cannot place shard: shard ${shard} is not a non-negative integer`,
    );
  }
  checkMembers(members);
  let best = members[0];
  let bestScore = -Infinity;
  for (const member of members) {
    const score = scoreOf(member, shard);
    if (score > bestScore || (score === bestScore && member.id < best.id)) {
      best = member;
      bestScore = score;
    }
  }
  return best;
}

/**
 * Shard-to-member placement over a fixed membership view, cached per shard.
 * Build a new one when the view changes.
 *
 * @example
 * ```ts
 * import { Placement } from "./placement.ts";
 *
 * const placement = new Placement([{ id: "node-a" }, { id: "node-b" }]);
 * const owner = placement.memberOf("user", "42"); // node-a or node-b
 * ```
 */
export class Placement {
  /** Number of shards actors hash into. */
  readonly shards: number;
  #members: readonly Member[];
  #cache: (Member | undefined)[];

  /**
   * Creates a placement over one membership view.
   *
   * @param members the view; copied, so later changes to the array are ignored.
   * @param options.shards number of shards, default {@linkcode DEFAULT_SHARDS}.
   * @throws {RangeError} on bad members (see {@linkcode rendezvous}) or shards.
   */
  constructor(
    members: readonly Member[],
    options: { shards?: number } = {},
  ) {
    const shards = options.shards ?? DEFAULT_SHARDS;
    checkShards(shards, "create placement");
    checkMembers(members);
    this.shards = shards;
    this.#members = Object.freeze([...members]);
    this.#cache = new Array(shards);
  }

  /**
   * The member that owns `shard`.
   *
   * @throws {RangeError} if `shard` is not an integer in `0..shards-1`.
   */
  memberOfShard(shard: number): Member {
    if (!Number.isInteger(shard) || shard < 0 || shard >= this.shards) {
      throw new RangeError(
        `Cannot place shard: shard ${shard} is not within 0..${this.shards - 1}`,
      );
    }
    return this.#cache[shard] ??= rendezvous(shard, this.#members);
  }

  /** The member that owns actor `kind/id`. */
  memberOf(kind: string, id: string): Member {
    return this.memberOfShard(fnv1a32(`${kind}/${id}`) % this.shards);
  }
}

function scoreOf(member: Member, shard: number): number {
  const hash = fmix32(fnv1a32(`${member.id}#${shard}`));
  // The half-step keeps u strictly inside (0, 1), so ln(u) is finite and < 0.
  const u = (hash + 0.5) / TWO_POW_32;
  return -(member.weight ?? 1) / Math.log(u);
}

/** MurmurHash3's 32-bit finalizer: full avalanche over FNV's weak high bits. */
function fmix32(value: number): number {
  let h = value;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function checkShards(shards: number, action: string): void {
  if (!Number.isInteger(shards) || shards <= 0 || shards > MAX_SHARDS) {
    throw new RangeError(
      `Cannot ${action}: shards ${shards} is not an integer within 1..${MAX_SHARDS}`,
    );
  }
}

function checkMembers(members: readonly Member[]): void {
  if (members.length === 0) {
    throw new RangeError("Cannot place shard: members is empty");
  }
  const seen = new Set<string>();
  for (const member of members) {
    if (seen.has(member.id)) {
      throw new RangeError(
        `Cannot place shard: member id ${JSON.stringify(member.id)} is not unique`,
      );
    }
    seen.add(member.id);
    const weight = member.weight ?? 1;
    if (!Number.isFinite(weight) || weight <= 0) {
      throw new RangeError(
        `Cannot place shard: weight ${weight} of member ${
          JSON.stringify(member.id)
        } is not positive and finite`,
      );
    }
  }
}
