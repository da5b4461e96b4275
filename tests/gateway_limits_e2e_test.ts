/**
 * The gateway under abuse: a client that stops reading, and a process out of file
 * descriptors. Real node processes, real sockets.
 */

import assert from "node:assert/strict";
import { encodeFrames, type FrameInit, FrameKind, u64 } from "../protocol/mod.ts";
import { RawConnection, startServer, userTokens } from "./harness.ts";

Deno.test("a client that stops reading is disconnected as a slow consumer", async () => {
  await using server = await startServer({
    workers: 1,
    args: ["--rate-limit", "1000000", "--rate-burst", "1000000", "--outbound-bytes", "65536"],
  });
  const { accessToken } = await userTokens(server, "slowpoke");
  await using raw = await RawConnection.tcp(server.tcpPort);
  await raw.auth(accessToken);
  assert.ok((await raw.next())?.authOk);
  // Requests whose answers pile up: more than the kernel's socket buffers can hold.
  const requests = 400_000;
  const batch: FrameInit[] = [];
  raw.pause();
  for (let id = 2; id < requests + 2; id++) {
    batch.push({ id: u64(id), kind: FrameKind.REQUEST, presenceNotify: {} });
    if (batch.length === 10_000) {
      try {
        await raw.write(encodeFrames(batch.splice(0)));
      } catch {
        break; // the server gave up on us while we were still writing: that is the point
      }
    }
  }
  // Give the server time to fill its queue and give up on us, then read what is left.
  const deadline = Date.now() + 20_000;
  while (!server.stderr().includes("SlowConsumer") && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  raw.resume();
  const frames = await raw.closedByServer(20_000);
  assert.ok(frames.length < requests, `all ${requests} answers arrived: nothing was bounded`);
  assert.ok(raw.ended);
  // The server is fine: a new client is served.
  await using next = await RawConnection.tcp(server.tcpPort);
  await next.auth(accessToken);
  assert.ok((await next.next())?.authOk);
});

Deno.test("the server keeps serving when accept fails with EMFILE", async () => {
  await using server = await startServer({
    workers: 1,
    // A low descriptor limit for the server process only.
    wrap: ["bash", "-c", 'ulimit -n 96; exec "$0" "$@"'],
    args: ["--log-level", "warn"],
  });
  const { accessToken } = await userTokens(server, "crowd");
  const crowd: Deno.Conn[] = [];
  for (let i = 0; i < 120; i++) {
    crowd.push(await Deno.connect({ hostname: "127.0.0.1", port: server.tcpPort }));
  }
  const deadline = Date.now() + 10_000;
  while (!server.stderr().includes("Accept failed") && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.match(server.stderr(), /Accept failed/);
  for (const conn of crowd) conn.close();
  // Descriptors free up; the loop backs off and accepts again.
  await using raw = await RawConnection.tcp(server.tcpPort);
  await raw.auth(accessToken);
  assert.ok((await raw.next(10_000))?.authOk);
  assert.equal(server.process.pid > 0, true);
});
