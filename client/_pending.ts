/**
 * The table of requests waiting for an answer, with their deadlines. Private to `client/`.
 *
 * Deadlines are swept by the connection's single timer ({@link PendingRequests.expire}
 * returns when it should fire next), not by one timer per request.
 *
 * @module
 */

import type { Frame } from "../protocol/mod.ts";
import { deferred } from "./_deferred.ts";
import { RequestTimeoutError } from "./errors.ts";

interface Entry {
  readonly resolve: (frame: Frame) => void;
  readonly reject: (error: unknown) => void;
  readonly deadline: number;
  readonly timeoutMs: number;
  readonly cleanup: () => void;
}

const NOTHING = () => {};

/** Requests in flight by id; each settles exactly once (answer, error, timeout, abort). */
export class PendingRequests {
  readonly #entries = new Map<number, Entry>();

  /** Requests waiting. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Registers request `id`, due at `deadline` (clock ms); the promise settles through
   * {@link answer}, {@link fail}, {@link expire} or `signal` (rejecting with its reason).
   */
  add(id: number, deadline: number, timeoutMs: number, signal?: AbortSignal): Promise<Frame> {
    const { promise, resolve, reject } = deferred<Frame>();
    let cleanup = NOTHING;
    if (signal) {
      const onAbort = () => {
        if (this.#entries.get(id) !== entry) return;
        this.#entries.delete(id);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      cleanup = () => signal.removeEventListener("abort", onAbort);
    }
    const entry: Entry = { resolve, reject, deadline, timeoutMs, cleanup };
    this.#entries.set(id, entry);
    return promise;
  }

  /** Resolves request `id` with `frame`; `false` when it is unknown (late or abandoned). */
  answer(id: number, frame: Frame): boolean {
    const entry = this.#take(id);
    entry?.resolve(frame);
    return entry !== undefined;
  }

  /** Rejects request `id` with `error`; `false` when it is unknown. */
  fail(id: number, error: unknown): boolean {
    const entry = this.#take(id);
    entry?.reject(error);
    return entry !== undefined;
  }

  /**
   * Rejects every request due at `now` with `RequestTimeoutError` (their ids are
   * forgotten); returns the earliest deadline left, or `Infinity`. O(requests in flight).
   */
  expire(now: number): number {
    let next = Infinity;
    for (const [id, entry] of this.#entries) {
      if (entry.deadline <= now) {
        this.#entries.delete(id);
        entry.cleanup();
        entry.reject(
          new RequestTimeoutError(
            `Cannot get an answer: request ${id} timed out after ${entry.timeoutMs} ms`,
            entry.timeoutMs,
          ),
        );
      } else if (entry.deadline < next) {
        next = entry.deadline;
      }
    }
    return next;
  }

  /** Rejects every request with `error`. */
  rejectAll(error: unknown): void {
    if (this.#entries.size === 0) return;
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    for (const entry of entries) {
      entry.cleanup();
      entry.reject(error);
    }
  }

  #take(id: number): Entry | undefined {
    const entry = this.#entries.get(id);
    if (!entry) return undefined;
    this.#entries.delete(id);
    entry.cleanup();
    return entry;
  }
}
