import assert from "node:assert/strict";
import {
  CloseCode,
  ContentType,
  encodeFrame,
  encodeFrames,
  errorBody,
  ErrorCode,
  type Frame,
  FrameKind,
  u64,
  u64ToSafeInteger,
} from "../protocol/mod.ts";
import {
  acceptAuth,
  closeWith,
  delay,
  listenTcp,
  listenWebSocket,
  makeTestCerts,
  nextNonHeartbeat,
  type Peer,
  type PeerConn,
  WAIT_MS,
  within,
} from "./_test_peer.ts";
import {
  AuthError,
  BackpressureError,
  type CloseEvent,
  ConnectionClosedError,
  type ConnectionOptions,
  type ConnectionState,
  FlashConnection,
  RequestTimeoutError,
  ServerError,
  TooManyInFlightError,
  type TransportFactory,
} from "./mod.ts";
import { connectWebSocket } from "./ws_transport.ts";

/** Options with short timers for tests. */
function options(peer: { url: string }, extra: Partial<ConnectionOptions> = {}): ConnectionOptions {
  return {
    url: peer.url,
    token: "token-1",
    deviceId: "device-1",
    requestTimeoutMs: 1000,
    reconnect: { minDelayMs: 10, maxDelayMs: 50, jitter: 0 },
    ...extra,
  };
}

/** Connects `conn` while the peer answers the handshake; returns the server side. */
async function open<C extends PeerConn>(conn: FlashConnection, peer: Peer<C>): Promise<C> {
  const opened = conn.connect();
  const server = await peer.conns.next(WAIT_MS, "a connection");
  await acceptAuth(server, { heartbeatIntervalMs: 30_000 });
  await within(opened, WAIT_MS, "connect()");
  return server;
}

/** The next REQUEST frame the server receives. */
async function nextRequest(server: PeerConn): Promise<Frame> {
  const frame = await nextNonHeartbeat(server);
  assert.equal(frame.kind, FrameKind.REQUEST);
  return frame;
}

Deno.test("FlashConnection.connect() sends Auth first and resolves on AuthOk", async () => {
  await using peer = listenTcp();
  const conn = new FlashConnection(
    options(peer, { clientName: "test-client", clientVersion: "9.9.9" }),
  );
  const states: ConnectionState[] = [];
  const opens: boolean[] = [];
  conn.on("state", ({ state }) => states.push(state));
  conn.on("open", ({ reconnected }) => opens.push(reconnected));
  const opened = conn.connect();
  const server = await peer.conns.next();
  const auth = await server.frames.next();
  assert.equal(auth.kind, FrameKind.REQUEST);
  assert.equal(u64ToSafeInteger(auth.id), 1);
  assert.equal(auth.body, "auth");
  assert.deepEqual(
    { ...auth.auth },
    {
      accessToken: "token-1",
      deviceId: "device-1",
      protocolVersion: 1,
      clientName: "test-client",
      clientVersion: "9.9.9",
    },
  );
  await server.send({
    id: auth.id,
    kind: FrameKind.RESPONSE,
    authOk: {
      userId: "42",
      sessionId: "s-1",
      serverTimeMs: u64(1_700_000_000_000),
      heartbeatIntervalMs: 30_000,
      idleTimeoutMs: 90_000,
      maxFrameSize: 65536,
      protocolVersion: 1,
    },
  });
  const session = await within(opened);
  assert.deepEqual(session, {
    userId: "42",
    sessionId: "s-1",
    serverTimeMs: 1_700_000_000_000,
    heartbeatIntervalMs: 30_000,
    idleTimeoutMs: 90_000,
    maxFrameSize: 65536,
    protocolVersion: 1,
  });
  assert.equal(conn.userId, "42");
  assert.equal(conn.sessionId, "s-1");
  assert.equal(conn.state, "open");
  assert.deepEqual(states, ["connecting", "authenticating", "open"]);
  assert.deepEqual(opens, [false]);
  await conn.close();
});

