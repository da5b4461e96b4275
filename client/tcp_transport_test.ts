import assert from "node:assert/strict";
import {
  CloseCode,
  ErrorCode,
  type Frame,
  FrameDecoder,
  FrameKind,
  ProtocolError,
  u64,
  u64ToSafeInteger,
} from "../protocol/mod.ts";
import { listenTcp, makeTestCerts, WAIT_MS, within } from "./_test_peer.ts";
import { connectTcp } from "./tcp_transport.ts";
import type { TransportCloseInfo, TransportHandlers } from "./transport.ts";

const OPTIONS = { maxFrameSize: 65536, maxBufferedBytes: 1 << 20 };

/** Handlers that record frames and resolve `closed` with the close info. */
function recorder() {
  const frames: Frame[] = [];
  const closed = Promise.withResolvers<TransportCloseInfo>();
  let closes = 0;
  const handlers: TransportHandlers = {
    onFrame: (frame) => frames.push(frame),
    onClose: (info) => {
      closes++;
      closed.resolve(info);
    },
  };
  return { frames, closed: closed.promise, handlers, closes: () => closes };
}

Deno.test("connectTcp() sends frames from one task in one write and bounds its queue", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const { handlers, closed } = recorder();
  const url = new URL(`tcp://127.0.0.1:${listener.addr.port}`);
  const transport = await connectTcp(url, handlers, { ...OPTIONS, maxBufferedBytes: 40 });
  const server = await accepted;
  // Each PING is 4 + 4 bytes: the queue takes 5 (40 bytes), then refuses.
  const results = [];
  for (let i = 1; i <= 7; i++) results.push(transport.send({ id: u64(i), kind: FrameKind.PING }));
  assert.deepEqual(results, [true, true, true, true, true, false, false]);
  assert.equal(transport.bufferedBytes, 40);
  const buffer = new Uint8Array(4096);
  const n = await within(server.read(buffer));
  const decoded = new FrameDecoder().push(buffer.subarray(0, n!));
  assert.deepEqual(decoded.frames.map((f) => u64ToSafeInteger(f.id)), [1, 2, 3, 4, 5]);
  assert.equal(transport.bufferedBytes, 0);
  transport.close(CloseCode.Normal, "done");
  const info = await within(closed);
  assert.deepEqual(info, { code: CloseCode.Normal, reason: "done", local: true });
  assert.equal(await within(server.read(buffer)), null);
  server.close();
  listener.close();
});

Deno.test("connectTcp() reports the peer's EOF once, and refuses sends after it", async () => {
  await using peer = listenTcp();
  const { handlers, closed, closes, frames } = recorder();
  const transport = await connectTcp(new URL(peer.url), handlers, OPTIONS);
  const server = await peer.conns.next();
  await server.send({ kind: FrameKind.NOTIFY, typing: { conversationId: "g:1" } });
  await server.close();
  const info = await within(closed);
  assert.equal(info.local, false);
  assert.equal(info.error, undefined);
  assert.deepEqual(frames.map((f) => f.body), ["typing"]);
  assert.equal(transport.send({ id: u64(1), kind: FrameKind.PING }), false);
  transport.close();
  assert.equal(closes(), 1);
});

Deno.test("connectTcp() closes with BadFrame on an oversized frame, telling the peer", async () => {
  await using peer = listenTcp();
  const { handlers, closed } = recorder();
  await connectTcp(new URL(peer.url), handlers, { ...OPTIONS, maxFrameSize: 100 });
  const server = await peer.conns.next();
  await server.sendRaw(Uint8Array.of(0, 0, 1, 0)); // announces 256 bytes
  const info = await within(closed);
  assert.equal(info.code, CloseCode.BadFrame);
  assert.equal(info.local, true);
  assert.ok(info.error instanceof ProtocolError);
  assert.equal(info.error.code, ErrorCode.FrameTooLarge);
  const close = await server.frames.next();
  assert.equal(close.close?.code, CloseCode.BadFrame);
  assert.equal(close.close?.errorCode, ErrorCode.FrameTooLarge);
  await within(server.ended);
});

Deno.test("connectTcp() throws RangeError for a frame over maxFrameSize", async () => {
  await using peer = listenTcp();
  const { handlers, closed } = recorder();
  const transport = await connectTcp(new URL(peer.url), handlers, { ...OPTIONS, maxFrameSize: 64 });
  assert.throws(
    () => transport.send({ kind: FrameKind.NOTIFY, typing: { conversationId: "x".repeat(100) } }),
    RangeError,
  );
  transport.close();
  await within(closed);
});

Deno.test("connectTcp() rejects with the abort reason and for bad URLs", async () => {
  const { handlers } = recorder();
  const reason = new Error("stop");
  await assert.rejects(
    connectTcp(new URL("tcp://127.0.0.1:1"), handlers, {
      ...OPTIONS,
      signal: AbortSignal.abort(reason),
    }),
    (error) => error === reason,
  );
  await assert.rejects(connectTcp(new URL("tcp://127.0.0.1"), handlers, OPTIONS), TypeError);
  await assert.rejects(connectTcp(new URL("ws://127.0.0.1:1"), handlers, OPTIONS), TypeError);
});

Deno.test("connectTcp() speaks TLS with a CA from caCerts, and refuses an unknown CA", async () => {
  await using certs = await makeTestCerts();
  await using peer = listenTcp({ cert: certs.cert, key: certs.key });
  const url = new URL(peer.url);
  const { handlers, closed, frames } = recorder();
  const transport = await within(connectTcp(url, handlers, { ...OPTIONS, caCerts: [certs.caPem] }));
  const server = await peer.conns.next();
  assert.equal(transport.send({ id: u64(9), kind: FrameKind.PING }), true);
  const ping = await server.frames.next();
  assert.equal(u64ToSafeInteger(ping.id), 9);
  await server.send({ id: ping.id, kind: FrameKind.PONG });
  while (frames.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(frames[0].kind, FrameKind.PONG);
  transport.close();
  await within(closed);
  // Without the CA the handshake fails, and nothing stays open.
  const refused = recorder();
  await assert.rejects(within(connectTcp(url, refused.handlers, OPTIONS), WAIT_MS));
  const failed = await peer.conns.next();
  await failed.close();
});
