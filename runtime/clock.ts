/**
 * Time as a dependency: the runtime reads the clock and sets timers only through
 * a {@linkcode Clock}, so tests can drive time with a {@linkcode FakeClock}
 * instead of sleeping.
 *
 * @module
 */

/** Opaque id of a timer created by a {@linkcode Clock}. */
export type TimerHandle = number;

/**
 * A source of time and timers.
 *
 * `now()` is in milliseconds and never goes backwards within one clock; its
 * origin is arbitrary (not the Unix epoch), so only differences are meaningful.
 */
export interface Clock {
  /** Current time in milliseconds (monotonic, arbitrary origin). */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timeout; unknown or already fired handles are ignored. */
  clearTimeout(handle: TimerHandle): void;
  /** Calls `fn` every `ms` milliseconds until cleared. */
  setInterval(fn: () => void, ms: number): TimerHandle;
  /** Cancels an interval; unknown handles are ignored. */
  clearInterval(handle: TimerHandle): void;
}

/**
 * The real clock: `performance.now()` and the global timers.
 *
 * Every timer it creates is unref'd (`Deno.unrefTimer`), so a pending idle
 * timeout never keeps a process alive. The flip side: a promise that only an
 * unref'd timer would resolve is abandoned when nothing else (a listener, a
 * socket, a ref'd timer) keeps the event loop running.
 *
 * @example
 * ```ts
 * import { systemClock } from "./clock.ts";
 *
 * const started = systemClock.now();
 * const handle = systemClock.setTimeout(() => {}, 1_000);
 * systemClock.clearTimeout(handle);
 * const elapsed = systemClock.now() - started; // a few microseconds
 * ```
 */
export const systemClock: Clock = Object.freeze({
  now(): number {
    return performance.now();
  },
  setTimeout(fn: () => void, ms: number): TimerHandle {
    return unrefed(globalThis.setTimeout(fn, ms));
  },
  clearTimeout(handle: TimerHandle): void {
    globalThis.clearTimeout(handle);
  },
  setInterval(fn: () => void, ms: number): TimerHandle {
    return unrefed(globalThis.setInterval(fn, ms));
  },
  clearInterval(handle: TimerHandle): void {
    globalThis.clearInterval(handle);
  },
});

/**
 * Unrefs a global timer and returns its numeric id.
 *
 * Deno 2.9 global timers are Node-style `Timeout` objects: `Deno.unrefTimer`
 * must get the object (given the number it silently does nothing), while
 * `Number(timer)` yields an id that `clearTimeout`/`clearInterval` accept.
 */
function unrefed(timer: Parameters<typeof Deno.unrefTimer>[0]): TimerHandle {
  Deno.unrefTimer(timer);
  return Number(timer);
}

interface FakeTimer {
  readonly fn: () => void;
  /** Repeat period for intervals, `undefined` for timeouts. */
  readonly every: number | undefined;
  deadline: number;
  /** Scheduling order; breaks deadline ties. */
  seq: number;
}

/**
 * A manually driven clock for tests. Time moves only through
 * {@linkcode FakeClock.advance} and {@linkcode FakeClock.advanceAsync}.
 *
 * Timers fire in deadline order, ties in scheduling order; while a timer fires,
 * `now()` equals its deadline. Intervals shorter than 1 ms repeat every 1 ms so
 * that advancing always terminates. A callback that throws aborts the advance
 * and the error propagates to the caller (time stays at that timer's deadline).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FakeClock } from "./clock.ts";
 *
 * const clock = new FakeClock();
 * const fired: number[] = [];
 * clock.setInterval(() => fired.push(clock.now()), 100);
 * clock.advance(350);
 * assert.deepEqual(fired, [100, 200, 300]);
 * assert.equal(clock.now(), 350);
 * ```
 */
export class FakeClock implements Clock {
  #now: number;
  #timers = new Map<TimerHandle, FakeTimer>();
  #nextHandle = 1;
  #nextSeq = 0;
  #advancing = false;

