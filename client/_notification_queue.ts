/**
 * A bounded buffer behind `FlashConnection.notifications()`. Private to `client/`.
 *
 * @module
 */

import { type Deferred, deferred } from "./_deferred.ts";
import type { OverflowPolicy } from "./connection_types.ts";
import { SlowConsumerError } from "./errors.ts";

/**
 * An async iterator fed by `push()`. At most `capacity` items wait; past that the oldest is
 * dropped (`dropOldest`, counted in {@link dropped}) or the iterator fails (`error`: it
 * yields what it holds, then throws {@link SlowConsumerError}). `end()` finishes it after
 * the buffered items; `return()` (a `break` out of `for await`) discards them and calls
 * `onDone`, as does every other way the iteration ends.
 */
export class NotificationQueue<T> implements AsyncIterableIterator<T> {
  readonly #capacity: number;
  readonly #overflow: OverflowPolicy;
  readonly #onDone: () => void;
  /** A ring buffer: `#size` items from `#head`. */
  readonly #items: (T | undefined)[];
  #head = 0;
  #size = 0;
  #waiter: Deferred<IteratorResult<T>> | undefined;
  #ended = false;
  #failure: SlowConsumerError | undefined;
  #done = false;
  #dropped = 0;

  constructor(capacity: number, overflow: OverflowPolicy, onDone: () => void) {
    this.#capacity = capacity;
    this.#overflow = overflow;
    this.#onDone = onDone;
    this.#items = new Array(capacity);
  }

  /** Items dropped by `dropOldest` so far. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Delivers an item (ignored once the queue ended or failed). */
  push(item: T): void {
    if (this.#ended || this.#failure || this.#done) return;
    if (this.#waiter) {
      const waiter = this.#waiter;
      this.#waiter = undefined;
      waiter.resolve({ done: false, value: item });
      return;
    }
    if (this.#size === this.#capacity) {
      if (this.#overflow === "error") {
        this.#failure = new SlowConsumerError(
          `Cannot buffer notification: the consumer is ${this.#capacity} notifications behind`,
          this.#capacity,
        );
        this.#onDone();
        return;
      }
      this.#items[this.#head] = undefined;
      this.#head = (this.#head + 1) % this.#capacity;
      this.#size--;
      this.#dropped++;
    }
    this.#items[(this.#head + this.#size) % this.#capacity] = item;
    this.#size++;
  }

  /** No more items: the iteration finishes once the buffered ones are consumed. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#waiter && this.#size === 0) this.#finish();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#size > 0) {
      const value = this.#items[this.#head] as T;
      this.#items[this.#head] = undefined;
      this.#head = (this.#head + 1) % this.#capacity;
      this.#size--;
      return Promise.resolve({ done: false, value });
    }
    if (this.#failure && !this.#done) {
      this.#done = true;
      return Promise.reject(this.#failure);
    }
    if (this.#ended || this.#done) return this.#finish().promise;
    this.#waiter = deferred();
    return this.#waiter.promise;
  }

  return(): Promise<IteratorResult<T>> {
    this.#items.fill(undefined);
    this.#size = 0;
    this.#ended = true;
    return this.#finish().promise;
  }

  [Symbol.asyncIterator](): NotificationQueue<T> {
    return this;
  }

  #finish(): Deferred<IteratorResult<T>> {
    const waiter = this.#waiter ?? deferred<IteratorResult<T>>();
    this.#waiter = undefined;
    if (!this.#done) {
      this.#done = true;
      this.#onDone();
    }
    waiter.resolve({ done: true, value: undefined });
    return waiter;
  }
}
