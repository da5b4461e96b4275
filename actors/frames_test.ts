import assert from "node:assert/strict";
import { FrameKind, u64, u64ToBigInt } from "../protocol/mod.ts";
import { encodedPush, messageNotify, pushedFrame } from "./frames.ts";

Deno.test("encodedPush() carries a frame as bytes and says whether it is a response", () => {
  const ack = encodedPush({
    id: u64(9),
    kind: FrameKind.RESPONSE,
    sendAck: { conversationId: "d:1:2", seq: u64(3), clientMsgId: "c" },
  });
  assert.ok(ack.frame instanceof Uint8Array);
  assert.equal(ack.response, true);
  const frame = pushedFrame(ack);
  assert.equal(u64ToBigInt(frame.id), 9n);
  assert.equal(frame.sendAck?.conversationId, "d:1:2");
  assert.equal(u64ToBigInt(frame.sendAck?.seq), 3n);

  const typing = encodedPush({ id: u64(0), kind: FrameKind.NOTIFY, typing: {} }, true);
  assert.equal(typing.response, undefined);
  assert.equal(typing.droppable, true);
  assert.throws(
    () => pushedFrame({ type: "push", frame: new Uint8Array([0xff, 0xff]) }),
    /Cannot read a pushed frame/,
  );
});

Deno.test("messageNotify() encodes the stored message once, 64-bit ids intact", () => {
  const push = messageNotify({
    messageId: "18446744073709551615",
    conversationId: "d:1:2",
    seq: 2n ** 60n,
    senderId: "1",
    clientMsgId: "c",
    content: { type: 1, text: "hi" },
    createdAt: 1,
  });
  const message = pushedFrame(push).messageNotify?.message;
  assert.equal(u64ToBigInt(message?.serverMsgId), 2n ** 64n - 1n);
  assert.equal(u64ToBigInt(message?.seq), 2n ** 60n);
  assert.equal(message?.content?.text, "hi");
});
