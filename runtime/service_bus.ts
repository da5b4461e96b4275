/**
 * The service seam: request/reply to service actors (auth, offline sync, persistence)
 * served by whichever nodes run them. This file holds the {@linkcode ServiceBus} port, its
 * subjects and its wire codec; the backends sit beside it:
 * `service_bus_nats.ts` ({@linkcode NatsServiceBus}) spreads requests over every server of
 * a service with a NATS queue group; `service_bus_local.ts` ({@linkcode LocalServiceBus})
 * serves a lone node in-process. Both run a handler served by the same bus in-process,
 * without NATS and without serialization. Their errors live in `errors.ts`.
 *
 * @module
 */

import { type ErrorData, fromErrorData } from "./errors.ts";
import { subjectToken } from "./_subject.ts";

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
 * `RangeError` and the runtime's errors.ts classes, rebuilt by name);
 * {@linkcode ServiceUnavailableError}; {@linkcode ServiceBusyError};
 * {@linkcode ServiceTimeoutError}; `TypeError` for a request that cannot be serialized,
 * `RangeError` for an invalid timeout or an oversized request.
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

/** The wire form of a thrown error: {@linkcode ErrorData} and a string or number `code`. */
export interface ServiceErrorData extends ErrorData {
  readonly code?: string | number;
}

/** The wire form of an answer (`node:v8`-encoded by {@linkcode NatsServiceBus}). */
export type ServiceReply = { ok: true; value: unknown } | { ok: false; error: ServiceErrorData };

/** Any thrown value as plain data for a reply; keeps a string or number `code`. */
export function toServiceErrorData(error: unknown): ServiceErrorData {
  if (!(error instanceof Error)) return { name: "Error", message: String(error) };
  const code = (error as { code?: unknown }).code;
  const data = { name: String(error.name), message: String(error.message) };
  return typeof code === "string" || typeof code === "number" ? { ...data, code } : data;
}

/**
 * Rebuilds an error from {@linkcode toServiceErrorData}: the runtime's classes by name
 * (see {@linkcode fromErrorData}), with the wire `code` unless the class sets its own.
 */
export function fromServiceErrorData(data: ServiceErrorData): Error {
  const error = fromErrorData(data);
  if (data.code !== undefined && !Object.hasOwn(error, "code")) {
    Object.assign(error, { code: data.code });
  }
  return error;
}

/** Whether `value` (decoded from the wire) is {@linkcode ServiceErrorData}. */
export function isServiceErrorData(value: unknown): value is ServiceErrorData {
  if (typeof value !== "object" || value === null) return false;
  const { name, message, code } = value as Record<string, unknown>;
  return typeof name === "string" && typeof message === "string" &&
    (code === undefined || typeof code === "string" || typeof code === "number");
}
