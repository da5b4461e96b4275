import assert from "node:assert/strict";
import { concat, Prng, randomFrame, toHex } from "./_testing.ts";
import { decodeFrameBody, encodeFrameBody } from "./codec.ts";
import { ErrorCode } from "./codes.ts";
import { type Frame, type FrameBody, type FrameInit, FrameKind, pb } from "./schema.ts";
import { u64, u64ToString } from "./u64.ts";

function decodeOk(bytes: Uint8Array): Frame {
  const result = decodeFrameBody(bytes);
  assert.ok(result.ok, result.ok ? "" : result.error.message);
  return result.frame;
}

function decodeError(bytes: Uint8Array, options?: { maxFrameSize: number }): number {
  const result = decodeFrameBody(bytes, options);
  assert.equal(result.ok, false);
  return result.ok ? 0 : result.error.code;
}

/** The wire field number of every body: changing one breaks every deployed client. */
const BODY_FIELDS: Record<FrameBody, number> = {
  error: 5,
  sendMessage: 6,
  sendAck: 7,
  messageNotify: 8,
  deliveryAck: 9,
  readReceipt: 10,
  receiptNotify: 11,
  typing: 12,
  presenceNotify: 13,
  ok: 14,
  auth: 16,
  authOk: 17,
  close: 18,
  syncRequest: 19,
  syncResponse: 20,
  pullMessagesRequest: 21,
  pullMessagesResponse: 22,
};

function varint(value: number): number[] {
  const out: number[] = [];
  while (value > 0x7f) {
    out.push((value & 0x7f) | 0x80);
    value >>>= 7;
  }
  out.push(value);
  return out;
}

Deno.test("encodeFrameBody() and decodeFrameBody() round-trip every body (seeded)", () => {
  const rng = new Prng(42);
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const frame = randomFrame(rng, 40);
    const bytes = encodeFrameBody(frame);
    const decoded = decodeOk(bytes);
    seen.add(decoded.body ?? "none");
    assert.deepEqual(encodeFrameBody(decoded), bytes);
    assert.deepEqual(
      pb.Frame.toObject(decoded, { longs: String, bytes: String }),
      pb.Frame.toObject(pb.Frame.fromObject(frame), { longs: String, bytes: String }),
    );
  }
  assert.deepEqual([...seen].sort(), [...Object.keys(BODY_FIELDS), "none"].sort());
});

Deno.test("Frame body field numbers are stable", () => {
  assert.equal(toHex(encodeFrameBody({ id: u64(1), kind: FrameKind.REQUEST })), "08011001");
  for (const [body, field] of Object.entries(BODY_FIELDS)) {
    const frame = { kind: FrameKind.NOTIFY, [body]: {} } as FrameInit;
    const expected = [0x10, 0x03, ...varint((field << 3) | 2), 0x00];
    assert.equal(toHex(encodeFrameBody(frame)), toHex(new Uint8Array(expected)), body);
    assert.equal(decodeOk(new Uint8Array(expected)).body, body);
  }
});

Deno.test("decodeFrameBody() keeps uint64 values above 2^53 exact", () => {
  const frame = decodeOk(encodeFrameBody({
    id: u64("18446744073709551615"),
    kind: FrameKind.RESPONSE,
    sendAck: { seq: u64(2n ** 53n + 1n), serverMsgId: u64("1234567890123456789") },
  }));
  assert.equal(u64ToString(frame.id), "18446744073709551615");
  assert.equal(frame.id.unsigned, true);
  assert.equal(u64ToString(frame.sendAck?.seq), "9007199254740993");
  assert.equal(u64ToString(frame.sendAck?.serverMsgId), "1234567890123456789");
});

Deno.test("decodeFrameBody() rejects empty, oversized, undecodable and kindless input", () => {
  assert.equal(decodeError(new Uint8Array()), ErrorCode.FrameEmpty);
  const ping = encodeFrameBody({ id: u64(300), kind: FrameKind.PING });
  assert.equal(decodeError(ping, { maxFrameSize: ping.length - 1 }), ErrorCode.FrameTooLarge);
  assert.equal(decodeFrameBody(ping, { maxFrameSize: ping.length }).ok, true);
  assert.equal(decodeError(new Uint8Array([0x0a, 0x05, 0x01])), ErrorCode.FrameUndecodable);
  assert.equal(decodeError(new Uint8Array([0x0b])), ErrorCode.FrameUndecodable);
  assert.equal(decodeError(new Uint8Array([0x08, 0x01])), ErrorCode.FrameKindInvalid);
  assert.equal(decodeError(new Uint8Array([0x10, 0x00])), ErrorCode.FrameKindInvalid);
  assert.equal(decodeError(new Uint8Array([0x10, 0x06])), ErrorCode.FrameKindInvalid);
  assert.throws(() => decodeFrameBody(ping, { maxFrameSize: 0 }), RangeError);
});

Deno.test("decodeFrameBody() skips fields it does not know (a newer peer's additions)", () => {
  const known = encodeFrameBody({ id: u64(9), kind: FrameKind.REQUEST });
  // Field 99 as a message (a future body) and field 3 as a varint (a future envelope field).
  const future = concat([
    known,
    new Uint8Array([...varint((99 << 3) | 2), 2, 0x08, 0x01, 0x18, 1]),
  ]);
  const frame = decodeOk(future);
  assert.equal(frame.body, undefined, "an unknown body reads as no body");
  assert.equal(u64ToString(frame.id), "9");
  // An unknown field (15, varint) inside a known body.
  const auth = concat([pb.Auth.encode({ deviceId: "d" }).finish(), new Uint8Array([0x78, 1])]);
  const decoded = decodeOk(
    concat([new Uint8Array([0x10, 0x01, 0x82, 0x01, auth.length]), auth]),
  );
  assert.equal(decoded.auth?.deviceId, "d");
});

Deno.test("decodeFrameBody() keeps only the last of several body fields", () => {
  const a = encodeFrameBody({ kind: FrameKind.NOTIFY, typing: { conversationId: "c" } });
  const b = encodeFrameBody({ kind: FrameKind.NOTIFY, error: { code: 1 } });
  const frame = decodeOk(concat([a, b.subarray(2)]));
  assert.equal(frame.body, "error");
  assert.equal(frame.typing ?? undefined, undefined);
  assert.equal(Object.hasOwn(frame, "typing"), false);
});

Deno.test("decodeFrameBody() copies bytes fields out of the input", () => {
  const bytes = encodeFrameBody({
    kind: FrameKind.REQUEST,
    sendMessage: { content: { type: pb.Content.Type.CUSTOM, data: new Uint8Array([7, 8, 9]) } },
  });
  const frame = decodeOk(bytes);
  bytes.fill(0);
  assert.deepEqual([...(frame.sendMessage?.content?.data ?? [])], [7, 8, 9]);
});

Deno.test("encodeFrameBody() returns an array that owns its buffer and checks kind and size", () => {
  const bytes = encodeFrameBody({ id: u64(1), kind: FrameKind.PONG });
  assert.equal(bytes.buffer.byteLength, bytes.length);
  assert.throws(() => encodeFrameBody({ kind: FrameKind.KIND_UNSPECIFIED }), RangeError);
  assert.throws(
    () => encodeFrameBody({ kind: FrameKind.NOTIFY, typing: { userId: "u".repeat(70_000) } }),
    /exceeds limit 65536/,
  );
});