Deno.test("FlashConnection.connect() rejects with AuthError and does not reconnect", async () => {
  await using peer = listenTcp();
  let tokens = 0;
  const conn = new FlashConnection(options(peer, { token: () => `token-${++tokens}` }));
  const closes: CloseEvent[] = [];
  conn.on("close", (event) => closes.push(event));
  const opened = conn.connect();
  const server = await peer.conns.next();
  const auth = await server.frames.next();
  await server.send({
    id: auth.id,
    kind: FrameKind.RESPONSE,
    error: errorBody(ErrorCode.AuthTokenExpired, { message: "token expired" }),
  });
  await closeWith(server, CloseCode.AuthFailed, { errorCode: ErrorCode.AuthTokenExpired });
  const error = await within(opened.catch((e) => e));
  assert.ok(error instanceof AuthError, String(error));
  assert.equal(error.code, ErrorCode.AuthTokenExpired);
  assert.equal(error.closeCode, CloseCode.AuthFailed);
  assert.equal(error.temporary, false);
  assert.match(error.message, /token expired/);
  assert.equal(conn.state, "closed");
  assert.equal(closes.length, 1);
  assert.equal(closes[0].willReconnect, false);
  assert.equal(closes[0].code, CloseCode.AuthFailed);
  await delay(100); // well past the 10 ms reconnect delay
  assert.equal(peer.accepted, 1);
  assert.equal(tokens, 1);
  await conn.close();
});

Deno.test("FlashConnection.connect() rejects with a timeout when the server never answers", async () => {
  await using peer = listenTcp();
  const conn = new FlashConnection(options(peer, { requestTimeoutMs: 100 }));
  const opened = conn.connect();
  const server = await peer.conns.next();
  await server.frames.next(); // Auth, never answered
  const error = await within(opened.catch((e) => e));
  assert.ok(error instanceof RequestTimeoutError, String(error));
  assert.equal(conn.state, "closed");
  await within(server.ended);
});

Deno.test("FlashConnection.connect() rejects with ConnectionClosedError when refused", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const conn = new FlashConnection({
    url: `tcp://127.0.0.1:${port}`,
    token: "t",
    deviceId: "d",
  });
  const error = await within(conn.connect().catch((e) => e));
  assert.ok(error instanceof ConnectionClosedError, String(error));
  assert.ok(error.cause instanceof Error);
  assert.equal(conn.state, "closed");
  await conn.close();
});

Deno.test("FlashConnection.request() correlates out-of-order responses by id", async () => {
  await using peer = listenTcp();
  await using conn = new FlashConnection(options(peer));
  const server = await open(conn, peer);
  const answers = [1, 2, 3].map((limit) => conn.sync({ cursor: u64(0), limit }));
  const requests = [
    await nextRequest(server),
    await nextRequest(server),
    await nextRequest(server),
  ];
  assert.deepEqual(requests.map((r) => u64ToSafeInteger(r.id)), [2, 3, 4]);
  assert.equal(conn.inFlight, 3);
  for (const request of requests.reverse()) {
    await server.send({
      id: request.id,
      kind: FrameKind.RESPONSE,
      syncResponse: { nextCursor: u64(100 + request.syncRequest!.limit!) },
    });
  }
  const responses = await within(Promise.all(answers));
  assert.deepEqual(responses.map((r) => u64ToSafeInteger(r.nextCursor)), [101, 102, 103]);
  assert.equal(conn.inFlight, 0);
});

Deno.test("FlashConnection.request() times out and ignores the late response", async () => {
  await using peer = listenTcp();
  await using conn = new FlashConnection(options(peer));
  const server = await open(conn, peer);
  const started = performance.now();
  const late = conn.request({ syncRequest: {} }, { timeoutMs: 50 });
  const request = await nextRequest(server);
  const error = await within(late.catch((e) => e));
  assert.ok(error instanceof RequestTimeoutError, String(error));
  assert.equal(error.timeoutMs, 50);
  assert.ok(performance.now() - started >= 45);
  assert.equal(conn.inFlight, 0);
  await server.send({ id: request.id, kind: FrameKind.RESPONSE, syncResponse: {} });
  // The connection is still fine, and the next request gets its own answer.
  const next = conn.sync({});
  const second = await nextRequest(server);
  await server.send({
    id: second.id,
    kind: FrameKind.RESPONSE,
    syncResponse: { hasMore: true },
  });
  assert.equal((await within(next)).hasMore, true);
  assert.equal(conn.state, "open");
});

Deno.test("FlashConnection.request() rejects with ServerError for an error answer", async () => {
  await using peer = listenTcp();
  await using conn = new FlashConnection(options(peer));
  const server = await open(conn, peer);
  const sent = conn.sendMessage({
    conversationId: "g:1",
    clientMsgId: "m-1",
    content: { type: ContentType.TEXT, text: "hi" },
  });
  const request = await nextRequest(server);
  assert.equal(request.body, "sendMessage");
  await server.send({
    id: request.id,
    kind: FrameKind.RESPONSE,
    error: errorBody(ErrorCode.RateLimited, { message: "slow down", retryAfterMs: 250 }),
  });
  const error = await within(sent.catch((e) => e));
  assert.ok(error instanceof ServerError, String(error));
  assert.equal(error.code, ErrorCode.RateLimited);
  assert.equal(error.codeName, "RateLimited");
  assert.equal(error.temporary, true);
  assert.equal(error.retryAfterMs, 250);
  assert.equal(error.message, "slow down");
});

