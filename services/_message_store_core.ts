/**
 * The pure parts of the message store's queries, shared by the backends so both check
 * arguments and compute pages and watermarks the same way. Private to `services/`.
 *
 * @module
 */

import { clampLimit, MAX_INT64 } from "./_store_util.ts";
import type { ChangeRow } from "./_message_rows.ts";
import { toView } from "./_message_rows.ts";
import {
  type ChangeEntry,
  type ChangesPage,
  MAX_MESSAGE_PAGE,
  type PageOptions,
  type SetWatermarkResult,
  type WatermarkKind,
} from "./message_store.ts";

/**
 * Checks a seq or cursor argument.
 *
 * @throws {RangeError} when it is not a `bigint` >= 0.
 */
export function checkSeq(seq: bigint, name: string): void {
  if (typeof seq !== "bigint" || seq < 0n) {
    throw new RangeError(`Cannot use ${name} ${seq}: it is not a bigint >= 0`);
  }
}

/**
 * Checks a watermark kind.
 *
 * @throws {TypeError} when it is neither `delivered` nor `read`.
 */
export function checkWatermarkKind(kind: WatermarkKind): void {
  if (kind !== "delivered" && kind !== "read") {
    throw new TypeError(`Cannot set a watermark: unknown kind ${JSON.stringify(kind)}`);
  }
}

/** The larger of two `bigint`s. */
export function maxBigint(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

/** The rows a page query reads: `after < seq <= upTo`, at most `fetch`, in which order. */
export interface PageRange {
  readonly after: bigint;
  /** Inclusive, at most 2^63-1, so "no bound" needs no second statement. */
  readonly upTo: bigint;
  /** The page size; the query reads one row more to tell whether the range holds more. */
  readonly limit: number;
  /** Read the newest of the range (`beforeSeq` given): reverse the rows afterwards. */
  readonly newest: boolean;
}

/**
 * The range a `page()` call reads, or `undefined` when it is empty.
 *
 * @throws {RangeError} for a limit below 1 or a negative bound.
 */
export function pageRange(options: PageOptions): PageRange | undefined {
  const limit = clampLimit(options.limit, MAX_MESSAGE_PAGE, "messages");
  const after = options.afterSeq ?? 0n;
  checkSeq(after, "afterSeq");
  if (options.beforeSeq !== undefined) checkSeq(options.beforeSeq, "beforeSeq");
  const upTo = options.beforeSeq === undefined || options.beforeSeq > MAX_INT64
    ? MAX_INT64
    : options.beforeSeq - 1n;
  if (upTo <= after) return undefined;
  return { after, upTo, limit, newest: options.beforeSeq !== undefined };
}

/**
 * A member's watermarks after a receipt: `seq` is clamped to `lastSeq` (nobody has seen what
 * does not exist), nothing moves back, and `read` pulls `delivered` up.
 */
export function watermarkAfter(
  lastSeq: bigint,
  member: { readonly delivered_seq: bigint; readonly read_seq: bigint },
  kind: WatermarkKind,
  seq: bigint,
): SetWatermarkResult & { ok: true } {
  const target = seq < lastSeq ? seq : lastSeq;
  const deliveredSeq = maxBigint(member.delivered_seq, target);
  const readSeq = kind === "read" ? maxBigint(member.read_seq, target) : member.read_seq;
  return {
    ok: true,
    deliveredSeq,
    readSeq,
    changed: deliveredSeq !== member.delivered_seq || readSeq !== member.read_seq,
  };
}

/**
 * A `changesSince()` page from up to `max + 1` rows read after `cursor` (the cursor the
 * query used: 0 after a reset).
 */
export function changesPage(
  rows: readonly ChangeRow[],
  max: number,
  cursor: bigint,
  reset: boolean,
): ChangesPage {
  const changes = rows.slice(0, max).map((row): ChangeEntry => ({
    ...toView(row),
    changeSeq: row.change_seq,
    changedAt: Number(row.changed_at),
  }));
  return {
    changes,
    cursor: changes.at(-1)?.changeSeq ?? cursor,
    hasMore: rows.length > max,
    reset,
  };
}
