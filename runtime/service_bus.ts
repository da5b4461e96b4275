/**
 * The service seam: request/reply to service actors (auth, offline sync, persistence)
 * served by whichever nodes run them. {@linkcode NatsServiceBus} spreads requests over
 * every server of a service with a NATS queue group; {@linkcode LocalServiceBus} serves a
 * lone node in-process. Both run a handler served by the same bus in-process, without NATS
 * and without serialization.
 *
 * @module
 */

import {
  ClosedConnectionError,
  DrainingConnectionError,
  type Msg,
  type NatsConnection,
  NoRespondersError,
  RequestError,
  type Subscription,
  TimeoutError,
} from "@nats-io/transport-node";
import { deserialize, serialize } from "node:v8";
import { fromErrorData, ShutdownError } from "./errors.ts";
import { type Logger, nullLogger } from "./logger.ts";
import { subjectToken } from "./_subject.ts";

const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_MAX_CONCURRENT = 256;
/** Undecodable requests are logged at most this often (each log line carries a count). */
const LOG_EVERY_MS = 5000;
/** The longest delay `setTimeout` honours; longer ones fire at once. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * Thrown by `call` when no node serves the service right now (NATS "no responders", no
 * local handler, or the bus or its connection is closed). Safe to retry later: nothing ran.
 */
export class ServiceUnavailableError extends Error {
  /** Always `"ServiceUnavailableError"`. */
  override name = "ServiceUnavailableError";
  /** Always `"SERVICE_UNAVAILABLE"`, for callers that test `error.code`. */
  readonly code = "SERVICE_UNAVAILABLE";
}

/**
 * Thrown by `call` when no answer came within the deadline (or the connection was lost
 * while waiting): the outcome is unknown, the handler may still run.
 */
export class ServiceTimeoutError extends Error {
  /** Always `"ServiceTimeoutError"`. */
  override name = "ServiceTimeoutError";
  /** Always `"SERVICE_TIMEOUT"`, for callers that test `error.code`. */
  readonly code = "SERVICE_TIMEOUT";
}

/**
 * Thrown by `call` when the server it reached already handles `maxConcurrent` requests of
 * the service: the request was refused before its handler ran. Retry later (with backoff).
 */
export class ServiceBusyError extends Error {
  /** Always `"ServiceBusyError"`. */
  override name = "ServiceBusyError";
  /** Always `"SERVICE_BUSY"`, for callers that test `error.code`. */
  readonly code = "SERVICE_BUSY";
}

/** Handles one request of a service; its result or thrown error is the caller's answer. */
export type ServiceHandler = (request: unknown) => Promise<unknown>;

/** Options of {@linkcode ServiceBus.call}. */
export interface ServiceCallOptions {
  /** Deadline of the call in milliseconds. Default: the bus's `defaultTimeoutMs`. */
  readonly timeoutMs?: number;
}

/**
 * Request/reply to services, each request answered by exactly one server of the service
 * (at most once: after a {@linkcode ServiceTimeoutError} the handler may or may not run).
 *
 * Errors of `call`: the handler's error, rebuilt with its `name`, `message` and a string
 * or number `code` (a remote error loses its stack, cause and class, except `TypeError`,
 * `RangeError`, the runtime's errors.ts classes and this module's errors, rebuilt by
 * name); {@linkcode ServiceUnavailableError};
 * {@linkcode ServiceBusyError}; {@linkcode ServiceTimeoutError}; `TypeError` for a request
 * that cannot be serialized, `RangeError` for an invalid timeout or an oversized request.
 */
export interface ServiceBus {
  /**
   * Serves `service` with `handler`: requests are spread over every server of the
   * service, each goes to exactly one. Resolves once serving; the returned function stops
   * serving (and resolves once in-flight requests are answered).
   */
  serve(service: string, handler: ServiceHandler): Promise<() => Promise<void>>;
  /**
   * Calls `service`; a handler served by this same bus runs in-process (no NATS, no
   * serialization: it receives `request` itself).
   */
  call<R = unknown>(service: string, request: unknown, options?: ServiceCallOptions): Promise<R>;
  /** Stops every served service (in-flight requests finish); later calls are unavailable. */
  close(): Promise<void>;
}