Deno.test("FlashConnection.request() rejects at once past maxInFlight", async () => {
  await using peer = listenTcp();
  await using conn = new FlashConnection(options(peer, { maxInFlight: 2 }));
  const server = await open(conn, peer);
  const first = conn.request({ syncRequest: {} });
  const second = conn.request({ syncRequest: {} });
  const error = await within(conn.request({ syncRequest: {} }).catch((e) => e));
  assert.ok(error instanceof TooManyInFlightError, String(error));
  assert.equal(error.limit, 2);
  for (let i = 0; i < 2; i++) {
    const request = await nextRequest(server);
    await server.send({ id: request.id, kind: FrameKind.RESPONSE, ok: {} });
  }
  assert.deepEqual((await within(Promise.all([first, second]))).map((f) => f.body), ["ok", "ok"]);
  assert.equal(conn.inFlight, 0);
});

Deno.test("FlashConnection answers a server PING with a PONG of the same id", async () => {
  await using peer = listenTcp();
  await using conn = new FlashConnection(options(peer));
  const server = await open(conn, peer);
  await server.send({ id: u64(77), kind: FrameKind.PING });
  const pong = await server.frames.next();
  assert.equal(pong.kind, FrameKind.PONG);
  assert.equal(u64ToSafeInteger(pong.id), 77);
});

Deno.test("FlashConnection sends PING after heartbeatIntervalMs without sending", async () => {
  await using peer = listenTcp();
  await using conn = new FlashConnection(options(peer, { heartbeatIntervalMs: 40 }));
  const server = await open(conn, peer);
  for (let i = 0; i < 3; i++) {
    const ping = await server.frames.next(500, "a PING");
    assert.equal(ping.kind, FrameKind.PING);
    await server.send({ id: ping.id, kind: FrameKind.PONG });
  }
  assert.equal(conn.state, "open");
});

Deno.test("FlashConnection detects a dead peer and reconnects", async () => {
  await using peer = listenTcp();
  await using conn = new FlashConnection(options(peer, { heartbeatIntervalMs: 30 }));
  const first = await open(conn, peer);
  const closed = conn.once("close");
  const reopened = conn.once("open");
  // The peer reads but never answers: after 2 intervals the client gives up on it.
  const event = await within(closed);
  assert.equal(event.code, CloseCode.IdleTimeout);
  assert.equal(event.local, true);
  assert.equal(event.willReconnect, true);
  let pings = 0;
  let frame: Frame;
  while ((frame = await first.frames.next()).kind === FrameKind.PING) pings++;
  assert.ok(pings >= 1, "no PING before giving up");
  assert.equal(frame.body, "close");
  assert.equal(frame.close?.code, CloseCode.IdleTimeout);
  await within(first.ended);
  const second = await peer.conns.next();
  await acceptAuth(second, { sessionId: "session-2" });
  const { reconnected, session } = await within(reopened);
  assert.equal(reconnected, true);
  assert.equal(session.sessionId, "session-2");
});

Deno.test("FlashConnection reconnects with a fresh token after the server drops it", async () => {
  await using peer = listenTcp();
  let tokens = 0;
  await using conn = new FlashConnection(options(peer, { token: () => `token-${++tokens}` }));
  const opens: boolean[] = [];
  conn.on("open", ({ reconnected }) => opens.push(reconnected));
  const first = await open(conn, peer);
  const pending = conn.request({ syncRequest: {} });
  await nextRequest(first);
  const closed = conn.once("close");
  const reopened = conn.once("open");
  await first.close(); // abrupt: no Close frame
  const error = await within(pending.catch((e) => e));
  assert.ok(error instanceof ConnectionClosedError, String(error));
  const event = await within(closed);
  assert.equal(event.willReconnect, true);
  assert.equal(event.code, 1006);
  assert.equal(conn.state, "reconnecting");
  const second = await peer.conns.next();
  const auth = await acceptAuth(second);
  assert.equal(auth.auth?.accessToken, "token-2");
  assert.equal((await within(reopened)).reconnected, true);
  assert.deepEqual(opens, [false, true]);
  // The reconnected connection works.
  const answer = conn.request({ syncRequest: {} });
  const request = await nextRequest(second);
  await second.send({ id: request.id, kind: FrameKind.RESPONSE, ok: {} });
  assert.equal((await within(answer)).body, "ok");
});

