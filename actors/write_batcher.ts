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

/**
 * Merges appends made in the same event-loop turn into one write.
 *
 * @example
 * ```ts
 * const batcher = new WriteBatcher((items, now) => store.appendBatch(items, now));
 * const results = await batcher.append(items, Date.now());
 * ```
 */
export class WriteBatcher {
  readonly #write: (items: readonly AppendItem[], now: number) => Promise<AppendResult[]>;
  #waiting: Waiting[] = [];
  #count = 0;
  #scheduled = false;
  /** Writes issued so far (for tests and metrics). */
  writes = 0;

  constructor(write: (items: readonly AppendItem[], now: number) => Promise<AppendResult[]>) {
    this.#write = write;
  }

  /** Queues `items`; resolves with their results in order, or rejects if the write fails. */
  append(items: readonly AppendItem[], _now: number): Promise<AppendResult[]> {
    const { promise, resolve, reject } = Promise.withResolvers<AppendResult[]>();
    if (this.#count + items.length > MAX_MERGED_ITEMS) this.#flush();
    this.#waiting.push({ items, resolve, reject });
    this.#count += items.length;
    if (!this.#scheduled) {
      this.#scheduled = true;
      // After the current run of microtasks: the actor drain that produced these appends.
      queueMicrotask(() => this.#flush());
    }
    return promise;
  }

  #flush(): void {
    this.#scheduled = false;
    const waiting = this.#waiting;
    if (waiting.length === 0) return;
    this.#waiting = [];
    this.#count = 0;
    const items = waiting.length === 1 ? waiting[0]!.items : waiting.flatMap((w) => w.items);
    this.writes++;
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
    );
  }
}
