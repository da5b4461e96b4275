/**
 * Errors of the protocol layer. Decoding never throws on bad input: it returns a
 * {@link FrameError} value. {@link ProtocolError} is the thrown form, used where only an
 * exception can carry the failure (a `TransformStream` errors its stream with it).
 *
 * @module
 */

import type { ErrorCode } from "./codes.ts";

/** Why bytes could not be turned into a frame: an {@link ErrorCode} and a message for logs. */
export interface FrameError {
  /** The wire error code (`FrameEmpty`, `FrameTooLarge`, ...). */
  readonly code: ErrorCode;
  /** What went wrong, with the offending value, for logs. */
  readonly message: string;
}

/** A {@link FrameError} as an exception. */
export class ProtocolError extends Error {
  /** Always `"ProtocolError"`. */
  override name = "ProtocolError";
  /** The wire error code. */
  readonly code: ErrorCode;

  /** Makes an error with a wire `code`; `options.cause` as for `Error`. */
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }

  /** Wraps a returned {@link FrameError}. */
  static from(error: FrameError): ProtocolError {
    return new ProtocolError(error.code, error.message);
  }
}
