/**
 * The gateway end to end: a real node process, real sockets, the wire protocol as a
 * client in another language would speak it.
 */

import assert from "node:assert/strict";
import { generateKeyPair, SignJWT } from "jose";
import { CloseCode, ErrorCode, type Frame, FrameKind, u64 } from "../protocol/mod.ts";
import { signAccessToken } from "../services/access_token.ts";
import { loadOrCreateSigningKeys } from "../services/mod.ts";
import { postJson, RawConnection, startServer, type TestServer, userTokens } from "./harness.ts";

/** Asserts the frame is a Close with `code` (and optionally the error behind it). */
function assertClose(frame: Frame | undefined, code: number, errorCode?: number): void {
  assert.ok(frame, `expected a Close ${code}, got the end of the stream`);
  assert.equal(frame.body, "close", `expected a Close ${code}, got ${frame.body}`);
  assert.equal(frame.close!.code, code);
  if (errorCode !== undefined) assert.equal(frame.close!.errorCode, errorCode);
}

/** Sends Auth with `token` and asserts it is refused with `errorCode`, then closed. */
async function assertRefused(server: TestServer, token: string, errorCode: number): Promise<void> {
  await using raw = await RawConnection.tcp(server.tcpPort);
  const id = await raw.auth(token);
  const answer = await raw.next();
  assert.equal(answer?.kind, FrameKind.RESPONSE);
  assert.equal(Number(answer!.id), id);
  assert.equal(answer!.error?.code, errorCode, JSON.stringify(answer?.error));
  assertClose(await raw.next(), CloseCode.AuthFailed, errorCode);
  assert.deepEqual(await raw.closedByServer(), []);
}

