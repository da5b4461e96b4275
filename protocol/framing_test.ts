import assert from "node:assert/strict";
import { concat, Prng, randomFrame } from "./_testing.ts";
import { ErrorCode } from "./codes.ts";
import { DEFAULT_MAX_FRAME } from "./constants.ts";
import { type DecodeResult, encodeFrame, encodeFrames, FrameDecoder } from "./framing.ts";
import { type Frame, FrameKind, pb } from "./schema.ts";
import { u64, u64ToString } from "./u64.ts";

const KNOWN_DECODE_ERRORS = new Set<number>([
  ErrorCode.FrameEmpty,
  ErrorCode.FrameTooLarge,
  ErrorCode.FrameUndecodable,
  ErrorCode.FrameKindInvalid,
  ErrorCode.FrameTruncated,
]);

function prefix(length: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, length);
  return out;
}

/** Splits `bytes` at random points into chunks of 0..maxChunk bytes. */
function randomChunks(rng: Prng, bytes: Uint8Array, maxChunk: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < bytes.length;) {
    const size = rng.next() < 0.05 ? 0 : rng.int(1, maxChunk);
    chunks.push(bytes.slice(at, at + size));
    at += size;
  }
  return chunks;
}

function pushAll(decoder: FrameDecoder, chunks: readonly Uint8Array[]): Frame[] {
  const frames: Frame[] = [];
  for (const chunk of chunks) {
    const result = decoder.push(chunk);
    assert.ok(result.ok, !result.ok ? result.error.message : "");
    frames.push(...result.frames);
  }
  return frames;
}

function assertError(result: DecodeResult, code: number): void {
  assert.equal(result.ok, false);
  if (!result.ok) assert.equal(result.error.code, code, result.error.message);
}

Deno.test("encodeFrame() writes a 4-byte big-endian length before the protobuf body", () => {
  const frame = { id: u64(7), kind: FrameKind.PING };
  const bytes = encodeFrame(frame);
  const body = pb.Frame.encode(frame).finish();
  assert.deepEqual([...bytes.subarray(0, 4)], [0, 0, 0, body.length]);
  assert.deepEqual([...bytes.subarray(4)], [...body]);
  assert.equal(bytes.byteOffset, 0);
  assert.equal(bytes.buffer.byteLength, bytes.length, "owns its ArrayBuffer");
});

Deno.test("encodeFrame() throws RangeError for an invalid kind or an oversized frame", () => {
  assert.throws(() => encodeFrame({ id: u64(1) }), RangeError);
  assert.throws(() => encodeFrame({ id: u64(1), kind: 9 as FrameKind }), RangeError);
  const big = { kind: FrameKind.NOTIFY, typing: { conversationId: "x".repeat(200) } };
  assert.throws(() => encodeFrame(big, { maxFrameSize: 100 }), /length \d+ exceeds limit 100/);
  assert.equal(encodeFrame(big, { maxFrameSize: 300 }).length > 200, true);
});

Deno.test("encodeFrames() equals the concatenation of encodeFrame() calls", () => {
  const rng = new Prng(11);
  const frames = Array.from({ length: 300 }, () => randomFrame(rng, 80));
  assert.deepEqual(encodeFrames(frames), concat(frames.map((f) => encodeFrame(f))));
  assert.equal(encodeFrames([]).length, 0);
  assert.throws(
    () =>
      encodeFrames([frames[0], { kind: FrameKind.NOTIFY, typing: { userId: "x".repeat(99) } }], {
        maxFrameSize: 50,
      }),
    RangeError,
  );
});

Deno.test("FrameDecoder.push() decodes frames split and packed in any way (seeded property test)", () => {
  for (let seed = 1; seed <= 200; seed++) {
    const rng = new Prng(seed);
    const frames = Array.from({ length: rng.int(1, 40) }, () => randomFrame(rng, rng.int(0, 300)));
    const encoded = frames.map((f) => encodeFrame(f));
    const stream = concat(encoded);
    const decoder = new FrameDecoder();
    const decoded = pushAll(decoder, randomChunks(rng, stream, rng.pick([1, 3, 7, 64, 4096])));
    assert.equal(decoded.length, frames.length, `seed ${seed}`);
    decoded.forEach((frame, i) => {
      assert.deepEqual(encodeFrame(frame), encoded[i], `seed ${seed} frame ${i}`);
    });
    assert.equal(decoder.bufferedBytes, 0, "an idle decoder holds no buffer");
    assert.equal(decoder.end().ok, true);
  }
});

Deno.test("FrameDecoder.push() returns frames whose values match what was encoded", () => {
  const decoder = new FrameDecoder();
  const big = "18446744073709551615";
  const result = decoder.push(encodeFrame({
    id: u64(big),
    kind: FrameKind.NOTIFY,
    messageNotify: { message: { seq: u64(2n ** 53n + 1n), content: { text: "héllo 😀" } } },
  }));
  assert.ok(result.ok);
  const [frame] = result.frames;
  assert.equal(u64ToString(frame.id), big);
  assert.equal(frame.body, "messageNotify");
  if (frame.body !== "messageNotify") return;
  assert.equal(u64ToString(frame.messageNotify.message?.seq), "9007199254740993");
  assert.equal(frame.messageNotify.message?.content?.text, "héllo 😀");
});