  /**
   * Creates a clock whose `now()` starts at `start`.
   *
   * @param start initial value of `now()`, default 0.
   * @throws {RangeError} if `start` is not finite.
   */
  constructor(start = 0) {
    if (!Number.isFinite(start)) {
      throw new RangeError(
        `Cannot create clock: start ${start} is not a finite number`,
      );
    }
    this.#now = start;
  }

  /** Current fake time in milliseconds. */
  now(): number {
    return this.#now;
  }

  /** Schedules `fn` at `now() + ms` (negative or NaN `ms` count as 0). */
  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.#add(fn, delayOf(ms), undefined);
  }

  /** Cancels a timeout or an interval. */
  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle);
  }

  /** Schedules `fn` every `ms` milliseconds (at least 1 ms). */
  setInterval(fn: () => void, ms: number): TimerHandle {
    const every = Math.max(1, delayOf(ms));
    return this.#add(fn, every, every);
  }

  /** Cancels an interval or a timeout. */
  clearInterval(handle: TimerHandle): void {
    this.#timers.delete(handle);
  }

  /** Number of scheduled timers (an interval counts once). */
  pending(): number {
    return this.#timers.size;
  }

  /**
   * Moves time forward by `ms`, firing every timer due within the window,
   * including timers scheduled by callbacks that fire during the advance.
   *
   * @throws {RangeError} if `ms` is negative or not finite.
   * @throws {TypeError} if called while the clock is already advancing.
   */
  advance(ms: number): void {
    const target = this.#begin(ms);
    try {
      while (this.#fireNext(target));
      this.#now = target;
    } finally {
      this.#advancing = false;
    }
  }

  /**
   * Like {@linkcode FakeClock.advance}, but lets async code react between
   * timers: after each fired timer it yields a few microtask turns, and at the
   * end one real macrotask (`setTimeout(0)`).
   *
   * @throws {RangeError} if `ms` is negative or not finite.
   * @throws {TypeError} if called while the clock is already advancing.
   */
  async advanceAsync(ms: number): Promise<void> {
    const target = this.#begin(ms);
    try {
      while (this.#fireNext(target)) {
        // Enough turns for a handful of chained awaits to settle.
        for (let i = 0; i < 5; i++) await Promise.resolve();
      }
      this.#now = target;
      // One real macrotask only: nested setTimeout(0) is clamped to 4 ms.
      await new Promise<void>((resolve) => globalThis.setTimeout(resolve, 0));
    } finally {
      this.#advancing = false;
    }
  }

  #add(fn: () => void, delay: number, every: number | undefined): TimerHandle {
    const handle = this.#nextHandle++;
    this.#timers.set(handle, {
      fn,
      every,
      deadline: this.#now + delay,
      seq: this.#nextSeq++,
    });
    return handle;
  }

  #begin(ms: number): number {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new RangeError(
        `Cannot advance clock: ms ${ms} is not a finite non-negative number`,
      );
    }
    if (this.#advancing) {
      throw new TypeError("Cannot advance clock: an advance is in progress");
    }
    this.#advancing = true;
    return this.#now + ms;
  }

  /** Fires the earliest timer due by `target`; false when none is due. */
  #fireNext(target: number): boolean {
    // A linear scan is fine for a test clock with a handful of timers.
    let nextHandle: TimerHandle | undefined;
    let next: FakeTimer | undefined;
    for (const [handle, timer] of this.#timers) {
      if (
        timer.deadline <= target &&
        (next === undefined || timer.deadline < next.deadline ||
          (timer.deadline === next.deadline && timer.seq < next.seq))
      ) {
        next = timer;
        nextHandle = handle;
      }
    }
    if (next === undefined || nextHandle === undefined) return false;
    this.#now = next.deadline;
    if (next.every === undefined) {
      this.#timers.delete(nextHandle);
    } else {
      next.deadline += next.every;
      next.seq = this.#nextSeq++;
    }
    next.fn();
    return true;
  }
}

function delayOf(ms: number): number {
  return Number.isFinite(ms) && ms > 0 ? ms : 0;
}