Deno.test("gateway e2e", async (t) => {
  await using server = await startServer({
    tls: true,
    args: ["--auth-timeout-ms", "600", "--idle-timeout-ms", "1500", "--heartbeat-ms", "400"],
  });
  const alice = await userTokens(server, "alice");

  await t.step("TCP: Auth answers AuthOk with the token's user; PING gets PONG", async () => {
    await using raw = await RawConnection.tcp(server.tcpPort);
    const id = await raw.auth(alice.accessToken);
    const ok = await raw.next();
    assert.equal(ok?.kind, FrameKind.RESPONSE);
    assert.equal(Number(ok!.id), id);
    assert.equal(ok!.authOk?.userId, alice.userId);
    assert.equal(ok!.authOk?.heartbeatIntervalMs, 400);
    await raw.send({ id: u64(77), kind: FrameKind.PING });
    const pong = await raw.next();
    assert.equal(pong?.kind, FrameKind.PONG);
    assert.equal(Number(pong!.id), 77);
    // A request nobody serves yet is answered, not dropped, and the connection stays.
    const req = await raw.send({ kind: FrameKind.REQUEST, presenceNotify: {} });
    const unsupported = await raw.next();
    assert.equal(Number(unsupported!.id), req);
    assert.equal(unsupported!.error?.code, ErrorCode.UnsupportedBody);
    const again = await raw.send({ kind: FrameKind.REQUEST, auth: { accessToken: "x" } });
    assert.equal(Number((await raw.next())!.id), again);
  });

  await t.step("a request before Auth is refused and the connection closed", async () => {
    await using raw = await RawConnection.tcp(server.tcpPort);
    await raw.send({ kind: FrameKind.REQUEST, presenceNotify: {} });
    const answer = await raw.next();
    assert.equal(answer?.error?.code, ErrorCode.AuthRequired);
    assertClose(await raw.next(), CloseCode.AuthRequired);
    assert.deepEqual(await raw.closedByServer(), []);
  });

  await t.step("no Auth within the deadline closes with AuthTimeout", async () => {
    await using raw = await RawConnection.tcp(server.tcpPort);
    const started = Date.now();
    const frames = await raw.closedByServer(5000);
    assertClose(frames.at(-1), CloseCode.AuthTimeout, ErrorCode.AuthTimeout);
    assert.ok(Date.now() - started >= 500, "closed before the deadline");
  });

  await t.step("bad, tampered, expired, wrong-algorithm and unknown-key tokens", async () => {
    await assertRefused(server, "not-a-token", ErrorCode.AuthTokenMalformed);
    const [head, payload, signature] = alice.accessToken.split(".");
    const flipped = signature!.startsWith("A")
      ? `B${signature!.slice(1)}`
      : `A${signature!.slice(1)}`;
    await assertRefused(server, `${head}.${payload}.${flipped}`, ErrorCode.AuthTokenBadSignature);
    const keys = await loadOrCreateSigningKeys(`${server.dataDir}/keys`);
    const expired = await signAccessToken(
      keys.current,
      { userId: alice.userId, sessionId: alice.sessionId, ttlSec: 1 },
      { issuer: "flash-im", audience: "flash-im", now: () => Date.now() - 3_600_000 },
    );
    await assertRefused(server, expired.token, ErrorCode.AuthTokenExpired);
    const hs256 = await new SignJWT({ sid: "s" }).setProtectedHeader({
      alg: "HS256",
      kid: keys.current.kid,
    })
      .setSubject(alice.userId).setIssuer("flash-im").setAudience("flash-im").setIssuedAt()
      .setExpirationTime("5m").sign(new TextEncoder().encode("0123456789abcdef0123456789abcdef"));
    await assertRefused(server, hs256, ErrorCode.AuthTokenWrongAlgorithm);
    const stranger = await generateKeyPair("EdDSA", { crv: "Ed25519" });
    const unknown = await signAccessToken(
      { kid: "someone-else", privateKey: stranger.privateKey },
      { userId: alice.userId, sessionId: alice.sessionId, ttlSec: 300 },
      { issuer: "flash-im", audience: "flash-im", now: () => Date.now() },
    );
    await assertRefused(server, unknown.token, ErrorCode.AuthTokenUnknownKey);
  });

  await t.step("a wrong protocol version is refused with ProtocolUnsupported", async () => {
    await using raw = await RawConnection.tcp(server.tcpPort);
    await raw.auth(alice.accessToken, { version: 99 });
    assert.equal((await raw.next())?.error?.code, ErrorCode.ProtocolVersionUnsupported);
    assertClose(await raw.next(), CloseCode.ProtocolUnsupported);
  });

  await t.step("heartbeats: the server PINGs a quiet client and closes an idle one", async () => {
    await using raw = await RawConnection.tcp(server.tcpPort);
    await raw.auth(alice.accessToken);
    assert.ok((await raw.next())?.authOk);
    const ping = await raw.next(3000);
    assert.equal(ping?.kind, FrameKind.PING);
    // Answering keeps the connection: still open a full idle timeout later.
    await raw.send({ id: ping!.id, kind: FrameKind.PONG });
    const started = Date.now();
    let frame = await raw.next(3000);
    while (frame?.kind === FrameKind.PING && Date.now() - started < 1700) {
      await raw.send({ id: frame.id, kind: FrameKind.PONG });
      frame = await raw.next(3000);
    }
    assert.equal(frame?.kind, FrameKind.PING, "closed although the client answered PINGs");
    // Now stay silent: the idle timeout closes it.
    const rest = await raw.closedByServer(5000);
    assertClose(rest.at(-1), CloseCode.IdleTimeout);
  });

  await t.step("malformed frames close with BadFrame and the error code", async () => {
    const cases: [Uint8Array, number][] = [
      [new Uint8Array([0, 0, 0, 0]), ErrorCode.FrameEmpty],
      [new Uint8Array([0, 0x10, 0, 0]), ErrorCode.FrameTooLarge],
      [new Uint8Array([0, 0, 0, 3, 0xff, 0xff, 0xff]), ErrorCode.FrameUndecodable],
    ];
    for (const [bytes, code] of cases) {
      await using raw = await RawConnection.tcp(server.tcpPort);
      await raw.write(bytes);
      assertClose((await raw.closedByServer()).at(-1), CloseCode.BadFrame, code);
    }
  });

  await t.step("TLS with the dev CA", async () => {
    await using raw = await RawConnection.tls(server.tlsPort!, server.caCert!);
    await raw.auth(alice.accessToken);
    assert.equal((await raw.next())?.authOk?.userId, alice.userId);
  });

  await t.step("WebSocket: one binary message per frame", async () => {
    const { encodeFrameBody, decodeFrameBody, PROTOCOL_VERSION } = await import(
      "../protocol/mod.ts"
    );
    const ws = new WebSocket(`ws://127.0.0.1:${server.httpPort}/ws`);
    ws.binaryType = "arraybuffer";
    const frames: Frame[] = [];
    const got = Promise.withResolvers<void>();
    ws.onmessage = (event) => {
      const result = decodeFrameBody(new Uint8Array(event.data as ArrayBuffer));
      if (result.ok) frames.push(result.frame);
      if (frames.length === 2) got.resolve();
    };
    const closed = new Promise<CloseEvent>((resolve) => ws.onclose = resolve);
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("WebSocket did not open in 5 s")), 5000);
      ws.onopen = () => resolve(clearTimeout(timer));
      ws.onerror = () => reject(new Error("WebSocket failed to open"));
    });
    ws.send(encodeFrameBody({
      id: u64(1),
      kind: FrameKind.REQUEST,
      auth: { accessToken: alice.accessToken, deviceId: "ws", protocolVersion: PROTOCOL_VERSION },
    }));
    ws.send(encodeFrameBody({ id: u64(2), kind: FrameKind.PING }));
    const timer = setTimeout(() => got.reject(new Error("no WebSocket answers")), 5000);
    await got.promise;
    clearTimeout(timer);
    assert.equal(frames[0]!.authOk?.userId, alice.userId);
    assert.equal(frames[1]!.kind, FrameKind.PONG);
    ws.close();
    await closed;
  });

  await t.step("floods get RateLimited errors, then a close", async () => {
    await using raw = await RawConnection.tcp(server.tcpPort);
    await raw.auth(alice.accessToken);
    assert.ok((await raw.next())?.authOk);
    const burst: Uint8Array[] = [];
    const { encodeFrame } = await import("../protocol/mod.ts");
    for (let i = 1; i <= 2000; i++) {
      burst.push(encodeFrame({ id: u64(i), kind: FrameKind.REQUEST, presenceNotify: {} }));
    }
    await raw.write(new Uint8Array(burst.flatMap((b) => [...b])));
    const frames = await raw.closedByServer(10_000);
    const limited = frames.filter((f) => f.error?.code === ErrorCode.RateLimited);
    const kinds = frames.map((f) => f.error?.code ?? f.close?.code ?? f.body).join(",");
    assert.ok(limited.length > 0, `no RateLimited error before the close: ${kinds.slice(-200)}`);
    assert.ok(limited[0]!.error!.temporary);
    assertClose(frames.at(-1), CloseCode.RateLimited, ErrorCode.RateLimited);
  });

  await t.step("HTTP API: register, login, refresh rotation and reuse detection", async () => {
    assert.equal(
      (await postJson(server, "/v1/auth/register", { username: "alice", password: "another pass" }))
        .status,
      409,
    );
    const weak = await postJson(server, "/v1/auth/register", {
      username: "bob",
      password: "short",
    });
    assert.equal(weak.status, 400);
    assert.equal((weak.body as { error: { code: string } }).error.code, "invalid_password");
    const wrong = await postJson(server, "/v1/auth/login", {
      username: "alice",
      password: "nope nope nope",
      deviceId: "d",
    });
    assert.equal(wrong.status, 401);
    const first = await postJson(server, "/v1/auth/refresh", { refreshToken: alice.refreshToken });
    assert.equal(first.status, 200);
    const rotated = first.body as { refreshToken: string; accessToken: string };
    assert.notEqual(rotated.refreshToken, alice.refreshToken);
    const reused = await postJson(server, "/v1/auth/refresh", { refreshToken: alice.refreshToken });
    assert.equal(reused.status, 401);
    assert.equal((reused.body as { error: { code: string } }).error.code, "token_reused");
    // Reuse revoked the whole family: the rotated token is dead too.
    assert.equal(
      (await postJson(server, "/v1/auth/refresh", { refreshToken: rotated.refreshToken })).status,
      401,
    );
    const bad = await fetch(`${server.http}/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{not json",
    });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, "invalid_json");
    const big = await postJson(server, "/v1/auth/login", { username: "x".repeat(20_000) });
    assert.equal(big.status, 413);
    const jwks = await (await fetch(`${server.http}/.well-known/jwks.json`)).json() as {
      keys: { d?: string }[];
    };
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0]!.d, undefined, "JWKS must not expose private key material");
  });

  await t.step("SIGTERM: clients are told ServerShutdown, the process exits 0", async () => {
    const fresh = await userTokens(server, "carol");
    await using raw = await RawConnection.tcp(server.tcpPort);
    await raw.auth(fresh.accessToken);
    assert.ok((await raw.next())?.authOk);
    const status = server.stop("SIGTERM");
    const frames = await raw.closedByServer(10_000);
    assertClose(frames.filter((f) => f.body === "close").at(-1), CloseCode.ServerShutdown);
    assert.equal((await status).code, 0, server.stderr().slice(-2000));
  });
});
