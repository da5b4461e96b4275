/**
 * Stream framing for TCP and TLS: each frame is a 4-byte big-endian length, then that many
 * bytes of protobuf `Frame`. {@link encodeFrame} writes one; {@link FrameDecoder} turns
 * arbitrary chunks back into frames.
 *
 * @module
 */

import $protobuf from "protobufjs/minimal.js";
import { ErrorCode } from "./codes.ts";
import {
  type CodecOptions,
  decodeBody,
  encodeWithOffset,
  frameError,
  resolveMaxFrameSize,
  writeFrame,
} from "./codec.ts";
import type { FrameError } from "./errors.ts";
import { type Frame, type FrameInit, pb } from "./schema.ts";

/** Bytes of the length prefix. */
export const PREFIX_BYTES = 4;

/** Smallest buffer allocated for a partial frame (unless the frame is smaller). */
const MIN_PARTIAL = 1024;
const NO_FRAMES: readonly Frame[] = Object.freeze([]);

/**
 * What {@link FrameDecoder.push} and {@link FrameDecoder.end} return: the frames completed by
 * the call, and on failure the error. Frames decoded before the bad one are still returned.
 */
export type DecodeResult =
  | { readonly ok: true; readonly frames: readonly Frame[] }
  | { readonly ok: false; readonly frames: readonly Frame[]; readonly error: FrameError };

/**
 * Encodes a frame with its 4-byte big-endian length prefix, ready to write to a stream.
 * The result owns its `ArrayBuffer` (it may be transferred).
 *
 * @throws {RangeError} when the kind is not 1-5, or the encoded frame is larger than
 * `maxFrameSize` (default 64 KiB; the sender's bug: contents are limited well below it).
 *
 * @example
 * ```ts
 * await conn.write(encodeFrame({ id: u64(7), kind: FrameKind.PING }));
 * ```
 */
export function encodeFrame(frame: FrameInit, options?: CodecOptions): Uint8Array {
  const bytes = encodeWithOffset(frame, PREFIX_BYTES, resolveMaxFrameSize(options));
  const length = bytes.length - PREFIX_BYTES;
  bytes[0] = length >>> 24;
  bytes[1] = (length >>> 16) & 0xff;
  bytes[2] = (length >>> 8) & 0xff;
  bytes[3] = length & 0xff;
  return bytes;
}

/**
 * Encodes many frames, each with its length prefix, into one array: one allocation and one
 * `write` for a batch (what pays on a busy connection). Same checks as {@link encodeFrame};
 * an empty batch gives an empty array.
 *
 * @throws {RangeError} when a frame's kind is not 1-5, or a frame is larger than
 * `maxFrameSize`; nothing is returned for the batch then.
 *
 * @example
 * ```ts
 * await conn.write(encodeFrames(outbox.splice(0)));
 * ```
 */
export function encodeFrames(frames: Iterable<FrameInit>, options?: CodecOptions): Uint8Array {
  const max = resolveMaxFrameSize(options);
  const writer = new $protobuf.Writer();
  for (const frame of frames) {
    const start = writer.pos;
    writer.fixed32(0); // room for the prefix, patched below (fixed32 is little-endian)
    const length = writeFrame(writer, frame, max);
    const buf = writer.buf; // read after encoding: the writer may have grown
    buf[start] = length >>> 24;
    buf[start + 1] = (length >>> 16) & 0xff;
    buf[start + 2] = (length >>> 8) & 0xff;
    buf[start + 3] = length & 0xff;
  }
  return writer.finishInto(new Uint8Array(writer.pos));
}

/**
 * Incremental decoder for a length-prefixed frame stream (one per connection).
 *
 * - Chunks may split frames anywhere and pack many frames; {@link push} returns the frames
 *   each chunk completes.
 * - Bad input never throws: a zero length (`FrameEmpty`), a length over `maxFrameSize`
 *   (`FrameTooLarge`, reported as soon as the 4 prefix bytes are in, before any of the body
 *   is buffered), bytes that are not a Frame (`FrameUndecodable`), or a kind that is not
 *   1-5 (`FrameKindInvalid`) come back as `{ ok: false, error }`. The stream cannot be
 *   resynchronized after that: the decoder stays failed and answers every later call with
 *   the same error (close the connection with `CloseCode.BadFrame`).
 * - Memory: an idle decoder holds no buffer. A partial frame is copied into a buffer that
 *   starts at 1 KiB (or the frame's size if smaller) and doubles up to the frame's size, so
 *   a peer announcing a large frame costs memory in proportion to what it actually sent;
 *   {@link bufferedBytes} never exceeds `maxFrameSize + 4`. Complete frames inside a chunk
 *   are decoded in place, and decoded frames never reference the chunk: the caller may reuse
 *   its read buffer as soon as `push` returns.
 *
 * @example
 * ```ts
 * const decoder = new FrameDecoder({ maxFrameSize: 65536 });
 * const result = decoder.push(chunk);
 * for (const frame of result.frames) handle(frame);
 * if (!result.ok) close(CloseCode.BadFrame, result.error.code);
 * ```
 */
