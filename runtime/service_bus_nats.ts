/**
 * {@linkcode NatsServiceBus}: the {@linkcode ServiceBus} backend over NATS, one queue group
 * per service.
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
import { ServiceTimeoutError, ServiceUnavailableError } from "./errors.ts";
import { type Logger, nullLogger } from "./logger.ts";
import {
  fromServiceErrorData,
  isServiceErrorData,
  type ServiceBus,
  type ServiceCallOptions,
  type ServiceHandler,
  type ServiceReply,
  serviceSubject,
  toServiceErrorData,
} from "./service_bus.ts";
import { BusLifecycle, busLimits, callServed, checkTimeout, Served } from "./_served.ts";
import { subjectToken } from "./_subject.ts";

/** Undecodable requests are logged at most this often (each log line carries a count). */
const LOG_EVERY_MS = 5000;

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
  readonly #lifecycle = new BusLifecycle();

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
    const limits = busLimits(options);
    this.defaultTimeoutMs = limits.defaultTimeoutMs;
    this.maxConcurrent = limits.maxConcurrent;
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
      this.#lifecycle.checkServe(service, handler, this.#serving.has(service));
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
      if (this.#lifecycle.closed) {
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
    return this.#lifecycle.close(() =>
      Promise.all([...this.#serving.values()].map((s) => this.#stop(s)))
    );
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
      if (ok === false && isServiceErrorData(error)) throw fromServiceErrorData(error);
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
  #answer(service: string, msg: Msg, reply: ServiceReply): void {
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
      data = serialize({ ok: false, error: { name, message } } satisfies ServiceReply);
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

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
