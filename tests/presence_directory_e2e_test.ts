/**
 * The shared presence directory end to end: a node on Redis records where each live
 * session is (node, worker, device), removes it when the connection closes, and when the
 * node dies (kill -9) its entries expire by themselves within the TTL.
 */

import assert from "node:assert/strict";
import { openRedis, RedisPresenceDirectory } from "../services/mod.ts";
import { deleteKeys, TEST_REDIS_URL } from "./backends.ts";
import { device, startServer, userTokens } from "./harness.ts";

Deno.test("presence directory on Redis: sessions registered, removed, and expired with their node", async () => {
  const prefix = `e2e-presence-${crypto.randomUUID().slice(0, 8)}:`;
  const redis = await openRedis(TEST_REDIS_URL);
  const directory = new RedisPresenceDirectory({ redis, prefix });
  await using server = await startServer({
    args: ["--redis", TEST_REDIS_URL, "--redis-prefix", prefix, "--presence-ttl-ms", "1500"],
  });
  try {
    const alice = await userTokens(server, "alice");
    const bob = await userTokens(server, "bob");
    const phone = await device(server, alice, "alice-phone");
    const laptop = await device(server, alice, "alice-laptop");
    const bobs = await device(server, bob, "bob-phone");
    const sessions = await poll(async () => {
      const found = await directory.sessionsOf(alice.userId);
      return found.length === 2 ? found : undefined;
    });
    assert.deepEqual(sessions.map((s) => s.deviceId).sort(), ["alice-laptop", "alice-phone"]);
    for (const session of sessions) {
      assert.equal(session.userId, alice.userId);
      assert.ok(session.worker === 0 || session.worker === 1, `worker ${session.worker}`);
      assert.match(session.node, /\S/);
    }
    // Closing a connection removes its entry; refreshes keep the others past the TTL.
    await laptop.conn.close();
    await poll(async () => (await directory.sessionsOf(alice.userId)).length === 1 || undefined);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    assert.deepEqual(
      await directory.onlineAmong([alice.userId, bob.userId]),
      new Set([alice.userId, bob.userId]),
    );
    // A node killed without a word: its sessions vanish within the TTL.
    await server.stop("SIGKILL");
    const started = Date.now();
    await poll(async () =>
      (await directory.onlineAmong([alice.userId, bob.userId])).size === 0 || undefined
    );
    assert.ok(Date.now() - started < 3000, `expired after ${Date.now() - started} ms`);
    await Promise.all([phone.conn.close(), bobs.conn.close()]);
  } finally {
    await deleteKeys(redis, prefix);
    await redis.quit();
  }
});

/** Calls `check` until it returns a value (bounded: 10 s). */
async function poll<T>(check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 10_000;
  while (true) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("Condition not met within 10 s");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
