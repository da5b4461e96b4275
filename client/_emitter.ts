/**
 * A small typed event emitter. Private to `client/`.
 *
 * @module
 */

import { deferred } from "./_deferred.ts";

/** A listener for events of type `E`. */
export type Listener<E> = (event: E) => void;

/**
 * Typed emitter over an event map (`{ open: OpenEvent; ... }`). Listeners run synchronously
 * in registration order; one that throws does not stop the others: its error goes to
 * `reportError` (as with `EventTarget`: an uncaught error), the connection's state is
 * unaffected.
 */
export class Emitter<Events extends object> {
  readonly #listeners = new Map<keyof Events, Set<Listener<never>>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(type: K, listener: Listener<Events[K]>): () => void {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, set = new Set());
    set.add(listener as Listener<never>);
    return () => this.off(type, listener);
  }

  /** Removes a listener added with {@link on}. */
  off<K extends keyof Events>(type: K, listener: Listener<Events[K]>): void {
    this.#listeners.get(type)?.delete(listener as Listener<never>);
  }

  /**
   * Resolves with the next event of `type`; rejects with `signal.reason` when `signal`
   * aborts first (the listener is removed either way).
   */
  once<K extends keyof Events>(type: K, signal?: AbortSignal): Promise<Events[K]> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const { promise, resolve, reject } = deferred<Events[K]>();
    const onAbort = () => {
      off();
      reject(signal?.reason);
    };
    const off = this.on(type, (event) => {
      off();
      signal?.removeEventListener("abort", onAbort);
      resolve(event);
    });
    signal?.addEventListener("abort", onAbort, { once: true });
    return promise;
  }

  /** Calls every listener of `type` with `event`. */
  emit<K extends keyof Events>(type: K, event: Events[K]): void {
    const set = this.#listeners.get(type);
    if (!set || set.size === 0) return;
    for (const listener of [...set] as Listener<Events[K]>[]) {
      try {
        listener(event);
      } catch (error) {
        report(error);
      }
    }
  }
}

/** `reportError` where it exists (browsers, Deno); elsewhere (Node 20) the same effect. */
function report(error: unknown): void {
  if (typeof globalThis.reportError === "function") {
    globalThis.reportError(error);
  } else {
    queueMicrotask(() => {
      throw error;
    });
  }
}