Deno.test("FlashConnection keeps trying while the server is down, then gives up", async () => {
  await using peer = listenTcp();
  const conn = new FlashConnection(
    options(peer, { reconnect: { minDelayMs: 5, maxDelayMs: 10, maxAttempts: 3 } }),
  );
  const server = await open(conn, peer);
  const states: ConnectionState[] = [];
  conn.on("state", ({ state }) => states.push(state));
  // Each attempt is accepted and dropped before authenticating.
  const dropper = (async () => {
    await server.close();
    for (let i = 0; i < 3; i++) await (await peer.conns.next()).close();
  })();
  const event = await within(conn.closed);
  await within(dropper);
  assert.equal(event.willReconnect, false);
  assert.equal(conn.state, "closed");
  assert.equal(peer.accepted, 4);
  assert.equal(states.filter((s) => s === "reconnecting").length, 3);
});

Deno.test("FlashConnection honours a server Close that forbids reconnecting", async () => {
  await using peer = listenTcp();
  await using conn = new FlashConnection(options(peer));
  const server = await open(conn, peer);
  const pending = conn.request({ syncRequest: {} });
  await nextRequest(server);
  await closeWith(server, CloseCode.Kicked, { reason: "replaced" });
  const event = await within(conn.closed);
  assert.equal(event.code, CloseCode.Kicked);
  assert.equal(event.reason, "replaced");
  assert.equal(event.willReconnect, false);
  assert.equal(event.local, false);
  const error = await within(pending.catch((e) => e));
  assert.ok(error instanceof ConnectionClosedError);
  assert.equal(error.code, CloseCode.Kicked);
  await delay(80);
  assert.equal(peer.accepted, 1);
  assert.equal(conn.state, "closed");
});

Deno.test("FlashConnection waits retryAfterMs before reconnecting after ServerShutdown", async () => {
  await using peer = listenTcp();
  await using conn = new FlashConnection(options(peer));
  const server = await open(conn, peer);
  const closed = conn.once("close");
  const started = performance.now();
  await closeWith(server, CloseCode.ServerShutdown, { retryAfterMs: 150 });
  const event = await within(closed);
  assert.equal(event.willReconnect, true);
  assert.equal(event.retryAfterMs, 150);
  const second = await peer.conns.next();
  assert.ok(performance.now() - started >= 140, "reconnected before retryAfterMs");
  await acceptAuth(second);
  await within(conn.once("open"));
});

Deno.test("FlashConnection.close() is clean: Close frame, pending rejected, no reconnect", async () => {
  await using peer = listenTcp();
  const conn = new FlashConnection(options(peer));
  const server = await open(conn, peer);
  const pending = conn.request({ syncRequest: {} }).catch((e) => e);
  await nextRequest(server);
  const closes: CloseEvent[] = [];
  conn.on("close", (event) => closes.push(event));
  await within(conn.close());
  const error = await within(pending);
  assert.ok(error instanceof ConnectionClosedError, String(error));
  const close = await nextNonHeartbeat(server);
  assert.equal(close.kind, FrameKind.NOTIFY);
  assert.equal(close.close?.code, CloseCode.Normal);
  await within(server.ended);
  assert.equal(conn.state, "closed");
  assert.deepEqual(closes.map((e) => [e.code, e.local, e.willReconnect]), [
    [CloseCode.Normal, true, false],
  ]);
  await assert.rejects(conn.request({ syncRequest: {} }), ConnectionClosedError);
  assert.equal(conn.notify({ typing: { conversationId: "g:1" } }), false);
  await conn.close(); // idempotent
  await delay(50);
  assert.equal(peer.accepted, 1);
});

Deno.test("FlashConnection.close() while connecting releases the attempt", async () => {
  await using peer = listenTcp();
  const conn = new FlashConnection(options(peer));
  const opened = conn.connect().catch((e) => e);
  const server = await peer.conns.next();
  await server.frames.next(); // Auth
  await within(conn.close());
  assert.ok((await opened) instanceof ConnectionClosedError);
  await within(server.ended);
});

