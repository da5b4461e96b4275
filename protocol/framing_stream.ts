/**
 * Web-stream adapters for the framing: pipe a connection's bytes through
 * {@link FrameDecoderStream} to get frames, and frames through {@link FrameEncoderStream} to
 * get bytes. A bad frame errors the stream with a {@link ProtocolError} carrying its code.
 *
 * @module
 */

import { type CodecOptions, resolveMaxFrameSize } from "./codec.ts";
import { ProtocolError } from "./errors.ts";
import { encodeFrame, FrameDecoder } from "./framing.ts";
import type { Frame, FrameInit } from "./schema.ts";

/**
 * Length-prefixed bytes in, decoded frames out. Errors the stream with a
 * {@link ProtocolError} on a bad frame, or on a stream that ends inside a frame.
 *
 * @example
 * ```ts
 * for await (const frame of conn.readable.pipeThrough(new FrameDecoderStream())) {
 *   handle(frame);
 * }
 * ```
 */
export class FrameDecoderStream extends TransformStream<Uint8Array, Frame> {
  /**
   * Makes the stream; `options.maxFrameSize` as for the framing functions.
   *
   * @throws {RangeError} for a bad `maxFrameSize`.
   */
  constructor(options?: CodecOptions) {
    const decoder = new FrameDecoder(options);
    super({
      transform(chunk, controller) {
        const result = decoder.push(chunk);
        for (const frame of result.frames) controller.enqueue(frame);
        if (!result.ok) controller.error(ProtocolError.from(result.error));
      },
      flush(controller) {
        const result = decoder.end();
        if (!result.ok) controller.error(ProtocolError.from(result.error));
      },
    });
  }
}

/**
 * Frames in, length-prefixed bytes out (one chunk per frame). An oversized or kindless
 * frame errors the stream with the `RangeError` of {@link encodeFrame}.
 */
export class FrameEncoderStream extends TransformStream<FrameInit, Uint8Array> {
  /**
   * Makes the stream; `options.maxFrameSize` as for the framing functions.
   *
   * @throws {RangeError} for a bad `maxFrameSize`.
   */
  constructor(options?: CodecOptions) {
    const resolved = { maxFrameSize: resolveMaxFrameSize(options) };
    super({
      transform(frame, controller) {
        controller.enqueue(encodeFrame(frame, resolved));
      },
    });
  }
}
