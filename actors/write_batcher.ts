/**
 * Group commit across conversations: the conversations of one worker hand their batches
 * to this batcher, which sends everything that arrived in the same run of the event loop
 * to the store writer as one `append` (one transaction), then hands each conversation its
 * own slice of the results. A transaction costs far more than a row, so this is what makes
 * many small conversations cheap to write.
 *
 * @module
 */

import type { AppendItem, AppendResult } from "../services/mod.ts";

/** Largest merged batch (the store refuses more than 5000 items in one call). */
export const MAX_MERGED_ITEMS = 4096;

interface Waiting {
  readonly items: readonly AppendItem[];
  readonly resolve: (results: AppendResult[]) => void;
  readonly reject: (error: unknown) => void;
}

/** A histogram's counts at one moment (see {@link PowerOfTwoHistogram}). */
export interface HistogramSnapshot {
  /** Inclusive upper bound of each bucket, ascending: 1, 2, 4, ... */
  readonly bounds: readonly number[];
  /** Observations per bucket (not cumulative); one more than `bounds`: the last is overflow. */
  readonly counts: readonly number[];
  /** Sum of every observed value. */
  readonly sum: number;
  /** Number of observations. */
  readonly count: number;
}

/**
 * Counts of positive integers in power-of-two buckets (`<= 1`, `<= 2`, `<= 4`, ...,
 * `<= maxBound`, overflow): fixed memory, one array bump per observation.
 *
 * @example
 * ```ts
 * const sizes = new PowerOfTwoHistogram(8);
 * sizes.record(3); // bucket <= 4
 * sizes.snapshot(); // { bounds: [1, 2, 4, 8], counts: [0, 0, 1, 0, 0], sum: 3, count: 1 }
 * ```
 */
export class PowerOfTwoHistogram {
  readonly bounds: readonly number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  /** @throws {RangeError} when `maxBound` is not a power of two in 1..2^30. */
  constructor(maxBound: number) {
    if (
      !(Number.isInteger(maxBound) && maxBound >= 1 && maxBound <= 2 ** 30) ||
      (maxBound & (maxBound - 1)) !== 0
    ) {
      throw new RangeError(`Invalid histogram bound: ${maxBound} is not a power of two`);
    }
    this.bounds = Array.from({ length: Math.log2(maxBound) + 1 }, (_, i) => 2 ** i);
    this.#counts = new Array(this.bounds.length + 1).fill(0);
  }

  /** Counts `value` (values below 1 land in the first bucket). */
  record(value: number): void {
    // ceil(log2(value)) for value >= 1: the index of the smallest bound >= value.
    const index = value <= 1 ? 0 : 32 - Math.clz32(Math.ceil(value) - 1);
    this.#counts[Math.min(index, this.bounds.length)]!++;
    this.#sum += value;
    this.#count++;
  }

  /** A copy of the counts. */
  snapshot(): HistogramSnapshot {
    return { bounds: this.bounds, counts: [...this.#counts], sum: this.#sum, count: this.#count };
  }
}

/** Options of {@link WriteBatcher}. */
export interface WriteBatcherOptions {
  /**
   * Most writes in flight at once. Appends that arrive while that many are running wait and
   * go out together when one finishes: the slower the store, the larger (and cheaper per
   * item) the batches. Default: no limit (each event-loop turn writes at once).
   */
  readonly maxInFlight?: number;
}

/**
 * Merges appends made in the same event-loop turn, or while `maxInFlight` writes are
 * running, into one write.
 *
 * @example
 * ```ts
 * const batcher = new WriteBatcher((items, now) => store.appendBatch(items, now), {
 *   maxInFlight: 4,
 * });
 * const results = await batcher.append(items, Date.now());
 * ```
 */
export class WriteBatcher {
  readonly #write: (items: readonly AppendItem[], now: number) => Promise<AppendResult[]>;
  readonly #maxInFlight: number;
  #waiting: Waiting[] = [];
  #count = 0;
  #scheduled = false;
  #inFlight = 0;
  /** Writes issued so far (for tests and metrics). */
  writes = 0;
  /** Items per write (rows per commit: the group-commit batch size), for `/metrics`. */
  readonly batchItems: PowerOfTwoHistogram = new PowerOfTwoHistogram(MAX_MERGED_ITEMS);

  /** @throws {RangeError} when `maxInFlight` is not a positive integer. */
  constructor(
    write: (items: readonly AppendItem[], now: number) => Promise<AppendResult[]>,
    options: WriteBatcherOptions = {},
  ) {
    this.#write = write;
    this.#maxInFlight = options.maxInFlight ?? Infinity;
    if (
      !(this.#maxInFlight >= 1) ||
      !(Number.isInteger(this.#maxInFlight) || this.#maxInFlight === Infinity)
    ) {
      throw new RangeError(`Invalid maxInFlight ${options.maxInFlight}: not an integer >= 1`);
    }
  }

  /** Writes running now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Queues `items`; resolves with their results in order, or rejects if the write fails. */
  append(items: readonly AppendItem[], _now: number): Promise<AppendResult[]> {
    const { promise, resolve, reject } = Promise.withResolvers<AppendResult[]>();
    if (this.#count + items.length > MAX_MERGED_ITEMS && this.#inFlight < this.#maxInFlight) {
      this.#flush();
    }
    this.#waiting.push({ items, resolve, reject });
    this.#count += items.length;
    if (!this.#scheduled) {
      this.#scheduled = true;
      // After the current run of microtasks: the actor drain that produced these appends.
      queueMicrotask(() => {
        this.#scheduled = false;
        if (this.#inFlight < this.#maxInFlight) this.#flush();
      });
    }
    return promise;
  }

  /** Writes the waiting appends, at most {@link MAX_MERGED_ITEMS} items. */
  #flush(): void {
    if (this.#waiting.length === 0) return;
    let taken = 0;
    let count = 0;
    // At least one append, then whole appends while they fit.
    do {
      count += this.#waiting[taken]!.items.length;
      taken++;
    } while (
      taken < this.#waiting.length &&
      count + this.#waiting[taken]!.items.length <= MAX_MERGED_ITEMS
    );
    const waiting = this.#waiting.splice(0, taken);
    this.#count -= count;
    const items = waiting.length === 1 ? waiting[0]!.items : waiting.flatMap((w) => w.items);
    this.writes++;
    this.#inFlight++;
    this.batchItems.record(items.length);
    this.#write(items, Date.now()).then(
      (results) => {
        let offset = 0;
        for (const w of waiting) {
          w.resolve(results.slice(offset, offset + w.items.length));
          offset += w.items.length;
        }
      },
      (error) => {
        for (const w of waiting) w.reject(error);
      },
    ).finally(() => {
      this.#inFlight--;
      // What piled up meanwhile goes out now, as one write.
      if (this.#inFlight < this.#maxInFlight) this.#flush();
    });
  }
}