Deno.test("FlashConnection reads frames split across TCP chunks and packed together", async () => {
  await using peer = listenTcp();
  await using conn = new FlashConnection(options(peer));
  const notes: Frame[] = [];
  conn.on("notify", (frame) => notes.push(frame));
  const opened = conn.connect();
  const server = await peer.conns.next();
  const auth = await server.frames.next();
  const bytes = encodeFrame({
    id: auth.id,
    kind: FrameKind.RESPONSE,
    authOk: { userId: "7", sessionId: "split" },
  });
  for (const byte of bytes) {
    await server.sendRaw(Uint8Array.of(byte));
    await delay(1);
  }
  assert.equal((await within(opened)).userId, "7");
  const pending = conn.request({ syncRequest: {} });
  const request = await nextRequest(server);
  const text = "x".repeat(10_000); // spans several 4 KiB reads
  const packed = encodeFrames([
    { kind: FrameKind.NOTIFY, typing: { conversationId: "g:1", userId: "8" } },
    {
      kind: FrameKind.NOTIFY,
      messageNotify: { message: { conversationId: "g:1", content: { text } } },
    },
    { id: request.id, kind: FrameKind.RESPONSE, ok: {} },
  ]);
  // Cut through a prefix and through a body.
  for (const [from, to] of [[0, 3], [3, 20], [20, 5000], [5000, packed.length]]) {
    await server.sendRaw(packed.subarray(from, to));
    await delay(5);
  }
  assert.equal((await within(pending)).body, "ok");
  assert.deepEqual(notes.map((f) => f.body), ["typing", "messageNotify"]);
  assert.equal(notes[1].messageNotify?.message?.content?.text, text);
});

Deno.test("FlashConnection closes with BadFrame on undecodable bytes and stays closed", async () => {
  await using peer = listenTcp();
  await using conn = new FlashConnection(options(peer));
  const server = await open(conn, peer);
  await server.sendRaw(Uint8Array.of(0, 0, 0, 3, 0xff, 0xff, 0xff));
  const event = await within(conn.closed);
  assert.equal(event.code, CloseCode.BadFrame);
  assert.equal(event.errorCode, ErrorCode.FrameUndecodable);
  assert.equal(event.willReconnect, false);
  const close = await nextNonHeartbeat(server);
  assert.equal(close.close?.code, CloseCode.BadFrame);
  assert.equal(close.close?.errorCode, ErrorCode.FrameUndecodable);
});

Deno.test("FlashConnection.notifications() iterates notifications until close()", async () => {
  await using peer = listenTcp();
  const conn = new FlashConnection(options(peer));
  const server = await open(conn, peer);
  const iterator = conn.notifications({ bufferSize: 8 });
  for (let i = 1; i <= 3; i++) {
    await server.send({
      kind: FrameKind.NOTIFY,
      receiptNotify: { conversationId: "g:1", upToSeq: u64(i) },
    });
  }
  const seen: number[] = [];
  for await (const frame of iterator) {
    seen.push(u64ToSafeInteger(frame.receiptNotify?.upToSeq)!);
    if (seen.length === 3) await conn.close();
  }
  assert.deepEqual(seen, [1, 2, 3]);
});

Deno.test("FlashConnection works over WebSocket", async () => {
  await using peer = listenWebSocket();
  const conn = new FlashConnection(options(peer));
  const opened = conn.connect();
  const server = await peer.conns.next();
  const auth = await acceptAuth(server);
  assert.equal(auth.auth?.deviceId, "device-1");
  assert.equal((await within(opened)).userId, "42");
  const answer = conn.request({ syncRequest: {} });
  const request = await nextRequest(server);
  await server.send({ id: request.id, kind: FrameKind.RESPONSE, syncResponse: { reset: true } });
  assert.equal((await within(answer)).syncResponse?.reset, true);
  const note = conn.once("notify");
  await server.send({ kind: FrameKind.NOTIFY, typing: { conversationId: "g:2" } });
  assert.equal((await within(note)).typing?.conversationId, "g:2");
  assert.equal(conn.notify({ typing: { conversationId: "g:2" } }), true);
  assert.equal((await nextNonHeartbeat(server)).body, "typing");
  await within(conn.close());
  const close = await nextNonHeartbeat(server);
  assert.equal(close.close?.code, CloseCode.Normal);
  await within(server.ended);
});

