/**
 * Auth hardening end to end: logout and refresh-token theft end the session's live
 * connections (close code Revoked) on every worker and refuse its access tokens at once;
 * login attempts are limited per account and per address.
 */

import assert from "node:assert/strict";
import { CloseCode, ErrorCode, FrameKind } from "../protocol/mod.ts";
import { postJson, RawConnection, startServer, type TestServer, userTokens } from "./harness.ts";

/** An authenticated raw connection of `token` on `device`. */
async function connected(server: TestServer, token: string, device: string) {
  const raw = await RawConnection.tcp(server.tcpPort);
  await raw.auth(token, { deviceId: device });
  const ok = await raw.next();
  assert.ok(ok?.authOk, `auth failed: ${JSON.stringify(ok?.error)}`);
  return raw;
}

/** Waits for a Close frame with `code` (skipping pushes before it), then the end. */
async function assertClosedWith(raw: RawConnection, code: CloseCode, within = 5000) {
  const frames = await raw.closedByServer(within);
  const close = frames.find((frame) => frame.body === "close");
  assert.equal(close?.close?.code, code, JSON.stringify(frames.map((f) => f.body)));
}

Deno.test("auth e2e: revocation and login limits", async (t) => {
  await using server = await startServer({
    workers: 2,
    args: ["--login-limit-account", "4", "--login-limit-address", "1000"],
  });

  await t.step("logout closes every live connection of the session, on any worker", async () => {
    const alice = await userTokens(server, "alice", "laptop");
    // A second session of the same user stays up.
    const phone = await postJson(server, "/v1/auth/login", {
      username: "alice",
      password: "correct horse battery",
      deviceId: "phone",
    });
    const phoneToken = (phone.body as { accessToken: string }).accessToken;
    // Several connections spread over the workers (reusePort), all of one session.
    const conns = await Promise.all(
      Array.from({ length: 6 }, (_, i) => connected(server, alice.accessToken, `laptop-${i}`)),
    );
    await using other = await connected(server, phoneToken, "phone");
    const out = await postJson(server, "/v1/auth/logout", {}, {
      authorization: `Bearer ${alice.accessToken}`,
    });
    assert.equal(out.status, 204);
    for (const raw of conns) {
      await assertClosedWith(raw, CloseCode.Revoked);
      await raw[Symbol.asyncDispose]();
    }
    // The revoked access token is refused at once, long before it expires.
    await using again = await RawConnection.tcp(server.tcpPort);
    await again.auth(alice.accessToken);
    const refused = await again.next();
    assert.equal(refused?.kind, FrameKind.RESPONSE);
    assert.equal(refused?.error?.code, ErrorCode.AuthTokenRevoked);
    await assertClosedWith(again, CloseCode.Revoked);
    const me = await fetch(`${server.http}/v1/me`, {
      headers: { authorization: `Bearer ${alice.accessToken}` },
    });
    assert.equal(me.status, 401);
    assert.equal((await me.json()).error.code, "token_revoked");
    // The other session is untouched.
    const ping = await other.send({ kind: FrameKind.PING });
    assert.equal(Number((await other.next())?.id), ping);
  });

  await t.step("a reused refresh token ends the session's connections too", async () => {
    const bob = await userTokens(server, "bob", "laptop");
    const rotated = await postJson(server, "/v1/auth/refresh", { refreshToken: bob.refreshToken });
    assert.equal(rotated.status, 200);
    const fresh = (rotated.body as { accessToken: string }).accessToken;
    await using raw = await connected(server, fresh, "laptop");
    // The old refresh token again: theft. The whole session goes.
    const reuse = await postJson(server, "/v1/auth/refresh", { refreshToken: bob.refreshToken });
    assert.equal(reuse.status, 401);
    await assertClosedWith(raw, CloseCode.Revoked);
  });

  await t.step("login attempts are limited per account, with Retry-After", async () => {
    await userTokens(server, "carol"); // one attempt
    const attempt = (password: string) =>
      fetch(`${server.http}/v1/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ username: "Carol", password, deviceId: "d" }),
      });
    for (let i = 0; i < 3; i++) {
      const wrong = await attempt("wrong password!");
      assert.equal(wrong.status, 401);
      await wrong.body?.cancel();
    }
    const limited = await attempt("correct horse battery");
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get("retry-after")) >= 1);
    assert.equal((await limited.json()).error.code, "rate_limited");
    // Another account is not affected.
    assert.equal((await userTokens(server, "dave")).accessToken.length > 0, true);
  });
});

Deno.test("auth e2e: login attempts are limited per address", async () => {
  await using server = await startServer({
    workers: 2,
    args: ["--login-limit-account", "100", "--login-limit-address", "5"],
  });
  const statuses: number[] = [];
  for (let i = 0; i < 7; i++) {
    const response = await postJson(server, "/v1/auth/login", {
      username: `nobody${i}`,
      password: "some password",
      deviceId: "d",
    });
    statuses.push(response.status);
  }
  assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429]);
});