/**
 * Subject a service is served on: `flashim.<cluster>.svc.<service>`, each part sanitized
 * like {@linkcode workerSubject} (letters, digits, `_`, `-` stay; other UTF-8 bytes become
 * `~xx`). The queue group is the sanitized service name.
 *
 * @throws {TypeError} if `cluster` or `service` is empty.
 * @example
 * ```ts
 * serviceSubject("prod", "auth"); // "flashim.prod.svc.auth"
 * serviceSubject("prod", "sync.v2"); // "flashim.prod.svc.sync~2ev2"
 * ```
 */
export function serviceSubject(cluster: string, service: string): string {
  return `flashim.${subjectToken("cluster", cluster)}.svc.${subjectToken("service", service)}`;
}

/** The wire form of a thrown error. */
interface ServiceErrorData {
  readonly name: string;
  readonly message: string;
  readonly code?: string | number;
}

type Reply = { ok: true; value: unknown } | { ok: false; error: ServiceErrorData };

const SERVICE_ERRORS: Record<string, new (message: string) => Error> = {
  ServiceBusyError,
  ServiceTimeoutError,
  ServiceUnavailableError,
};

function toServiceErrorData(error: unknown): ServiceErrorData {
  if (!(error instanceof Error)) return { name: "Error", message: String(error) };
  const code = (error as { code?: unknown }).code;
  const data = { name: String(error.name), message: String(error.message) };
  return typeof code === "string" || typeof code === "number" ? { ...data, code } : data;
}

function fromServiceErrorData(data: ServiceErrorData): Error {
  const Known = Object.hasOwn(SERVICE_ERRORS, data.name) ? SERVICE_ERRORS[data.name] : undefined;
  const error = Known ? new Known(data.message) : fromErrorData(data);
  if (data.code !== undefined && !Known) Object.assign(error, { code: data.code });
  return error;
}