Deno.test("FlashConnection reconnects over WebSocket after the server closes", async () => {
  await using peer = listenWebSocket();
  await using conn = new FlashConnection(options(peer));
  const opened = conn.connect();
  const first = await peer.conns.next();
  await acceptAuth(first);
  await within(opened);
  const closed = conn.once("close");
  const reopened = conn.once("open");
  await closeWith(first, CloseCode.InternalError);
  const event = await within(closed);
  assert.equal(event.code, CloseCode.InternalError);
  assert.equal(event.willReconnect, true);
  await acceptAuth(await peer.conns.next());
  assert.equal((await within(reopened)).reconnected, true);
});

Deno.test("FlashConnection connects over TLS with caCerts", async () => {
  await using certs = await makeTestCerts();
  await using peer = listenTcp({ cert: certs.cert, key: certs.key });
  assert.match(peer.url, /^tls:/);
  await using conn = new FlashConnection(options(peer, { caCerts: [certs.caPem] }));
  const server = await open(conn, peer);
  const answer = conn.request({ syncRequest: {} });
  const request = await nextRequest(server);
  await server.send({ id: request.id, kind: FrameKind.RESPONSE, ok: {} });
  assert.equal((await within(answer)).body, "ok");
});

Deno.test("FlashConnection.request() rejects with BackpressureError when the queue is full", async () => {
  await using peer = listenTcp();
  await using conn = new FlashConnection(options(peer, { maxBufferedBytes: 1 }));
  const server = await open(conn, peer);
  // One frame always fits in an empty queue; a second one in the same task does not.
  const first = conn.request({ syncRequest: {} });
  const second = conn.request({ syncRequest: {} }).catch((e) => e);
  assert.equal(conn.notify({ typing: { conversationId: "g:1" } }), false);
  const error = await within(second);
  assert.ok(error instanceof BackpressureError, String(error));
  const request = await nextRequest(server);
  await server.send({ id: request.id, kind: FrameKind.RESPONSE, ok: {} });
  assert.equal((await within(first)).body, "ok");
});

Deno.test("FlashConnection.request() rejects with the signal's reason when aborted", async () => {
  await using peer = listenTcp();
  await using conn = new FlashConnection(options(peer));
  const server = await open(conn, peer);
  const controller = new AbortController();
  const answer = conn.request({ syncRequest: {} }, { signal: controller.signal });
  const request = await nextRequest(server);
  controller.abort(new Error("user left"));
  await assert.rejects(answer, /user left/);
  assert.equal(conn.inFlight, 0);
  await server.send({ id: request.id, kind: FrameKind.RESPONSE, ok: {} }); // ignored
  await assert.rejects(
    conn.request({ syncRequest: {} }, { signal: controller.signal }),
    /user left/,
  );
});

Deno.test("FlashConnection uses a custom connectTransport", async () => {
  await using peer = listenWebSocket();
  const urls: string[] = [];
  let sent = 0;
  const counting: TransportFactory = async (url, handlers, transportOptions) => {
    urls.push(url.href);
    const inner = await connectWebSocket(url, handlers, transportOptions);
    return {
      send: (frame) => (sent++, inner.send(frame)),
      close: (code, reason) => inner.close(code, reason),
      get bufferedBytes() {
        return inner.bufferedBytes;
      },
    };
  };
  await using conn = new FlashConnection(options(peer, { connectTransport: counting }));
  await open(conn, peer);
  assert.deepEqual(urls, [peer.url]);
  assert.equal(sent, 1); // the Auth request
});

Deno.test("FlashConnection's constructor rejects bad options", () => {
  const base = { url: "tcp://127.0.0.1:1", token: "t", deviceId: "d" };
  assert.throws(() => new FlashConnection({ ...base, url: "http://x:1" }), TypeError);
  assert.throws(() => new FlashConnection({ ...base, url: "not a url" }), TypeError);
  assert.throws(() => new FlashConnection({ ...base, token: "" }), TypeError);
  assert.throws(() => new FlashConnection({ ...base, deviceId: "" }), TypeError);
  assert.throws(() => new FlashConnection({ ...base, deviceId: "x".repeat(129) }), TypeError);
  assert.throws(() => new FlashConnection({ ...base, requestTimeoutMs: 0 }), RangeError);
  assert.throws(() => new FlashConnection({ ...base, maxInFlight: 1.5 }), RangeError);
  assert.throws(
    () => new FlashConnection({ ...base, reconnect: { minDelayMs: 100, maxDelayMs: 10 } }),
    RangeError,
  );
  assert.throws(() => new FlashConnection({ ...base, reconnect: { jitter: 2 } }), RangeError);
  assert.equal(new FlashConnection(base).state, "idle");
});
