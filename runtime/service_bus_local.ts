/**
 * {@linkcode LocalServiceBus}: the in-process {@linkcode ServiceBus} backend, for a lone
 * node.
 *
 * @module
 */

import { ServiceUnavailableError } from "./errors.ts";
import type { ServiceBus, ServiceCallOptions, ServiceHandler } from "./service_bus.ts";
import { BusLifecycle, busLimits, callServed, checkTimeout, Served } from "./_served.ts";
import { subjectToken } from "./_subject.ts";

/** Options of {@linkcode LocalServiceBus}. */
export interface LocalServiceBusOptions {
  /** Deadline of a call without `timeoutMs`. Default 5000 ms. */
  readonly defaultTimeoutMs?: number;
  /** Requests each service handles at once; more are refused with {@linkcode ServiceBusyError}. Default 256. */
  readonly maxConcurrent?: number;
}

/**
 * In-process {@linkcode ServiceBus}, for a lone node: `call` runs the handler served on this
 * bus directly (the handler receives `request` itself and its error is thrown as is).
 * Nothing is queued: beyond `maxConcurrent` running requests of a service, `call` rejects
 * with {@linkcode ServiceBusyError}, and every call has a deadline.
 *
 * @example
 * ```ts
 * await using bus = new LocalServiceBus();
 * const stop = await bus.serve("auth", async (request) => ({ user: (request as { token: string }).token }));
 * await bus.call("auth", { token: "t1" }); // { user: "t1" }
 * await stop();
 * await bus.call("auth", {}); // throws ServiceUnavailableError
 * ```
 */
export class LocalServiceBus implements ServiceBus, AsyncDisposable {
  /** Deadline of a call without `timeoutMs`, in milliseconds. */
  readonly defaultTimeoutMs: number;
  /** Requests each service handles at once. */
  readonly maxConcurrent: number;
  readonly #served = new Map<string, Served>();
  readonly #lifecycle = new BusLifecycle();

  /**
   * Makes an empty bus.
   *
   * @throws {RangeError} if `defaultTimeoutMs` or `maxConcurrent` is invalid.
   */
  constructor(options: LocalServiceBusOptions = {}) {
    const limits = busLimits(options);
    this.defaultTimeoutMs = limits.defaultTimeoutMs;
    this.maxConcurrent = limits.maxConcurrent;
  }

  /**
   * Serves `service` on this bus. Rejects with `TypeError` if it is already served here
   * (or the name or handler is invalid), with `ShutdownError` once the bus is closed.
   */
  serve(service: string, handler: ServiceHandler): Promise<() => Promise<void>> {
    try {
      subjectToken("service", service);
      this.#lifecycle.checkServe(service, handler, this.#served.has(service));
    } catch (error) {
      return Promise.reject(error);
    }
    const served = new Served(service, handler, this.maxConcurrent);
    this.#served.set(service, served);
    let stopping: Promise<void> | undefined;
    return Promise.resolve(() => stopping ??= this.#stop(served));
  }

  /** Calls a service served on this bus; see {@linkcode ServiceBus.call} for the errors. */
  call<R = unknown>(service: string, request: unknown, options?: ServiceCallOptions): Promise<R> {
    let timeoutMs: number;
    try {
      timeoutMs = checkTimeout(options?.timeoutMs ?? this.defaultTimeoutMs);
    } catch (error) {
      return Promise.reject(error);
    }
    const served = this.#served.get(service);
    if (served === undefined) {
      const why = this.#lifecycle.closed ? "the bus is closed" : "no handler";
      return Promise.reject(new ServiceUnavailableError(`Cannot call ${service}: ${why}`));
    }
    return callServed<R>(served, request, timeoutMs);
  }

  /** Stops every service; resolves once their in-flight requests finished. */
  close(): Promise<void> {
    return this.#lifecycle.close(() =>
      Promise.all([...this.#served.values()].map((s) => this.#stop(s)))
    );
  }

  /** Same as {@linkcode close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #stop(served: Served): Promise<void> {
    if (this.#served.get(served.service) === served) this.#served.delete(served.service);
    return served.idle();
  }
}
