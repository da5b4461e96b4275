/**
 * Helpers shared by the store backends: parsing the decimal string ids the ports speak
 * (user ids are SQLite `INTEGER` row ids, so at most 2^63-1), page size limits, and turning
 * synchronous work into a settled promise. Private to `services/`.
 *
 * @module
 */

/** The largest value of a SQLite (and Postgres `bigint`) integer. */
export const MAX_INT64 = 2n ** 63n - 1n;

/**
 * The `bigint` of a canonical decimal id (`1`..`9223372036854775807`, no sign, no leading
 * zero, no spaces), or `undefined` for anything else: such a string names no row.
 */
export function parseUserId(id: unknown): bigint | undefined {
  if (typeof id !== "string" || !/^[1-9][0-9]{0,18}$/.test(id)) return undefined;
  const value = BigInt(id);
  return value <= MAX_INT64 ? value : undefined;
}

/**
 * Clamps a page size to `1..max`.
 *
 * @throws {RangeError} when `limit` is not an integer or is below 1.
 */
export function clampLimit(limit: number, max: number, what: string): number {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(`Cannot read ${what}: limit ${limit} is not an integer >= 1`);
  }
  return Math.min(limit, max);
}

/**
 * Runs synchronous `fn` now and returns its result as a promise; a throw becomes a rejection
 * (a port method never throws synchronously).
 */
export function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * Checks a time argument (ms since the epoch).
 *
 * @throws {TypeError} when `now` is not a safe integer.
 */
export function checkTime(now: number, what: string): void {
  if (!Number.isSafeInteger(now)) {
    throw new TypeError(`Cannot ${what}: time ${now} is not an integer number of ms`);
  }
}
