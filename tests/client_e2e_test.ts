/**
 * The client SDK against a real node: every transport, errors as typed values, and a
 * reconnect across a node restart.
 */

import assert from "node:assert/strict";
import { ErrorCode, FlashConnection, ServerError } from "../client/mod.ts";
import { removeDataDir, startServer, userTokens } from "./harness.ts";

Deno.test("client SDK e2e", async (t) => {
  const dataDir = await Deno.makeTempDir({ prefix: "flash-im-client-e2e-" });
  let server = await startServer({ tls: true, dataDir });
  try {
    const dave = await userTokens(server, "dave");
    const urls = {
      tcp: `tcp://127.0.0.1:${server.tcpPort}`,
      tls: `tls://localhost:${server.tlsPort}`,
      ws: `ws://127.0.0.1:${server.httpPort}/ws`,
    };

    for (const [name, url] of Object.entries(urls)) {
      await t.step(`${name}: connect, authenticate, typed server errors`, async () => {
        await using conn = new FlashConnection({
          url,
          token: dave.accessToken,
          deviceId: `sdk-${name}`,
          caCerts: server.caCert ? [server.caCert] : undefined,
          reconnect: false,
        });
        const session = await conn.connect();
        assert.equal(session.userId, dave.userId);
        assert.equal(conn.state, "open");
        const error = await conn.request({ presenceNotify: {} }).then(() => undefined, (e) => e);
        assert.ok(error instanceof ServerError, String(error));
        assert.equal(error.code, ErrorCode.UnsupportedBody);
        assert.equal(conn.state, "open", "an unsupported request must not cost the connection");
      });
    }

    await t.step("reconnects with a fresh token after the node restarts", async () => {
      let tokenCalls = 0;
      await using conn = new FlashConnection({
        url: urls.tcp,
        token: () => {
          tokenCalls++;
          return Promise.resolve(dave.accessToken);
        },
        deviceId: "sdk-reconnect",
        reconnect: { minDelayMs: 50, maxDelayMs: 300 },
      });
      await conn.connect();
      const reopened = new Promise<boolean>((resolve) => {
        conn.on("open", ({ reconnected }) => resolve(reconnected));
      });
      const closed = conn.once("close");
      const ports = { tcp: server.tcpPort, http: server.httpPort };
      assert.equal((await server.stop("SIGTERM")).code, 0);
      const close = await closed;
      assert.equal(close.willReconnect, true, `close ${close.code} should allow reconnecting`);
      server = await startServer({ dataDir, ports });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const reconnected = await Promise.race([
        reopened,
        new Promise<boolean>((_, reject) => {
          timer = setTimeout(() => reject(new Error("no reconnect within 15 s")), 15_000);
        }),
      ]).finally(() => clearTimeout(timer));
      assert.equal(reconnected, true);
      assert.ok(tokenCalls >= 2, "the token function is asked again on reconnect");
      assert.equal(conn.userId, dave.userId);
    });
  } finally {
    await server.stop("SIGKILL");
    await removeDataDir(dataDir);
  }
});