function isErrorData(value: unknown): value is ServiceErrorData {
  if (typeof value !== "object" || value === null) return false;
  const { name, message, code } = value as Record<string, unknown>;
  return typeof name === "string" && typeof message === "string" &&
    (code === undefined || typeof code === "string" || typeof code === "number");
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function checkTimeout(timeoutMs: number): number {
  if (!(typeof timeoutMs === "number" && timeoutMs > 0 && timeoutMs <= MAX_TIMEOUT_MS)) {
    throw new RangeError(`Invalid timeoutMs: ${timeoutMs} is not in (0, ${MAX_TIMEOUT_MS}]`);
  }
  return timeoutMs;
}

function checkMaxConcurrent(maxConcurrent: number): number {
  if (!(Number.isInteger(maxConcurrent) && maxConcurrent > 0)) {
    throw new RangeError(`Invalid maxConcurrent: ${maxConcurrent} is not a positive integer`);
  }
  return maxConcurrent;
}

function checkHandler(service: string, handler: ServiceHandler): void {
  if (typeof handler !== "function") {
    throw new TypeError(`Cannot serve ${service}: the handler is not a function`);
  }
}

/** One served service: its handler and the bound on requests it handles at once. */
class Served {
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
function callServed<R>(served: Served, request: unknown, timeoutMs: number): Promise<R> {
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
  #closed = false;
  #closing: Promise<void> | undefined;

  /**
   * Makes an empty bus.
   *
   * @throws {RangeError} if `defaultTimeoutMs` or `maxConcurrent` is invalid.
   */
  constructor(options: LocalServiceBusOptions = {}) {
    this.defaultTimeoutMs = checkTimeout(options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS);
    this.maxConcurrent = checkMaxConcurrent(options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT);
  }

  /**
   * Serves `service` on this bus. Rejects with `TypeError` if it is already served here
   * (or the name or handler is invalid), with `ShutdownError` once the bus is closed.
   */
  serve(service: string, handler: ServiceHandler): Promise<() => Promise<void>> {
    try {
      subjectToken("service", service);
      checkHandler(service, handler);
      if (this.#closed) throw new ShutdownError(`Cannot serve ${service}: the bus is closed`);
      if (this.#served.has(service)) {
        throw new TypeError(`Cannot serve ${service}: already served by this bus`);
      }
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
      const why = this.#closed ? "the bus is closed" : "no handler";
      return Promise.reject(new ServiceUnavailableError(`Cannot call ${service}: ${why}`));
    }
    return callServed<R>(served, request, timeoutMs);
  }

  /** Stops every service; resolves once their in-flight requests finished. */
  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= Promise.all([...this.#served.values()].map((s) => this.#stop(s)))
      .then(noop);
    return this.#closing;
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

/** Options of {@linkcode NatsServiceBus}. */
export interface NatsServiceBusOptions {
  /** The connection (the caller owns it: `close` does not close it). */
  readonly nc: NatsConnection;
  /** Cluster name: isolates subjects (tests use a random one). */
  readonly cluster: string;
  /** Deadline of a call without `timeoutMs`. Default 5000 ms. */
  readonly defaultTimeoutMs?: number;
  /**
   * Requests each served service handles at once (remote and local calls together); more
   * are answered with {@linkcode ServiceBusyError} instead of queueing. Default 256.
   */
  readonly maxConcurrent?: number;
  /** Told about undecodable requests (at most every 5 s) and replies that failed. */
  readonly logger?: Logger;
}

/** Counters of a {@linkcode NatsServiceBus} (its served side), for metrics and tests. */
export interface NatsServiceBusStats {
  /** Requests from NATS whose handler ran to the end (answered or not). */
  readonly handled: number;
  /** Requests from NATS refused with {@linkcode ServiceBusyError}. */
  readonly busy: number;
  /** Requests from NATS that could not be decoded or had no reply subject. */
  readonly undecodable: number;
  /** Answers that could not be sent (connection closed, reply over max payload, ...). */
  readonly unanswered: number;
}

type Counters = { -readonly [K in keyof NatsServiceBusStats]: number };

interface Serving {
  readonly served: Served;
  sub: Subscription | undefined;
  stopping: Promise<void> | undefined;
}

/**
 * {@linkcode ServiceBus} over NATS: a service is served on {@linkcode serviceSubject} in
 * the queue group named after the service, so each request goes to one of the nodes
 * serving it. Requests and replies are `node:v8`-encoded (bigint, `Uint8Array`,
 * `undefined`, `Map` survive); a reply is `{ ok: true, value }` or
 * `{ ok: false, error: { name, message, code? } }`.
 *
 * Local short-circuit: a service this bus serves itself is called in-process, exactly as
 * {@linkcode LocalServiceBus} does (no NATS round trip, no serialization, the handler gets
 * the caller's object), so a lone node or a node running the service keeps NATS off its hot
 * path. Local and remote requests share the `maxConcurrent` slots of the service. Since
 * nothing is copied, a local handler must not mutate its request nor the caller its reply,
 * and a request that could not be serialized still works locally (it fails with
 * `TypeError` once the call goes to another node).
 *
 * A handler that lets a nested call's {@linkcode ServiceUnavailableError} (or busy,
 * timeout) error escape makes its own caller see that error, whose "nothing ran" promise
 * then no longer holds: handlers should map nested service errors to their own.
 *
 * A sequential request/reply costs a NATS round trip (~2.7k/s per caller): batch requests
 * on hot paths (one call carrying many items) rather than calling per item.
 *
 * @example
 * ```ts
 * const nc = await connect({ servers: "127.0.0.1:4222" });
 * await using bus = new NatsServiceBus({ nc, cluster: "prod" });
 * const stop = await bus.serve("auth", async (request) => verify(request));
 * // On any node of cluster "prod":
 * try {
 *   const user = await other.call<User>("auth", { token }, { timeoutMs: 1000 });
 * } catch (error) {
 *   if (error instanceof ServiceUnavailableError) {} // nobody serves auth: retry later
 * }
 * await stop();
 * ```
 */
export class NatsServiceBus implements ServiceBus, AsyncDisposable {
  /** The cluster whose subjects this bus uses. */
  readonly cluster: string;
  /** Deadline of a call without `timeoutMs`, in milliseconds. */
  readonly defaultTimeoutMs: number;
  /** Requests each served service handles at once. */
  readonly maxConcurrent: number;
  readonly #nc: NatsConnection;
  readonly #logger: Logger;
  readonly #serving = new Map<string, Serving>();
  readonly #counters: Counters = { handled: 0, busy: 0, undecodable: 0, unanswered: 0 };
  /** Undecodable requests since the last log line, and when that line was written. */
  #unlogged = 0;
  #loggedAt = -Infinity;
  #closed = false;
  #closing: Promise<void> | undefined;

  /**
   * Makes a bus on `nc` that serves nothing yet (it still calls services of the cluster).
   *
   * @throws {TypeError} if `cluster` is empty.
   * @throws {RangeError} if `defaultTimeoutMs` or `maxConcurrent` is invalid.
   */
  constructor(options: NatsServiceBusOptions) {
    subjectToken("cluster", options.cluster);
    this.cluster = options.cluster;
    this.#nc = options.nc;
    this.#logger = options.logger ?? nullLogger;
    this.defaultTimeoutMs = checkTimeout(options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS);
    this.maxConcurrent = checkMaxConcurrent(options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT);
  }

  /** Counters for metrics and tests (a snapshot). */
  get stats(): NatsServiceBusStats {
    return { ...this.#counters };
  }

  /**
   * Subscribes to the service's subject in its queue group and resolves once the server
   * has the subscription. Rejects with `TypeError` if the service is already served by
   * this bus (or the name or handler is invalid), `ShutdownError` once the bus is closed,
   * or the connection's error. Stopping drains the subscription: requests already
   * delivered here are still answered.
   */
  serve(service: string, handler: ServiceHandler): Promise<() => Promise<void>> {
    let subject: string;
    let serving: Serving;
    try {
      subject = serviceSubject(this.cluster, service);
      checkHandler(service, handler);
      if (this.#closed) throw new ShutdownError(`Cannot serve ${service}: the bus is closed`);
      if (this.#serving.has(service)) {
        throw new TypeError(`Cannot serve ${service}: already served by this bus`);
      }
      serving = {
        served: new Served(service, handler, this.maxConcurrent),
        sub: undefined,
        stopping: undefined,
      };
      // Registered before subscribing: a second concurrent serve() fails at once.
      this.#serving.set(service, serving);
      try {
        serving.sub = this.#nc.subscribe(subject, {
          queue: subjectToken("service", service),
          callback: (error, msg) => {
            // An error escaping a NATS callback would kill a Deno worker: contain everything.
            try {
              if (error) this.#log("error", "Service subscription failed", { service, error });
              else this.#receive(serving.served, msg);
            } catch (failure) {
              this.#log("error", "Service request failed", { service, error: failure });
            }
          },
        });
      } catch (error) {
        this.#serving.delete(service);
        throw error;
      }
    } catch (error) {
      return Promise.reject(error);
    }
    const stop = () => this.#stop(serving);
    return this.#nc.flush().then(() => stop, async (error) => {
      await stop();
      throw error;
    });
  }

  /** Calls `service` (in-process if this bus serves it); see {@linkcode ServiceBus.call}. */
  call<R = unknown>(service: string, request: unknown, options?: ServiceCallOptions): Promise<R> {
    let subject: string;
    let timeoutMs: number;
    let data: Uint8Array;
    try {
      timeoutMs = checkTimeout(options?.timeoutMs ?? this.defaultTimeoutMs);
      subject = serviceSubject(this.cluster, service);
      if (this.#closed) {
        throw new ServiceUnavailableError(`Cannot call ${service}: the bus is closed`);
      }
      const local = this.#serving.get(service);
      if (local !== undefined) return callServed<R>(local.served, request, timeoutMs);
      try {
        data = serialize(request);
      } catch (error) {
        throw new TypeError(
          `Cannot serialize request for service ${service}: ${messageOf(error)}`,
          { cause: error },
        );
      }
      const maxPayload = this.#nc.info?.max_payload;
      if (maxPayload !== undefined && data.length > maxPayload) {
        throw new RangeError(
          `Cannot call ${service}: request of ${data.length} bytes exceeds max payload ${maxPayload}`,
        );
      }
      if (this.#nc.isClosed() || this.#nc.isDraining()) {
        throw new ServiceUnavailableError(`Cannot call ${service}: the connection is closed`);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#request<R>(service, subject, data, timeoutMs);
  }

  /**
   * Stops every served service (drains their subscriptions, waits for in-flight requests);
   * later calls reject with {@linkcode ServiceUnavailableError}. Does not close the
   * connection (the caller owns it).
   */
  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= Promise.all([...this.#serving.values()].map((s) => this.#stop(s)))
      .then(noop);
    return this.#closing;
  }

  /** Same as {@linkcode close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #request<R>(service: string, subject: string, data: Uint8Array, timeoutMs: number) {
    let msg: Msg;
    try {
      msg = await this.#nc.request(subject, data, { timeout: timeoutMs });
    } catch (error) {
      throw requestFailure(service, timeoutMs, error);
    }
    let reply: unknown;
    try {
      reply = deserialize(msg.data);
    } catch (error) {
      throw new TypeError(`Cannot decode reply of service ${service}`, { cause: error });
    }
    if (typeof reply === "object" && reply !== null) {
      const { ok, value, error } = reply as Record<string, unknown>;
      if (ok === true) return value as R;
      if (ok === false && isErrorData(error)) throw fromServiceErrorData(error);
    }
    throw new TypeError(`Cannot read reply of service ${service}: not a service reply`);
  }

  #receive(served: Served, msg: Msg): void {
    const service = served.service;
    if (!msg.reply) {
      this.#undecodable(service, "no reply subject");
      return;
    }
    let request: unknown;
    try {
      request = deserialize(msg.data);
    } catch (error) {
      this.#undecodable(service, messageOf(error));
      this.#answer(service, msg, {
        ok: false,
        error: { name: "TypeError", message: `Cannot decode request for service ${service}` },
      });
      return;
    }
    const running = served.run(request, (outcome) =>
      outcome.then(
        (value) => {
          this.#counters.handled++;
          this.#answer(service, msg, { ok: true, value });
        },
        (error) => {
          this.#counters.handled++;
          this.#answer(service, msg, { ok: false, error: toServiceErrorData(error) });
        },
      ));
    if (running === undefined) {
      this.#counters.busy++;
      this.#answer(service, msg, { ok: false, error: toServiceErrorData(served.busyError()) });
    }
  }

  /** Sends a reply; a value that cannot be encoded or sent becomes an error reply. */
  #answer(service: string, msg: Msg, reply: Reply): void {
    let data: Uint8Array;
    try {
      data = serialize(reply);
      const maxPayload = this.#nc.info?.max_payload;
      if (maxPayload !== undefined && data.length > maxPayload) {
        throw new RangeError(`Reply of ${data.length} bytes exceeds max payload ${maxPayload}`);
      }
    } catch (error) {
      const name = error instanceof RangeError ? "RangeError" : "TypeError";
      const message = `Cannot encode reply of service ${service}: ${messageOf(error)}`;
      data = serialize({ ok: false, error: { name, message } } satisfies Reply);
    }
    try {
      msg.respond(data);
    } catch (error) {
      this.#counters.unanswered++;
      this.#log("warn", "Cannot answer service request", { service, error });
    }
  }

  #undecodable(service: string, why: string): void {
    this.#counters.undecodable++;
    this.#unlogged++;
    const now = performance.now();
    if (now - this.#loggedAt < LOG_EVERY_MS) return;
    this.#log("warn", "Undecodable service requests dropped", {
      service,
      count: this.#unlogged,
      total: this.#counters.undecodable,
      why,
    });
    this.#unlogged = 0;
    this.#loggedAt = now;
  }

  #stop(serving: Serving): Promise<void> {
    serving.stopping ??= (async () => {
      const { service } = serving.served;
      // Calls go over NATS from now on (to the other servers, if any).
      if (this.#serving.get(service) === serving) this.#serving.delete(service);
      try {
        if (!this.#nc.isClosed()) await serving.sub?.drain();
      } catch (error) {
        // The connection closed meanwhile: nothing is left to drain.
        if (!this.#nc.isClosed()) this.#log("warn", "Cannot drain service", { service, error });
      }
      await serving.served.idle();
    })();
    return serving.stopping;
  }

  #log(level: "warn" | "error", message: string, fields: Record<string, unknown>): void {
    try {
      this.#logger.log(level, message, fields);
    } catch {
      // A throwing logger must not break serving.
    }
  }
}

/** Maps a failed NATS request to the bus's errors. */
function requestFailure(service: string, timeoutMs: number, error: unknown): Error {
  if (
    error instanceof NoRespondersError ||
    (error instanceof RequestError && error.isNoResponders())
  ) {
    return new ServiceUnavailableError(`No server for service ${service}`, { cause: error });
  }
  if (error instanceof ClosedConnectionError || error instanceof DrainingConnectionError) {
    // Refused before anything was published.
    return new ServiceUnavailableError(`Cannot call ${service}: the connection is closed`, {
      cause: error,
    });
  }
  const why = error instanceof TimeoutError
    ? `no answer within ${timeoutMs} ms`
    : `request failed (${messageOf(error)})`;
  return new ServiceTimeoutError(`Cannot call ${service}: ${why}; outcome unknown`, {
    cause: error,
  });
}
