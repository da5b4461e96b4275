/**
 * Errors the actor runtime raises or returns. Each sets `name` and accepts `{ cause }`.
 *
 * @module
 */

/** An `ask` got no reply before its deadline. The outcome is unknown. */
export class AskTimeoutError extends Error {
  override name = "AskTimeoutError";
}

/** The target's mailbox was full and its overflow policy rejected the message. */
export class MailboxFullError extends Error {
  override name = "MailboxFullError";
}

/** The message could not be delivered: no such actor, stopped, or no route. */
export class DeadLetterError extends Error {
  override name = "DeadLetterError";
}

/** The actor failed while handling the message (the message is not retried). */
export class ActorFailedError extends Error {
  override name = "ActorFailedError";
}

/**
 * The message reached a worker that does not own its virtual actor, after one forward
 * (views were changing): the sender should look the owner up again and retry if the
 * message is idempotent.
 */
export class NotOwnerError extends Error {
  override name = "NotOwnerError";
}

/** The runtime (or the target's worker) is shutting down. */
export class ShutdownError extends Error {
  override name = "ShutdownError";
}

/**
 * Thrown by a service bus `call` when no node serves the service right now (NATS "no
 * responders", no local handler, or the bus or its connection is closed). Safe to retry
 * later: nothing ran.
 */
export class ServiceUnavailableError extends Error {
  /** Always `"ServiceUnavailableError"`. */
  override name = "ServiceUnavailableError";
  /** Always `"SERVICE_UNAVAILABLE"`, for callers that test `error.code`. */
  readonly code = "SERVICE_UNAVAILABLE";
}

/**
 * Thrown by a service bus `call` when no answer came within the deadline (or the
 * connection was lost while waiting): the outcome is unknown, the handler may still run.
 */
export class ServiceTimeoutError extends Error {
  /** Always `"ServiceTimeoutError"`. */
  override name = "ServiceTimeoutError";
  /** Always `"SERVICE_TIMEOUT"`, for callers that test `error.code`. */
  readonly code = "SERVICE_TIMEOUT";
}

/**
 * Thrown by a service bus `call` when the server it reached already handles
 * `maxConcurrent` requests of the service: the request was refused before its handler
 * ran. Retry later (with backoff).
 */
export class ServiceBusyError extends Error {
  /** Always `"ServiceBusyError"`. */
  override name = "ServiceBusyError";
  /** Always `"SERVICE_BUSY"`, for callers that test `error.code`. */
  readonly code = "SERVICE_BUSY";
}

/** Serializable form of an error, for replies that cross workers or nodes. */
export interface ErrorData {
  readonly name: string;
  readonly message: string;
}

const KNOWN: Record<string, new (message: string) => Error> = {
  AskTimeoutError,
  MailboxFullError,
  DeadLetterError,
  ActorFailedError,
  ShutdownError,
  NotOwnerError,
  ServiceUnavailableError,
  ServiceTimeoutError,
  ServiceBusyError,
  TypeError,
  RangeError,
};

/** Turns any thrown value into plain data that survives `postMessage` and JSON. */
export function toErrorData(error: unknown): ErrorData {
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: "Error", message: String(error) };
}

/** Rebuilds an error from {@link toErrorData}, keeping runtime error classes. */
export function fromErrorData(data: ErrorData): Error {
  // Own properties only: a name such as "constructor" from another worker is just a name.
  const Known = Object.hasOwn(KNOWN, data.name) ? KNOWN[data.name] : undefined;
  if (Known) return new Known(data.message);
  const error = new Error(data.message);
  error.name = data.name;
  return error;
}
