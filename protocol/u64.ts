/**
 * Unsigned 64-bit integers on the wire. protobufjs represents uint64 fields as long.js
 * {@link Long} values (two 32-bit halves), so ids above 2^53 keep every bit. These helpers
 * build them from `bigint`, safe integers or decimal strings, and read them back.
 *
 * The readers also accept a structured-cloned `Long` (a plain `{ low, high }` object after
 * `postMessage`) and `null`/`undefined` (an absent field, which means 0).
 *
 * @module
 */

import $protobuf from "protobufjs/minimal.js";
import type { Long } from "./schema.ts";

/** What the readers accept: a `Long`, a cloned one, a safe integer, or nothing (0). */
export type U64Like = Long | { low: number; high: number } | number | null | undefined;

interface LongStatic {
  fromBits(low: number, high: number, unsigned: boolean): Long;
}

const LongImpl = $protobuf.util.Long as unknown as LongStatic;
const MAX_U64 = (1n << 64n) - 1n;
const DECIMAL = /^(0|[1-9][0-9]{0,19})$/;

/**
 * Makes an unsigned {@link Long} for a uint64 field.
 *
 * @throws {RangeError} when `value` is negative, above 2^64-1, not an integer, an unsafe
 * `number` (above 2^53-1: pass a `bigint` or a string), or a string that is not decimal.
 *
 * @example
 * ```ts
 * const frame = { id: u64(1), kind: FrameKind.PING };
 * const big = u64("18446744073709551615");
 * ```
 */
export function u64(value: bigint | number | string | { low: number; high: number }): Long {
  if (typeof value === "object") return LongImpl.fromBits(value.low | 0, value.high | 0, true);
  let big: bigint;
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`Cannot make a uint64: ${value} is not a safe non-negative integer`);
    }
    // Split without BigInt: the hot path (counters, seqs) stays cheap.
    return LongImpl.fromBits(value % 0x1_0000_0000 | 0, Math.floor(value / 0x1_0000_0000), true);
  } else if (typeof value === "string") {
    if (!DECIMAL.test(value)) {
      throw new RangeError(`Cannot make a uint64: "${value}" is not a decimal integer`);
    }
    big = BigInt(value);
  } else {
    big = value;
  }
  if (big < 0n || big > MAX_U64) {
    throw new RangeError(`Cannot make a uint64: ${big} is outside 0..2^64-1`);
  }
  return LongImpl.fromBits(Number(big & 0xffff_ffffn) | 0, Number(big >> 32n) | 0, true);
}

/** Reads a uint64 as a `bigint` (exact); absent (`null`/`undefined`) is `0n`. */
export function u64ToBigInt(value: U64Like): bigint {
  if (value === null || value === undefined) return 0n;
  if (typeof value === "number") return BigInt(value);
  return (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0);
}

/** Reads a uint64 as a decimal string (exact; the form for JSON); absent is `"0"`. */
export function u64ToString(value: U64Like): string {
  if (value === null || value === undefined) return "0";
  if (typeof value === "number") return String(value);
  if (value.high === 0) return String(value.low >>> 0);
  return u64ToBigInt(value).toString();
}

/**
 * Reads a uint64 as a `number` when it is at most `Number.MAX_SAFE_INTEGER`, else returns
 * `undefined` (the caller decides: reject the frame, or use {@link u64ToBigInt}). Absent is 0.
 */
export function u64ToSafeInteger(value: U64Like): number | undefined {
  if (value === null || value === undefined) return 0;
  if (typeof value === "number") return Number.isSafeInteger(value) ? value : undefined;
  const high = value.high >>> 0;
  if (high > 0x1f_ffff) return undefined;
  return high * 0x1_0000_0000 + (value.low >>> 0);
}
