import assert from "node:assert/strict";
import { NodeHost } from "./node_host.ts";
import { type ActorRef, type VirtualRef, virtualRef } from "./ref.ts";
import type { TestMessage } from "./testdata/test_app.ts";

const APP = new URL("./testdata/test_app.ts", import.meta.url);
const ASK = { timeoutMs: 5000 };

/** The first `count` ids of `kind` that placement puts on `worker`. */
function idsOn(host: NodeHost, kind: string, worker: number, count: number): VirtualRef[] {
  const refs: VirtualRef[] = [];
  for (let i = 0; refs.length < count; i++) {
    const ref = virtualRef(kind, `${kind}-${i}`);
    if (host.system.locate(ref).worker === worker) refs.push(ref);
  }
  return refs;
}

function ask<R>(host: NodeHost, ref: ActorRef, message: TestMessage): Promise<R> {
  return host.system.ask<R, TestMessage>(ref, message, ASK);
}

Deno.test("NodeHost places virtual actors on the worker placement names", async () => {
  await using host = await NodeHost.start({ app: APP, workers: 2 });
  for (const worker of [0, 1]) {
    for (const ref of idsOn(host, "counter", worker, 5)) {
      const where = await ask<{ worker: number }>(host, ref, { type: "where" });
      assert.equal(where.worker, worker);
    }
  }
  const metrics = await host.metrics();
  assert.equal(metrics.activations, 10);
  assert.equal(metrics.deadLetters, 0);
});

Deno.test("NodeHost keeps per-sender order across workers", async () => {
  await using host = await NodeHost.start({ app: APP, workers: 2, cloneLocal: true });
  const [recorder] = idsOn(host, "recorder", 1, 1);
  const relays = [...idsOn(host, "relay", 0, 3), ...idsOn(host, "relay", 1, 1)];
  const count = 2000;
  await Promise.all(
    relays.map((relay, i) =>
      ask(host, relay, { type: "relay", to: recorder!, from: `relay${i}`, count })
    ),
  );
  // The main thread is a sender too.
  for (let seq = 0; seq < count; seq++) {
    host.system.tell<TestMessage>(recorder!, { type: "record", from: "main", seq });
  }
  const expected = (relays.length + 1) * count;
  let seen: [string, number][] = [];
  for (let tries = 0; tries < 100 && seen.length < expected; tries++) {
    seen = await ask<[string, number][]>(host, recorder!, { type: "log" });
    if (seen.length < expected) await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(seen.length, expected);
  const next = new Map<string, number>();
  for (const [from, seq] of seen) {
    assert.equal(seq, next.get(from) ?? 0, `message ${seq} from ${from} out of order`);
    next.set(from, seq + 1);
  }
  assert.equal(next.size, relays.length + 1);
});

Deno.test("NodeHost respawns a killed worker and its virtual actors re-activate", async () => {
  await using host = await NodeHost.start({
    app: APP,
    workers: 2,
    restart: { minBackoffMs: 10, maxBackoffMs: 50 },
  });
  const [counter] = idsOn(host, "counter", 1, 1);
  assert.equal(await ask(host, counter!, { type: "add", n: 5 }), 5);
  host.killWorker(1);
  await host.whenReady();
  assert.deepEqual(host.generations(), [0, 1]);
  assert.equal(host.respawns, 1);
  // Its state was in memory only: the next message activates a fresh instance there.
  assert.equal(await ask(host, counter!, { type: "add", n: 1 }), 1);
  assert.deepEqual(await ask(host, counter!, { type: "where" }), { worker: 1, generation: 1 });
  // The surviving worker reaches the new one over the rewired mesh.
  const [relay] = idsOn(host, "relay", 0, 1);
  const [recorder] = idsOn(host, "recorder", 1, 1);
  await ask(host, relay!, { type: "relay", to: recorder!, from: "r", count: 10 });
  let seen: unknown[] = [];
  for (let tries = 0; tries < 100 && seen.length < 10; tries++) {
    seen = await ask<unknown[]>(host, recorder!, { type: "log" });
    if (seen.length < 10) await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(seen.length, 10);
});

Deno.test("NodeHost survives an uncaught error in a worker and respawns it", async () => {
  await using host = await NodeHost.start({
    app: APP,
    workers: 2,
    restart: { minBackoffMs: 10, maxBackoffMs: 50 },
  });
  const [bomb] = idsOn(host, "bomb", 0, 1);
  assert.equal(await ask(host, bomb!, { type: "add", n: 0 }), "armed");
  for (let tries = 0; tries < 200 && host.respawns === 0; tries++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  await host.whenReady();
  assert.equal(host.respawns, 1);
  assert.deepEqual(host.generations(), [1, 0]);
  assert.deepEqual(await ask(host, bomb!, { type: "where" }), { worker: 0, generation: 1 });
});

Deno.test("NodeHost keeps a worker whose app judges an uncaught error survivable", async () => {
  const lines: string[] = [];
  await using host = await NodeHost.start({
    app: APP,
    workers: 2,
    restart: { minBackoffMs: 10, maxBackoffMs: 50 },
    log: (line) => lines.push(line),
  });
  const [bomb] = idsOn(host, "bomb", 0, 1);
  assert.equal(await ask(host, bomb!, { type: "dud" }), "armed");
  for (let tries = 0; tries < 200 && !lines.some((l) => l.includes("survived")); tries++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const survived = lines.map((line) => JSON.parse(line)).find((l) => l.msg.includes("survived"));
  assert.equal(survived?.reason, "a dud");
  assert.equal(survived?.error?.name, "DudError");
  assert.equal(host.respawns, 0);
  assert.deepEqual(await ask(host, bomb!, { type: "where" }), { worker: 0, generation: 0 });
  // A real bomb still kills it.
  assert.equal(await ask(host, bomb!, { type: "add", n: 0 }), "armed");
  for (let tries = 0; tries < 200 && host.respawns === 0; tries++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(host.respawns, 1);
});

Deno.test("NodeHost exits the process non-zero past the worker restart limit", async () => {
  const script = new URL("./testdata/failing_node.ts", import.meta.url);
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", script.pathname],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 1, stderr);
  assert.match(stderr, /Worker 0 failed 3 times within 60000 ms; giving up/);
  assert.match(stderr, /Setup of worker 0 fails on purpose/);
});

Deno.test("NodeHost places mainKinds on the main thread, for workers and main alike", async () => {
  const seen: string[] = [];
  await using host = await NodeHost.start({
    app: APP,
    workers: 2,
    mainKinds: ["sink"],
    setupMain: (system) =>
      system.register<TestMessage>("sink", {
        virtual: true,
        create: () => ({
          receive(m) {
            if (m.type === "record") seen.push(`${m.from}:${m.seq}`);
            return seen.length;
          },
        }),
      }),
  });
  const sink = virtualRef("sink", "one");
  assert.deepEqual(host.system.locate(sink), { node: host.node, worker: -1 });
  // Relays on both workers send to the sink: it is reached on the main thread.
  for (const worker of [0, 1]) {
    const [relay] = idsOn(host, "relay", worker, 1);
    await ask(host, relay!, { type: "relay", to: sink, from: `w${worker}`, count: 3 });
  }
  for (let tries = 0; tries < 100 && seen.length < 6; tries++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.deepEqual(seen.toSorted(), ["w0:0", "w0:1", "w0:2", "w1:0", "w1:1", "w1:2"]);
  assert.equal((await host.metrics()).deadLetters, 0);
});
