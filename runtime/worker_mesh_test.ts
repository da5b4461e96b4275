import assert from "node:assert/strict";
import type { WireMessage } from "./envelope.ts";
import { encodeBatch, receiveMeshData, WorkerMesh } from "./worker_mesh.ts";

function channelPair() {
  const { port1, port2 } = new MessageChannel();
  const got: WireMessage[] = [];
  const batches: number[] = [];
  port2.onmessage = (event) => {
    const before = got.length;
    receiveMeshData(event.data, { receive: (m) => got.push(m) });
    batches.push(got.length - before);
  };
  return { port1, port2, got, batches };
}

async function settle(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 1));
}

Deno.test("WorkerMesh.send() batches a turn's messages into one post, in order", async () => {
  const pair = channelPair();
  const mesh = new WorkerMesh("n");
  mesh.setPort(1, pair.port1);
  for (let i = 0; i < 100; i++) {
    assert.ok(mesh.send({ node: "n", worker: 1 }, { to: { kind: "k", id: "a" }, body: i }));
  }
  await settle(() => pair.got.length === 100);
  assert.deepEqual(pair.got.map((m) => (m as { body: number }).body), [...Array(100).keys()]);
  assert.deepEqual(pair.batches, [100]);
  assert.equal(mesh.batches, 1);
  pair.port1.close();
  pair.port2.close();
});

Deno.test("WorkerMesh.send() has no route to unknown workers or other nodes", () => {
  const mesh = new WorkerMesh("n");
  assert.equal(mesh.send({ node: "n", worker: 3 }, { to: { kind: "k", id: "a" }, body: 1 }), false);
  assert.equal(mesh.send({ node: "m", worker: 0 }, { to: { kind: "k", id: "a" }, body: 1 }), false);
});

Deno.test("WorkerMesh posts at maxBatch and keeps the rest of a batch with an uncloneable body", async () => {
  const pair = channelPair();
  const bad: unknown[] = [];
  const mesh = new WorkerMesh("n", { maxBatch: 4, onUncloneable: (m) => bad.push(m) });
  mesh.setPort(1, pair.port1);
  const to = { node: "n", worker: 1 };
  for (let i = 0; i < 6; i++) {
    mesh.send(to, { to: { kind: "k", id: "a" }, body: i === 2 ? { f: () => i } : i });
  }
  await settle(() => pair.got.length === 5);
  assert.deepEqual(pair.got.map((m) => (m as { body: number }).body), [0, 1, 3, 4, 5]);
  assert.equal(bad.length, 1);
  assert.deepEqual(pair.batches, [3, 2]);
  pair.port1.close();
  pair.port2.close();
});

Deno.test("encodeBatch() round-trips every envelope and reply shape", () => {
  const a = { kind: "user", id: "a" };
  const b = { kind: "conn", node: "n", worker: 1, local: 7 };
  const messages: WireMessage[] = [
    { to: a, body: { n: 1 } },
    { to: a, body: 2, from: b },
    { to: b, body: 3, reply: { node: "n", worker: -1, id: 9 } },
    { to: a, body: { $: "stop" }, system: true },
    { to: a, body: 4, forwarded: true },
    { to: a, body: 5, from: b, system: true, forwarded: true },
    { replyTo: 9, ok: true, value: [1, 2] },
    { replyTo: 10, ok: false, error: { name: "DeadLetterError", message: "gone" } },
  ];
  const batch = encodeBatch(messages);
  assert.equal(batch.r.length, 2, "refs are listed once");
  assert.deepEqual(batch.s, ["n"], "reply nodes are listed once");
  const got: WireMessage[] = [];
  receiveMeshData(structuredClone(batch), { receive: (m) => got.push(m) });
  const plain = (m: WireMessage) => JSON.parse(JSON.stringify(m));
  assert.deepEqual(got.map(plain), messages.map(plain));
  assert.throws(
    () =>
      receiveMeshData({ t: "m", r: [], s: [], h: new Float64Array([7]), b: [] }, {
        receive: () => {},
      }),
    /unknown tag 7/,
  );
  const noRef = { t: "m", r: [], s: [], h: new Float64Array([0, 1.5]), b: [1] };
  assert.throws(() => receiveMeshData(noRef, { receive: () => {} }), /no ref 1.5/);
  const noNode = { t: "m", r: [a], s: [], h: new Float64Array([1, 0, -1, 2, 0, 1, 0]), b: [1] };
  assert.throws(() => receiveMeshData(noNode, { receive: () => {} }), /no node name 2/);
  const rows = { t: "m", r: [a], s: [], h: [0, 0], b: [1] };
  assert.throws(() => receiveMeshData(rows, { receive: () => {} }), /malformed columns/);
});
