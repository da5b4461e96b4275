/**
 * A bounded FIFO with a priority lane for system messages.
 *
 * @module
 */

/**
 * Bounded queue of user items plus a small, separately bounded system lane that is
 * always taken first. Storage grows on demand and is released when the queue empties,
 * so an idle actor's mailbox costs a few dozen bytes.
 *
 * @example
 * ```ts
 * const box = new Mailbox<string>(2);
 * box.push("a"); box.push("b");
 * box.push("c"); // false: full
 * box.pushSystem("stop");
 * box.shift(); // "stop"
 * ```
 */
export class Mailbox<T> {
  readonly capacity: number;
  readonly systemCapacity: number;
  #items: (T | undefined)[] = [];
  #head = 0;
  #system: T[] | undefined;

  /** @throws {RangeError} if a capacity is not a positive integer. */
  constructor(capacity: number, systemCapacity = 64) {
    for (const [name, value] of [["capacity", capacity], ["systemCapacity", systemCapacity]]) {
      if (!Number.isInteger(value) || (value as number) < 1) {
        throw new RangeError(`Cannot create mailbox: ${name} ${value} is not a positive integer`);
      }
    }
    this.capacity = capacity;
    this.systemCapacity = systemCapacity;
  }

  /** Number of user items waiting. */
  get userSize(): number {
    return this.#items.length - this.#head;
  }

  /** Number of items waiting in both lanes. */
  get size(): number {
    return this.userSize + (this.#system?.length ?? 0);
  }

  /** True when the user lane holds `capacity` items. */
  get full(): boolean {
    return this.userSize >= this.capacity;
  }

  /** Appends a user item; returns false (and keeps nothing) when full. */
  push(item: T): boolean {
    if (this.userSize >= this.capacity) return false;
    this.#items.push(item);
    return true;
  }

  /** Appends to the priority lane; returns false when that lane is full. */
  pushSystem(item: T): boolean {
    const lane = this.#system ??= [];
    if (lane.length >= this.systemCapacity) return false;
    lane.push(item);
    return true;
  }

  /** Takes the next item: system lane first, then user items in FIFO order. */
  shift(): T | undefined {
    if (this.#system !== undefined && this.#system.length > 0) {
      const item = this.#system.shift();
      if (this.#system.length === 0) this.#system = undefined;
      return item;
    }
    return this.shiftUser();
  }

  /** Takes the oldest user item (used by the `dropOldest` overflow policy). */
  shiftUser(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      // Compact so a queue that never empties does not keep its consumed prefix.
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Removes and returns everything, system lane first. */
  drain(): T[] {
    const out = [...(this.#system ?? []), ...(this.#items.slice(this.#head) as T[])];
    this.#items = [];
    this.#head = 0;
    this.#system = undefined;
    return out;
  }
}
