/**
 * Presence end to end: friends see a user come online and go offline (after a grace
 * period, so a quick reconnect does not flap); strangers see nothing.
 */

import assert from "node:assert/strict";
import type { Frame } from "../client/mod.ts";
import { PresenceStatus } from "../protocol/mod.ts";
import { openedStores } from "./backends.ts";
import { device, removeDataDir, startServer, type TestServer, userTokens } from "./harness.ts";

function presence(notes: Frame[], userId: string): number[] {
  return notes.filter((f) => f.body === "presenceNotify" && f.presenceNotify!.userId === userId)
    .map((f) => f.presenceNotify!.status!);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function friendsOnline(server: TestServer, token: string): Promise<Record<string, boolean>> {
  const response = await fetch(`${server.http}/v1/friends`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const body = await response.json() as { friends: { username: string; online: boolean }[] };
  return Object.fromEntries(body.friends.map((f) => [f.username, f.online]));
}

Deno.test("presence: friends see online, offline after the grace period, no flap", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "flash-im-presence-e2e-" });
  const server = await startServer({ dataDir, args: ["--presence-grace-ms", "400"] });
  try {
    const dave = await userTokens(server, "dave");
    const erin = await userTokens(server, "erin");
    const frank = await userTokens(server, "frank");
    {
      await using stores = await openedStores(dataDir);
      await stores.friends.request(dave.userId, erin.userId, Date.now());
      await stores.friends.accept(erin.userId, dave.userId, Date.now());
    }

    const watcher = await device(server, dave, "dave-phone");
    const first = await device(server, erin, "erin-phone");
    const stranger = await device(server, frank, "frank-phone");
    await sleep(200);
    assert.deepEqual(presence(watcher.notes, erin.userId), [PresenceStatus.ONLINE]);
    assert.deepEqual(presence(watcher.notes, frank.userId), [], "strangers' presence is private");

    // A user can ask which friends are online (the friends list says).
    assert.deepEqual(await friendsOnline(server, dave.accessToken), { erin: true });

    // A quick reconnect inside the grace period: no OFFLINE, no second ONLINE.
    await first.conn.close();
    const second = await device(server, erin, "erin-phone");
    await sleep(800);
    assert.deepEqual(presence(watcher.notes, erin.userId), [PresenceStatus.ONLINE]);

    // Gone for good: OFFLINE once the grace period has passed.
    await second.conn.close();
    await sleep(200);
    assert.deepEqual(presence(watcher.notes, erin.userId), [PresenceStatus.ONLINE]);
    const deadline = Date.now() + 5000;
    while (presence(watcher.notes, erin.userId).length < 2 && Date.now() < deadline) {
      await sleep(20);
    }
    assert.deepEqual(presence(watcher.notes, erin.userId), [
      PresenceStatus.ONLINE,
      PresenceStatus.OFFLINE,
    ]);
    assert.deepEqual(await friendsOnline(server, dave.accessToken), { erin: false });
    await Promise.all([watcher.conn.close(), stranger.conn.close()]);
  } finally {
    await server.stop("SIGKILL");
    await removeDataDir(dataDir);
  }
});