export class FrameDecoder {
  readonly #max: number;
  /** Value of the length prefix read so far (while `#prefixBytes` is 1-3). */
  #prefix = 0;
  #prefixBytes = 0;
  /** The partial frame: `#filled` bytes of `#length`; its capacity grows up to `#length`. */
  #partial: Uint8Array | undefined;
  #length = 0;
  #filled = 0;
  #error: FrameError | undefined;

  /**
   * Makes an idle decoder.
   *
   * @throws {RangeError} for a `maxFrameSize` that is not an integer from 1 to 2^30.
   */
  constructor(options?: CodecOptions) {
    this.#max = resolveMaxFrameSize(options);
  }

  /** The largest frame body accepted, in bytes. */
  get maxFrameSize(): number {
    return this.#max;
  }

  /** Memory held for an incomplete frame: buffer capacity plus prefix bytes seen (0 if idle). */
  get bufferedBytes(): number {
    return (this.#partial?.length ?? 0) + this.#prefixBytes;
  }

  /** The error that failed the decoder, if any. */
  get error(): FrameError | undefined {
    return this.#error;
  }

  /** Feeds the next chunk of the stream; returns the frames it completes. */
  push(chunk: Uint8Array): DecodeResult {
    if (this.#error) return { ok: false, frames: NO_FRAMES, error: this.#error };
    let frames: Frame[] | undefined;
    const end = chunk.length;
    let pos = 0;
    while (pos < end) {
      if (this.#partial) {
        pos = this.#fill(chunk, pos);
        if (this.#filled < this.#length) break;
        // The capacity never exceeds the frame's length: the buffer is exactly the frame.
        const body = this.#partial;
        this.#partial = undefined;
        const decoded = decodeBody(body);
        if (!(decoded instanceof pb.Frame)) return this.#fail(frames, decoded);
        (frames ??= []).push(decoded);
        continue;
      }
      let length: number;
      if (this.#prefixBytes === 0 && end - pos >= PREFIX_BYTES) {
        length = ((chunk[pos] << 24) | (chunk[pos + 1] << 16) | (chunk[pos + 2] << 8) |
          chunk[pos + 3]) >>> 0;
        pos += PREFIX_BYTES;
      } else {
        // A prefix split across chunks: keep it as a number, not a buffer.
        this.#prefix = this.#prefix * 256 + chunk[pos++];
        if (++this.#prefixBytes < PREFIX_BYTES) continue;
        length = this.#prefix;
        this.#prefix = 0;
        this.#prefixBytes = 0;
      }
      if (length === 0) {
        return this.#fail(
          frames,
          frameError(ErrorCode.FrameEmpty, "Cannot decode frame: length 0"),
        );
      }
      if (length > this.#max) {
        const message = `Cannot decode frame: length ${length} exceeds limit ${this.#max}`;
        return this.#fail(frames, frameError(ErrorCode.FrameTooLarge, message));
      }
      if (end - pos >= length) {
        const decoded = decodeBody(chunk.subarray(pos, pos + length));
        pos += length;
        if (!(decoded instanceof pb.Frame)) return this.#fail(frames, decoded);
        (frames ??= []).push(decoded);
      } else {
        this.#length = length;
        this.#filled = 0;
        this.#partial = new Uint8Array(Math.min(length, Math.max(MIN_PARTIAL, 2 * (end - pos))));
        pos = this.#fill(chunk, pos);
      }
    }
    return { ok: true, frames: frames ?? NO_FRAMES };
  }

  /**
   * Marks the end of the stream: a frame left incomplete is a `FrameTruncated` error. The
   * decoder is idle (or failed) afterwards.
   */
  end(): DecodeResult {
    if (this.#error) return { ok: false, frames: NO_FRAMES, error: this.#error };
    if (this.#partial === undefined && this.#prefixBytes === 0) {
      return { ok: true, frames: NO_FRAMES };
    }
    const message = this.#partial
      ? `Cannot decode frame: stream ended after ${this.#filled} of ${this.#length} bytes`
      : `Cannot decode frame: stream ended after ${this.#prefixBytes} of 4 prefix bytes`;
    return this.#fail(undefined, frameError(ErrorCode.FrameTruncated, message));
  }

  /** Copies as much of the partial frame as `chunk` holds from `pos`; returns the new pos. */
  #fill(chunk: Uint8Array, pos: number): number {
    const take = Math.min(this.#length - this.#filled, chunk.length - pos);
    let partial = this.#partial!;
    if (this.#filled + take > partial.length) {
      const capacity = Math.min(this.#length, Math.max(2 * partial.length, this.#filled + take));
      const grown = new Uint8Array(capacity);
      grown.set(partial.subarray(0, this.#filled));
      partial = this.#partial = grown;
    }
    partial.set(chunk.subarray(pos, pos + take), this.#filled);
    this.#filled += take;
    return pos + take;
  }

  #fail(frames: Frame[] | undefined, error: FrameError): DecodeResult {
    this.#error = error;
    this.#partial = undefined;
    this.#prefix = 0;
    this.#prefixBytes = 0;
    return { ok: false, frames: frames ?? NO_FRAMES, error };
  }
}
