/**
 * A coarse timer wheel: many deadlines (idle timeouts of thousands of actors)
 * served by one periodic tick instead of one `setTimeout` each.
 *
 * @module
 */

/**
 * Buckets items by deadline into slots of `tickMs`. An item is never due
 * early: its deadline is rounded up to the next tick boundary, and it comes
 * out of {@linkcode TimerWheel.due} once `now` reaches that boundary.
 *
 * There is no cancel: the usual pattern is to re-check the item's real
 * deadline when it comes out, and ignore or re-schedule it if it moved (an
 * actor that was busy meanwhile). An item may be scheduled more than once; each
 * entry comes out separately.
 *
 * Costs: `schedule` is O(log s) and `due` O(k + log s) per non-empty slot, for
 * s non-empty slots and k returned items; empty slots are never visited, so a
 * large jump in time costs nothing extra.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TimerWheel } from "./timer_wheel.ts";
 *
 * const wheel = new TimerWheel<string>({ tickMs: 100 });
 * wheel.schedule("user/1", 150); // slot 2, due from t=200
 * wheel.schedule("user/2", 100); // slot 1, due from t=100
 * assert.deepEqual(wheel.due(199), ["user/2"]);
 * assert.deepEqual(wheel.due(200), ["user/1"]);
 * assert.equal(wheel.size, 0);
 * ```
 */
export class TimerWheel<T> {
  #tickMs: number;
  #slots = new Map<number, T[]>();
  /** Min-heap of the keys of `#slots`, each exactly once. */
  #heap: number[] = [];
  #size = 0;

  /**
   * Creates an empty wheel.
   *
   * @param options.tickMs slot width in ms: the precision of deadlines.
   * @throws {RangeError} if `tickMs` is not positive and finite.
   */
  constructor(options: { tickMs: number }) {
    const { tickMs } = options;
    if (!Number.isFinite(tickMs) || tickMs <= 0) {
      throw new RangeError(
        `Cannot create timer wheel: tickMs ${tickMs} is not positive and finite`,
      );
    }
    this.#tickMs = tickMs;
  }

  /** Number of scheduled entries (an item scheduled twice counts twice). */
  get size(): number {
    return this.#size;
  }

  /**
   * Schedules `item` to be due at time `at` (ms), rounded up to a tick.
   *
   * @throws {RangeError} if `at` is not finite.
   */
  schedule(item: T, at: number): void {
    if (!Number.isFinite(at)) {
      throw new RangeError(`Cannot schedule: at ${at} is not a finite number`);
    }
    const slot = Math.ceil(at / this.#tickMs);
    const items = this.#slots.get(slot);
    if (items === undefined) {
      this.#slots.set(slot, [item]);
      heapPush(this.#heap, slot);
    } else {
      items.push(item);
    }
    this.#size++;
  }

  /**
   * Removes and returns every entry whose tick boundary is at or before `now`,
   * earliest slot first (within a slot, in scheduling order).
   *
   * @throws {RangeError} if `now` is NaN.
   */
  due(now: number): T[] {
    if (Number.isNaN(now)) {
      throw new RangeError(`Cannot collect due items: now ${now} is NaN`);
    }
    const nowSlot = Math.floor(now / this.#tickMs);
    const out: T[] = [];
    const heap = this.#heap;
    while (heap.length > 0 && heap[0] <= nowSlot) {
      const slot = heapPop(heap);
      const items = this.#slots.get(slot) ?? [];
      this.#slots.delete(slot);
      for (const item of items) out.push(item);
    }
    this.#size -= out.length;
    return out;
  }

  /** Removes every entry. */
  clear(): void {
    this.#slots.clear();
    this.#heap = [];
    this.#size = 0;
  }
}

function heapPush(heap: number[], value: number): void {
  let i = heap.length;
  heap.push(value);
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent] <= value) break;
    heap[i] = heap[parent];
    i = parent;
  }
  heap[i] = value;
}

/** Removes and returns the smallest value; the heap must not be empty. */
function heapPop(heap: number[]): number {
  const top = heap[0];
  const last = heap.pop() as number;
  const length = heap.length;
  if (length === 0) return top;
  let i = 0;
  while (true) {
    const left = 2 * i + 1;
    if (left >= length) break;
    const right = left + 1;
    const child = right < length && heap[right] < heap[left] ? right : left;
    if (heap[child] >= last) break;
    heap[i] = heap[child];
    i = child;
  }
  heap[i] = last;
  return top;
}
