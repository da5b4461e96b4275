import assert from "node:assert/strict";
import { concat, Prng, randomFrame } from "./_testing.ts";
import { ErrorCode } from "./codes.ts";
import { ProtocolError } from "./errors.ts";
import { encodeFrame } from "./framing.ts";
import { FrameDecoderStream, FrameEncoderStream } from "./framing_stream.ts";
import { FrameKind } from "./schema.ts";
import { u64, u64ToString } from "./u64.ts";

Deno.test("FrameEncoderStream and FrameDecoderStream round-trip frames", async () => {
  const rng = new Prng(5);
  const frames = Array.from({ length: 50 }, () => randomFrame(rng, 30));
  const bytes = ReadableStream.from(frames).pipeThrough(new FrameEncoderStream());
  // Re-chunk the byte stream into 7-byte pieces to split frames across chunks.
  const all = concat(await Array.fromAsync(bytes));
  const pieces = Array.from(
    { length: Math.ceil(all.length / 7) },
    (_, i) => all.slice(i * 7, i * 7 + 7),
  );
  const decoded = await Array.fromAsync(
    ReadableStream.from(pieces).pipeThrough(new FrameDecoderStream()),
  );
  assert.equal(decoded.length, frames.length);
  decoded.forEach((frame, i) => assert.deepEqual(encodeFrame(frame), encodeFrame(frames[i])));
});

Deno.test("FrameDecoderStream errors with a ProtocolError carrying the code", async () => {
  const good = encodeFrame({ id: u64(3), kind: FrameKind.PING });
  const stream = ReadableStream.from([good, new Uint8Array([0, 0, 0, 0])])
    .pipeThrough(new FrameDecoderStream());
  const reader = stream.getReader();
  const first = await reader.read();
  assert.equal(u64ToString(first.value?.id), "3");
  await assert.rejects(
    reader.read(),
    (e) => e instanceof ProtocolError && e.code === ErrorCode.FrameEmpty,
  );
});

Deno.test("FrameDecoderStream errors with FrameTruncated when the input ends mid-frame", async () => {
  const cut = encodeFrame({ id: u64(3), kind: FrameKind.PING }).subarray(0, 5);
  const stream = ReadableStream.from([cut]).pipeThrough(new FrameDecoderStream());
  await assert.rejects(
    Array.fromAsync(stream),
    (e) => e instanceof ProtocolError && e.code === ErrorCode.FrameTruncated,
  );
});

Deno.test("FrameEncoderStream rejects a bad maxFrameSize at construction", () => {
  assert.throws(() => new FrameEncoderStream({ maxFrameSize: 0 }), RangeError);
  assert.throws(() => new FrameDecoderStream({ maxFrameSize: -5 }), RangeError);
});
