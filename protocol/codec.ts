/**
 * One frame <-> its protobuf bytes, with the size limit and kind check every transport
 * applies. WebSocket uses {@link encodeFrameBody}/{@link decodeFrameBody} directly (one
 * binary message = one frame); `framing.ts` adds the TCP/TLS length prefix.
 *
 * Decoded frames never share memory with the input: strings are decoded and `bytes` fields
 * are copied, so a caller may reuse its read buffer as soon as a call returns.
 *
 * @module
 */

import $protobuf from "protobufjs/minimal.js";
import { ErrorCode } from "./codes.ts";
import { DEFAULT_MAX_FRAME, MAX_FRAME_LIMIT } from "./constants.ts";
import type { FrameError } from "./errors.ts";
import { type Frame, type FrameInit, FrameKind, pb } from "./schema.ts";

/** Options shared by the encoders and decoders. */
export interface CodecOptions {
  /**
   * Largest frame body in bytes (not counting a length prefix); default
   * {@link DEFAULT_MAX_FRAME}. Must be an integer from 1 to 2^30.
   */
  maxFrameSize?: number;
}

/** Result of {@link decodeFrameBody}: the frame, or why there is none. */
export type DecodeBodyResult =
  | { readonly ok: true; readonly frame: Frame }
  | { readonly ok: false; readonly error: FrameError };

/** A reader whose `bytes` fields are copies, never views into the caller's buffer. */
class OwnedReader extends $protobuf.Reader {
  override raw(start: number, end: number): Uint8Array {
    return this.buf.slice(start, end);
  }
}

/**
 * Validates `options.maxFrameSize` and returns it (or the default).
 *
 * @throws {RangeError} when it is not an integer from 1 to 2^30.
 */
export function resolveMaxFrameSize(options: CodecOptions | undefined): number {
  const max = options?.maxFrameSize ?? DEFAULT_MAX_FRAME;
  if (!Number.isInteger(max) || max < 1 || max > MAX_FRAME_LIMIT) {
    throw new RangeError(`Cannot use maxFrameSize ${max}: expected an integer from 1 to 2^30`);
  }
  return max;
}

/** Shorthand for a failed decode. */
export function frameError(code: ErrorCode, message: string): FrameError {
  return { code, message };
}

/**
 * Appends the encoding of `frame` to `writer` and returns its length in bytes.
 *
 * @throws {RangeError} when the kind is not 1-5 or the encoding exceeds `max` bytes (the
 * writer then holds a partial frame: discard it).
 */
export function writeFrame(writer: $protobuf.Writer, frame: FrameInit, max: number): number {
  const kind = frame.kind ?? 0;
  if (!(kind >= FrameKind.REQUEST && kind <= FrameKind.PONG)) {
    throw new RangeError(`Cannot encode frame: kind ${kind} is not valid`);
  }
  const start = writer.pos;
  pb.Frame.encode(frame, writer);
  const length = writer.pos - start;
  if (length > max) {
    throw new RangeError(`Cannot encode frame: length ${length} exceeds limit ${max}`);
  }
  return length;
}

/**
 * Encodes `frame` into a new array with `offset` free bytes in front (for a length prefix).
 * The result owns its `ArrayBuffer` (not a view into a pooled slab), so it may be
 * transferred to another worker.
 *
 * @throws {RangeError} when the kind is not 1-5 or the body exceeds `max` bytes.
 */
export function encodeWithOffset(frame: FrameInit, offset: number, max: number): Uint8Array {
  // The base Writer, not Writer.create(): Node's BufferWriter is slower here, and its
  // buffers come from a shared pool.
  const writer = new $protobuf.Writer();
  const length = writeFrame(writer, frame, max);
  return writer.finishInto(new Uint8Array(offset + length), offset);
}

/**
 * Decodes one frame body of any length (the caller checked the size): a frame, or a
 * {@link FrameError} with `FrameUndecodable` or `FrameKindInvalid`. Never throws.
 */
export function decodeBody(bytes: Uint8Array): Frame | FrameError {
  let frame: Frame;
  try {
    frame = pb.Frame.decode(new OwnedReader(bytes));
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    return frameError(ErrorCode.FrameUndecodable, `Cannot decode frame: ${detail}`);
  }
  const kind = frame.kind;
  if (!(kind >= FrameKind.REQUEST && kind <= FrameKind.PONG)) {
    return frameError(ErrorCode.FrameKindInvalid, `Cannot decode frame: kind ${kind} is not valid`);
  }
  return frame;
}

/**
 * Encodes a frame without a length prefix: one WebSocket binary message.
 *
 * @throws {RangeError} when the kind is not 1-5, or the encoded frame is larger than
 * `maxFrameSize` (a bug of the sender: contents are limited well below it).
 *
 * @example
 * ```ts
 * socket.send(encodeFrameBody({ id: u64(1), kind: FrameKind.PING }));
 * ```
 */
export function encodeFrameBody(frame: FrameInit, options?: CodecOptions): Uint8Array {
  return encodeWithOffset(frame, 0, resolveMaxFrameSize(options));
}

/**
 * Decodes one WebSocket binary message into a frame. Never throws on bad input: an empty
 * message (`FrameEmpty`), one over `maxFrameSize` (`FrameTooLarge`), bytes that are not a
 * Frame (`FrameUndecodable`) or a frame whose kind is not 1-5 (`FrameKindInvalid`) come back
 * as `{ ok: false, error }`.
 *
 * @throws {RangeError} only for a bad `maxFrameSize` option.
 *
 * @example
 * ```ts
 * const result = decodeFrameBody(new Uint8Array(event.data));
 * if (!result.ok) closeWith(result.error.code);
 * ```
 */
export function decodeFrameBody(bytes: Uint8Array, options?: CodecOptions): DecodeBodyResult {
  const max = resolveMaxFrameSize(options);
  if (bytes.length === 0) {
    return {
      ok: false,
      error: frameError(ErrorCode.FrameEmpty, "Cannot decode frame: it is empty"),
    };
  }
  if (bytes.length > max) {
    const message = `Cannot decode frame: length ${bytes.length} exceeds limit ${max}`;
    return { ok: false, error: frameError(ErrorCode.FrameTooLarge, message) };
  }
  const decoded = decodeBody(bytes);
  return decoded instanceof pb.Frame ? { ok: true, frame: decoded } : { ok: false, error: decoded };
}
