import assert from "node:assert/strict";
import { BroadcastRevocationList } from "./ephemeral_broadcast.ts";

const name = () => `flash-im-test:${crypto.randomUUID()}`;

Deno.test("BroadcastRevocationList shares revocations between instances and tells their listeners", async () => {
  const channel = name();
  const a = new BroadcastRevocationList(channel);
  const b = new BroadcastRevocationList(channel);
  const other = new BroadcastRevocationList(name());
  try {
    const heardA: string[] = [];
    a.subscribe((id) => heardA.push(id));
    const heardB = Promise.withResolvers<string>();
    b.subscribe((id) => heardB.resolve(id));
    await a.revoke("session-1", Date.now() + 60_000);
    // The revoking instance knows at once; the other as soon as the announcement arrives.
    assert.equal(await a.isRevoked("session-1"), true);
    assert.deepEqual(heardA, ["session-1"]);
    assert.equal(await heardB.promise, "session-1");
    assert.equal(await b.isRevoked("session-1"), true);
    // Another channel (another node) hears nothing.
    assert.equal(await other.isRevoked("session-1"), false);
  } finally {
    await Promise.all([a.close(), b.close(), other.close()]);
  }
});

Deno.test("BroadcastRevocationList reaches the instances of other workers", async () => {
  const channel = name();
  const worker = new Worker(
    new URL("./testdata/broadcast_revocation_worker.ts", import.meta.url),
    { type: "module" },
  );
  const list = new BroadcastRevocationList(channel);
  try {
    const answer = Promise.withResolvers<{ heard: string; revoked: boolean }>();
    const ready = Promise.withResolvers<void>();
    worker.onmessage = (event) =>
      event.data === "ready" ? ready.resolve() : answer.resolve(event.data);
    worker.postMessage(channel);
    await ready.promise;
    await list.revoke("session-2", Date.now() + 60_000);
    assert.deepEqual(await answer.promise, { heard: "session-2", revoked: true });
  } finally {
    worker.terminate();
    await list.close();
  }
});
