/**
 * Graceful shutdown under load, one node: SIGTERM while sends are in flight. What the node
 * accepted it answers before closing; what it refuses (ShuttingDown) it never stored; the
 * process exits 0 and every acknowledged message is in the store exactly once.
 */

import assert from "node:assert/strict";
import {
  ConnectionClosedError,
  ContentType,
  ErrorCode,
  type SendAck,
  ServerError,
} from "../client/mod.ts";
import { openedStores } from "./backends.ts";
import { device, removeDataDir, startServer, userTokens } from "./harness.ts";

Deno.test("shutdown e2e: SIGTERM under load answers accepted sends and stores them once", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "flash-im-shutdown-e2e-" });
  const server = await startServer({
    dataDir,
    args: ["--rate-limit", "5000", "--rate-burst", "2000"],
  });
  try {
    const alice = await userTokens(server, "alice");
    const bob = await userTokens(server, "bob");
    {
      await using stores = await openedStores(dataDir);
      await stores.friends.request(alice.userId, bob.userId, Date.now());
      await stores.friends.accept(bob.userId, alice.userId, Date.now());
    }
    const laptop = await device(server, alice, "alice-laptop");
    const acked = new Map<string, SendAck>();
    const refused = new Set<string>();
    const cut = new Set<string>();
    const other: unknown[] = [];
    let stopping = false;
    const sends: Promise<void>[] = [];
    // A steady stream of sends; SIGTERM lands in the middle of it.
    const pump = (async () => {
      for (let i = 0; !stopping || i % 50 !== 0; i++) {
        const id = `m-${i}`;
        sends.push(
          laptop.conn.sendMessage(
            {
              peerUserId: bob.userId,
              clientMsgId: id,
              content: { type: ContentType.TEXT, text: id },
            },
            { timeoutMs: 10_000 },
          ).then(
            (ack) => void acked.set(id, ack),
            (error: unknown) => {
              if (error instanceof ServerError && error.code === ErrorCode.ShuttingDown) {
                refused.add(id);
              } else if (error instanceof ConnectionClosedError) cut.add(id);
              else other.push(error);
            },
          ),
        );
        if (laptop.conn.state !== "open") break;
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 300));
    stopping = true;
    const status = await server.stop("SIGTERM");
    await pump;
    await Promise.all(sends);
    assert.equal(status.code, 0, server.stderr().slice(-2000));
    assert.deepEqual(other, [], "every send is acked, refused as ShuttingDown, or cut off");
    assert.ok(acked.size > 0, "some sends were acked before the shutdown");
    assert.ok([...acked.values()].every((ack) => !ack.duplicate), "nothing acked twice");
    await using stores = await openedStores(dataDir);
    const conversationId = [...acked.values()][0]!.conversationId ?? "";
    const page = await stores.messages.page(conversationId, { limit: 5000 });
    const stored = new Map(page.messages.map((m) => [m.clientMsgId, m]));
    assert.equal(stored.size, page.messages.length, "no message stored twice");
    for (const id of acked.keys()) assert.ok(stored.has(id), `acked ${id} is stored`);
    for (const id of refused) assert.ok(!stored.has(id), `refused ${id} is not stored`);
    for (const id of stored.keys()) {
      assert.ok(acked.has(id) || cut.has(id), `stored ${id} was acked (or its answer cut off)`);
    }
    console.log(
      `shutdown: ${acked.size} acked, ${refused.size} refused (ShuttingDown), ${cut.size} cut off`,
    );
  } finally {
    await server.stop("SIGKILL");
    await removeDataDir(dataDir);
  }
});
