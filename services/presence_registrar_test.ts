import assert from "node:assert/strict";
import type { PresenceDirectory, SessionLocation, SessionRef } from "./ephemeral.ts";
import { MemoryPresenceDirectory } from "./ephemeral_memory.ts";
import { PresenceRegistrar } from "./presence_registrar.ts";

Deno.test("PresenceRegistrar registers, refreshes and removes a worker's sessions", async () => {
  let t = 1_000_000;
  const directory = new MemoryPresenceDirectory({ now: () => t });
  const registrar = new PresenceRegistrar({ directory, node: "n1", worker: 1, ttlMs: 300 });
  await registrar.attach({ userId: "7", sessionId: "n1/1/5", deviceId: "phone" });
  await registrar.attach({ userId: "8", sessionId: "n1/1/6", deviceId: "laptop" });
  assert.deepEqual(await directory.sessionsOf("7"), [
    { userId: "7", sessionId: "n1/1/5", deviceId: "phone", node: "n1", worker: 1 },
  ]);
  // Refreshed before the TTL runs out: still there after it.
  t += 200;
  await registrar.refresh();
  t += 200;
  assert.deepEqual(await directory.onlineAmong(["7", "8", "9"]), new Set(["7", "8"]));
  await registrar.detach("8", "n1/1/6");
  assert.deepEqual(await directory.onlineAmong(["7", "8"]), new Set(["7"]));
  // Without refreshes (a dead node) the entries vanish after the TTL.
  t += 301;
  assert.deepEqual(await directory.onlineAmong(["7"]), new Set());
  // A refresh after an outage writes the lost entries again.
  await registrar.refresh();
  assert.deepEqual(await directory.onlineAmong(["7"]), new Set(["7"]));
  await registrar.stop();
  assert.equal(registrar.size, 0);
  assert.deepEqual(await directory.onlineAmong(["7"]), new Set());
});

Deno.test("PresenceRegistrar reports directory failures instead of throwing", async () => {
  const failing: PresenceDirectory = {
    register: (_l: SessionLocation) => Promise.reject(new Error("redis down")),
    refresh: (_e: readonly SessionRef[]) => Promise.reject(new Error("redis down")),
    unregister: () => Promise.reject(new Error("redis down")),
    sessionsOf: () => Promise.resolve([]),
    onlineAmong: () => Promise.resolve(new Set()),
  };
  const errors: unknown[] = [];
  const registrar = new PresenceRegistrar({
    directory: failing,
    node: "n1",
    worker: 0,
    onError: (error) => errors.push(error),
  });
  await registrar.attach({ userId: "7", sessionId: "s", deviceId: "d" });
  await registrar.refresh();
  await registrar.detach("7", "s");
  assert.equal(errors.length, 3);
  assert.throws(
    () => new PresenceRegistrar({ directory: failing, node: "n", worker: 0, ttlMs: 0 }),
    RangeError,
  );
});