Deno.test("FrameDecoder.push() keeps no reference to the pushed chunk", () => {
  const data = new Uint8Array([1, 2, 3, 4, 5]);
  const frame = {
    kind: FrameKind.NOTIFY,
    messageNotify: { message: { content: { type: pb.Content.Type.CUSTOM, data } } },
  };
  const whole = encodeFrame(frame);
  const decoder = new FrameDecoder();
  const [decoded] = decoder.push(whole).frames;
  const [split] = [
    ...decoder.push(whole.subarray(0, 10)).frames,
    ...decoder.push(whole.slice(10)).frames,
  ];
  whole.fill(0); // the caller reuses its read buffer
  for (const f of [decoded, split]) {
    assert.deepEqual([...(f.messageNotify?.message?.content?.data ?? [])], [1, 2, 3, 4, 5]);
  }
});

Deno.test("FrameDecoder.push() rejects a zero length with FrameEmpty", () => {
  const decoder = new FrameDecoder();
  const good = encodeFrame({ id: u64(1), kind: FrameKind.PING });
  const result = decoder.push(concat([good, prefix(0), good]));
  assertError(result, ErrorCode.FrameEmpty);
  assert.equal(result.frames.length, 1, "frames before the bad one are returned");
});

Deno.test("FrameDecoder.push() rejects an oversized length as soon as its prefix is complete", () => {
  const decoder = new FrameDecoder({ maxFrameSize: 1000 });
  assert.equal(decoder.push(prefix(1001).subarray(0, 3)).ok, true);
  assert.equal(decoder.bufferedBytes, 3);
  const result = decoder.push(prefix(1001).subarray(3));
  assertError(result, ErrorCode.FrameTooLarge);
  assert.match(result.ok ? "" : result.error.message, /length 1001 exceeds limit 1000/);
  assert.equal(decoder.bufferedBytes, 0, "the oversized body is never buffered");
  const huge = new FrameDecoder();
  assertError(huge.push(new Uint8Array([0xff, 0xff, 0xff, 0xff])), ErrorCode.FrameTooLarge);
});

Deno.test("FrameDecoder.push() accepts a frame of exactly maxFrameSize", () => {
  const frame = { kind: FrameKind.NOTIFY, typing: { conversationId: "c".repeat(100) } };
  const bytes = encodeFrame(frame);
  const max = bytes.length - 4;
  assert.equal(new FrameDecoder({ maxFrameSize: max }).push(bytes).ok, true);
  assertError(new FrameDecoder({ maxFrameSize: max - 1 }).push(bytes), ErrorCode.FrameTooLarge);
});

Deno.test("FrameDecoder.push() rejects bytes that are not a Frame with FrameUndecodable", () => {
  // Field 1 as a varint that never ends; then a length-delimited field running past the end.
  for (const body of [[0x08, 0xff, 0xff], [0x12, 0x10, 0x01], [0x0f], [0x08]]) {
    const result = new FrameDecoder().push(concat([prefix(body.length), new Uint8Array(body)]));
    assertError(result, ErrorCode.FrameUndecodable);
  }
});

Deno.test("FrameDecoder.push() rejects a missing or unknown kind with FrameKindInvalid", () => {
  const bodies = [
    [0x08, 0x05], // id 5, no kind
    [0x10, 0x06], // kind 6
    [0x10, 0xff, 0xff, 0xff, 0xff, 0x0f], // kind -1
  ];
  for (const body of bodies) {
    const result = new FrameDecoder().push(concat([prefix(body.length), new Uint8Array(body)]));
    assertError(result, ErrorCode.FrameKindInvalid);
  }
});

Deno.test("FrameDecoder stays failed after an error and answers with the same error", () => {
  const decoder = new FrameDecoder();
  const first = decoder.push(prefix(0));
  assertError(first, ErrorCode.FrameEmpty);
  const again = decoder.push(encodeFrame({ id: u64(1), kind: FrameKind.PING }));
  assertError(again, ErrorCode.FrameEmpty);
  assert.equal(again.frames.length, 0);
  assertError(decoder.end(), ErrorCode.FrameEmpty);
  assert.equal(decoder.error?.code, ErrorCode.FrameEmpty);
});

Deno.test("FrameDecoder.end() reports a stream cut inside a frame with FrameTruncated", () => {
  const bytes = encodeFrame({ id: u64(1), kind: FrameKind.REQUEST, ok: {} });
  for (let cut = 1; cut < bytes.length; cut++) {
    const decoder = new FrameDecoder();
    assert.equal(decoder.push(bytes.subarray(0, cut)).ok, true);
    assertError(decoder.end(), ErrorCode.FrameTruncated);
    assert.equal(decoder.bufferedBytes, 0);
  }
  const clean = new FrameDecoder();
  clean.push(bytes);
  assert.deepEqual(clean.end(), { ok: true, frames: [] });
});

