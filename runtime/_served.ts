/**
 * Serving bookkeeping shared by the service bus backends (`service_bus_local.ts`,
 * `service_bus_nats.ts`): option checks and defaults, the open/closed lifecycle, the
 * per-service concurrency bound, and the in-process call path both use for a service they
 * serve themselves.
 *
 * @module
 */

import { ServiceBusyError, ServiceTimeoutError, ShutdownError } from "./errors.ts";
import type { ServiceHandler } from "./service_bus.ts";

/** Deadline of a call without `timeoutMs`. */
const DEFAULT_TIMEOUT_MS = 5000;
/** Requests each service handles at once. */
const DEFAULT_MAX_CONCURRENT = 256;
/** The longest delay `setTimeout` honours; longer ones fire at once. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** `timeoutMs` if it is a valid deadline; @throws {RangeError} otherwise. */
export function checkTimeout(timeoutMs: number): number {
  if (!(typeof timeoutMs === "number" && timeoutMs > 0 && timeoutMs <= MAX_TIMEOUT_MS)) {
    throw new RangeError(`Invalid timeoutMs: ${timeoutMs} is not in (0, ${MAX_TIMEOUT_MS}]`);
  }
  return timeoutMs;
}

/** The limits options both backends take. */
export interface BusLimits {
  readonly defaultTimeoutMs: number;
  readonly maxConcurrent: number;
}

/**
 * The limits of a bus from its options, with the defaults (5000 ms, 256).
 *
 * @throws {RangeError} if `defaultTimeoutMs` or `maxConcurrent` is invalid.
 */
export function busLimits(options: Partial<BusLimits>): BusLimits {
  return {
    defaultTimeoutMs: checkTimeout(options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS),
    maxConcurrent: checkMaxConcurrent(options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT),
  };
}

/** `maxConcurrent` if it is a positive integer; @throws {RangeError} otherwise. */
function checkMaxConcurrent(maxConcurrent: number): number {
  if (!(Number.isInteger(maxConcurrent) && maxConcurrent > 0)) {
    throw new RangeError(`Invalid maxConcurrent: ${maxConcurrent} is not a positive integer`);
  }
  return maxConcurrent;
}

/** Whether a bus is closed; closes it once. */
export class BusLifecycle {
  #closed = false;
  #closing: Promise<void> | undefined;

  /** Set by the first {@linkcode BusLifecycle.close}. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * @throws {TypeError} if `handler` is not a function or the bus already serves `service`
   * (`served`); {@linkcode ShutdownError} once the bus is closed.
   */
  checkServe(service: string, handler: ServiceHandler, served: boolean): void {
    if (typeof handler !== "function") {
      throw new TypeError(`Cannot serve ${service}: the handler is not a function`);
    }
    if (this.#closed) throw new ShutdownError(`Cannot serve ${service}: the bus is closed`);
    if (served) throw new TypeError(`Cannot serve ${service}: already served by this bus`);
  }

  /** Marks the bus closed and runs `stopAll` the first time; every call gets its promise. */
  close(stopAll: () => Promise<unknown>): Promise<void> {
    this.#closed = true;
    this.#closing ??= stopAll().then(noop);
    return this.#closing;
  }
}

/** One served service: its handler and the bound on requests it handles at once. */
export class Served {
  readonly service: string;
  readonly #handler: ServiceHandler;
  readonly #maxConcurrent: number;
  #active = 0;
  readonly #running = new Set<Promise<void>>();

  constructor(service: string, handler: ServiceHandler, maxConcurrent: number) {
    this.service = service;
    this.#handler = handler;
    this.#maxConcurrent = maxConcurrent;
  }

  /**
   * Runs the handler and `finish` on its outcome, holding a slot until `finish` settles;
   * undefined (nothing ran) when every slot is taken.
   */
  run<T>(
    request: unknown,
    finish: (outcome: Promise<unknown>) => Promise<T>,
  ): Promise<T> | undefined {
    if (this.#active >= this.#maxConcurrent) return undefined;
    this.#active++;
    let outcome: Promise<unknown>;
    try {
      outcome = Promise.resolve(this.#handler(request));
    } catch (error) {
      outcome = Promise.reject(error);
    }
    const result = finish(outcome);
    const done: Promise<void> = result.then(noop, noop).finally(() => {
      this.#active--;
      this.#running.delete(done);
    });
    this.#running.add(done);
    return result;
  }

  busyError(): ServiceBusyError {
    return new ServiceBusyError(
      `Service ${this.service} is busy: ${this.#maxConcurrent} requests in progress`,
    );
  }

  /** Resolves once every request running now (and any started meanwhile) has finished. */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running);
  }
}

function noop(): void {}

/**
 * Runs a call in-process: the handler gets `request` itself and its error passes through.
 * The slot stays taken until the handler settles, even after the caller's deadline.
 */
export function callServed<R>(served: Served, request: unknown, timeoutMs: number): Promise<R> {
  const outcome = served.run(request, (outcome) => outcome);
  if (outcome === undefined) return Promise.reject(served.busyError());
  return new Promise<R>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(
        new ServiceTimeoutError(
          `Cannot call ${served.service}: no answer within ${timeoutMs} ms; outcome unknown`,
        ),
      );
    }, timeoutMs);
    outcome.then(
      (value) => resolve(value as R),
      (error) => reject(error instanceof Error ? error : new Error(String(error))),
    ).finally(() => clearTimeout(timer));
  });
}
