import assert from "node:assert/strict";
import {
  CloseCode,
  ErrorCode,
  type Frame,
  FrameKind,
  ProtocolError,
  u64,
  u64ToSafeInteger,
} from "../protocol/mod.ts";
import { listenWebSocket, within } from "./_test_peer.ts";
import type { TransportCloseInfo, TransportHandlers } from "./transport.ts";
import { connectWebSocket } from "./ws_transport.ts";

const OPTIONS = { maxFrameSize: 65536, maxBufferedBytes: 1 << 20 };

function recorder() {
  const frames: Frame[] = [];
  const closed = Promise.withResolvers<TransportCloseInfo>();
  const handlers: TransportHandlers = {
    onFrame: (frame) => frames.push(frame),
    onClose: (info) => closed.resolve(info),
  };
  return { frames, closed: closed.promise, handlers };
}

Deno.test("connectWebSocket() sends and receives one frame per binary message", async () => {
  await using peer = listenWebSocket();
  const { handlers, closed, frames } = recorder();
  const transport = await within(connectWebSocket(new URL(peer.url), handlers, OPTIONS));
  const server = await peer.conns.next();
  assert.equal(transport.send({ id: u64(3), kind: FrameKind.PING }), true);
  const ping = await server.frames.next();
  assert.equal(u64ToSafeInteger(ping.id), 3);
  await server.send({ id: ping.id, kind: FrameKind.PONG });
  while (frames.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(frames[0].kind, FrameKind.PONG);
  transport.close(CloseCode.Normal, "bye");
  assert.equal(transport.send({ id: u64(4), kind: FrameKind.PING }), false);
  const info = await within(closed);
  assert.equal(info.code, CloseCode.Normal);
  assert.equal(info.local, true);
  await within(server.ended);
});

Deno.test("connectWebSocket() closes with BadFrame on a text message", async () => {
  await using peer = listenWebSocket();
  const { handlers, closed } = recorder();
  await within(connectWebSocket(new URL(peer.url), handlers, OPTIONS));
  const server = await peer.conns.next();
  await server.sendText("hello");
  const info = await within(closed);
  assert.equal(info.code, CloseCode.BadFrame);
  assert.ok(info.error instanceof ProtocolError);
  assert.equal(info.error.code, ErrorCode.FrameUndecodable);
  const close = await server.frames.next();
  assert.equal(close.close?.code, CloseCode.BadFrame);
  await within(server.ended);
});

Deno.test("connectWebSocket() reports the server's close code", async () => {
  await using peer = listenWebSocket();
  const { handlers, closed } = recorder();
  await within(connectWebSocket(new URL(peer.url), handlers, OPTIONS));
  const server = await peer.conns.next();
  await server.close(CloseCode.ServerShutdown);
  const info = await within(closed);
  assert.equal(info.code, CloseCode.ServerShutdown);
  assert.equal(info.local, false);
});

Deno.test("connectWebSocket() rejects when the socket cannot open", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const { handlers } = recorder();
  await assert.rejects(
    within(connectWebSocket(new URL(`ws://127.0.0.1:${port}/ws`), handlers, OPTIONS)),
    /Cannot open WebSocket/,
  );
  await assert.rejects(
    connectWebSocket(new URL("tcp://127.0.0.1:1"), handlers, OPTIONS),
    TypeError,
  );
});