Deno.test("FrameDecoder buffers in proportion to the bytes received, not the announced length", () => {
  const decoder = new FrameDecoder();
  decoder.push(concat([prefix(DEFAULT_MAX_FRAME), new Uint8Array(10)]));
  assert.ok(decoder.bufferedBytes <= 1024, `holds ${decoder.bufferedBytes}`);
  for (let i = 0; i < 100; i++) decoder.push(new Uint8Array(100));
  assert.ok(decoder.bufferedBytes <= 2 * 10_010, `holds ${decoder.bufferedBytes}`);
  assert.ok(decoder.bufferedBytes <= DEFAULT_MAX_FRAME);
});

Deno.test("FrameDecoder never throws and stays bounded on random bytes (seeded fuzz)", () => {
  const max = 4096;
  const seen = new Map<number, number>();
  let decoded = 0;
  for (let seed = 1; seed <= 400; seed++) {
    const rng = new Prng(seed);
    const decoder = new FrameDecoder({ maxFrameSize: max });
    // A mix of valid frames, plausible prefixes with random bodies, bodies with a random kind,
    // huge prefixes and loose bytes, so that every path of the decoder is reached.
    const parts: Uint8Array[] = [];
    for (let i = rng.int(1, 30); i > 0; i--) {
      const dice = rng.next();
      if (dice < 0.5) parts.push(encodeFrame(randomFrame(rng, 40)));
      else if (dice < 0.7) {
        const body = rng.bytes(rng.int(0, 300));
        parts.push(prefix(body.length), body);
      } else if (dice < 0.8) parts.push(prefix(2), new Uint8Array([0x10, rng.int(0, 255)]));
      else if (dice < 0.9) parts.push(prefix(rng.int(0, 2 ** 32 - 1)));
      else parts.push(rng.bytes(rng.int(1, 8)));
    }
    let stream = concat(parts);
    // A quarter of the runs: valid frames only, cut short (the peer vanished mid-frame).
    if (seed % 4 === 0) {
      stream = concat(Array.from({ length: 5 }, () => encodeFrame(randomFrame(rng, 40))));
      stream = stream.subarray(0, rng.int(0, stream.length));
    }
    for (const chunk of randomChunks(rng, stream, 512)) {
      const result = decoder.push(chunk);
      decoded += result.frames.length;
      assert.ok(decoder.bufferedBytes <= max + 4, `seed ${seed}: ${decoder.bufferedBytes}`);
      if (!result.ok) {
        assert.ok(KNOWN_DECODE_ERRORS.has(result.error.code), `seed ${seed}`);
        seen.set(result.error.code, (seen.get(result.error.code) ?? 0) + 1);
        break;
      }
    }
    const end = decoder.end();
    if (!end.ok) assert.ok(KNOWN_DECODE_ERRORS.has(end.error.code));
    if (!end.ok && end.error.code === ErrorCode.FrameTruncated) {
      seen.set(end.error.code, (seen.get(end.error.code) ?? 0) + 1);
    }
  }
  assert.ok(decoded > 100, `decoded ${decoded} frames`);
  assert.deepEqual([...seen.keys()].sort(), [...KNOWN_DECODE_ERRORS].sort(), `hit ${[...seen]}`);
});

Deno.test("FrameDecoder never throws on corrupted valid streams (seeded fuzz)", () => {
  let failures = 0;
  for (let seed = 1; seed <= 300; seed++) {
    const rng = new Prng(seed * 7919);
    const stream = concat(Array.from({ length: 10 }, () => encodeFrame(randomFrame(rng, 50))));
    for (let flips = rng.int(1, 5); flips > 0; flips--) {
      stream[rng.int(0, stream.length - 1)] = rng.int(0, 255);
    }
    const decoder = new FrameDecoder({ maxFrameSize: 2048 });
    for (const chunk of randomChunks(rng, stream, 100)) {
      const result = decoder.push(chunk);
      assert.ok(decoder.bufferedBytes <= 2048 + 4);
      if (!result.ok) {
        assert.ok(KNOWN_DECODE_ERRORS.has(result.error.code));
        failures++;
        break;
      }
    }
  }
  assert.ok(failures > 0, "some corruptions are detected");
});

Deno.test("FrameDecoder rejects a bad maxFrameSize with RangeError", () => {
  for (const maxFrameSize of [0, -1, 1.5, NaN, 2 ** 31]) {
    assert.throws(() => new FrameDecoder({ maxFrameSize }), RangeError);
  }
  assert.equal(new FrameDecoder().maxFrameSize, DEFAULT_MAX_FRAME);
});
