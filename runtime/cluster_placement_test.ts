import assert from "node:assert/strict";
import { ActorSystem } from "./actor_system.ts";
import { clusterLocator } from "./cluster_placement.ts";
import { NotOwnerError } from "./errors.ts";
import type { WireMessage } from "./envelope.ts";
import { type Location, virtualRef } from "./ref.ts";
import type { Transport } from "./transport.ts";

const ids = Array.from({ length: 4000 }, (_, i) => String(i));

Deno.test("clusterLocator() over one node places like a lone node", () => {
  const lone = new ActorSystem({ node: "a", workers: 4 });
  const locate = clusterLocator([{ node: "a", workers: 4 }]);
  for (const id of ids) {
    const ref = virtualRef("user", id);
    assert.deepEqual(locate(ref), lone.locate(ref));
  }
});

Deno.test("clusterLocator() weighs nodes by workers and moves only a joiner's share", () => {
  const before = clusterLocator([{ node: "a", workers: 2 }, { node: "b", workers: 2 }]);
  const after = clusterLocator([
    { node: "a", workers: 2 },
    { node: "b", workers: 2 },
    { node: "c", workers: 4 },
  ]);
  const count = (locate: typeof before) => {
    const counts: Record<string, number> = {};
    for (const id of ids) {
      const { node, worker } = locate(virtualRef("conv", id));
      counts[node] = (counts[node] ?? 0) + 1;
      assert.ok(worker >= 0 && worker < (node === "c" ? 4 : 2), `${node}/${worker}`);
    }
    return counts;
  };
  const share = count(after);
  // c has half the cluster's workers: about half the actors (shards are coarse: be generous).
  assert.ok(share.c! > ids.length * 0.35 && share.c! < ids.length * 0.65, JSON.stringify(share));
  let moved = 0;
  for (const id of ids) {
    const ref = virtualRef("conv", id);
    const [was, is] = [before(ref), after(ref)];
    if (was.node !== is.node) {
      moved++;
      assert.equal(is.node, "c", "only shards of the joiner move");
    } else assert.deepEqual(was, is, "a shard that stays keeps its worker");
  }
  assert.equal(moved, share.c);
});

Deno.test("clusterLocator() refuses an empty view, repeated nodes and bad worker counts", () => {
  assert.throws(() => clusterLocator([]), /no nodes/);
  assert.throws(() => clusterLocator([{ node: "a", workers: 1 }, { node: "a", workers: 1 }]));
  assert.throws(() => clusterLocator([{ node: "a", workers: 0 }]), /0 workers/);
});

/** Nodes in one process: a transport that hands batches to the target system later. */
function wire(systems: Map<string, ActorSystem>): Transport {
  return {
    send(to: Location, message: WireMessage) {
      const target = systems.get(to.node);
      if (target === undefined) return false;
      queueMicrotask(() => target.receive(structuredClone(message)));
      return true;
    },
  };
}

function counters(system: ActorSystem, log: string[]) {
  system.register<number>("counter", {
    virtual: true,
    create: (ref) => {
      let total = 0;
      return {
        receive(n) {
          total += n;
          log.push(`${system.node}:${(ref as { id: string }).id}=${total}`);
          return total;
        },
      };
    },
  });
}

/** Nodes a and b in one process, each placing by its own view ("a" or "b" owns all). */
function twoNodes(viewOfA: "a" | "b", viewOfB: "a" | "b") {
  const systems = new Map<string, ActorSystem>();
  const transport = wire(systems);
  const onlyA = clusterLocator([{ node: "a", workers: 1 }]);
  const onlyB = clusterLocator([{ node: "b", workers: 1 }]);
  const view = (owner: "a" | "b") => owner === "a" ? onlyA : onlyB;
  const a = new ActorSystem({ node: "a", transport, locate: view(viewOfA) });
  const b = new ActorSystem({ node: "b", transport, locate: view(viewOfB) });
  systems.set("a", a).set("b", b);
  const log: string[] = [];
  counters(a, log);
  counters(b, log);
  return { a, b, onlyA, onlyB, log };
}

Deno.test("ActorSystem.setLocate() moves actors: the old owner passivates and forwards once", async () => {
  const { a, b, onlyB, log } = twoNodes("a", "a");
  try {
    const ref = virtualRef<number>("counter", "x");
    assert.equal(await b.ask(ref, 1, { timeoutMs: 1000 }), 1);
    assert.equal(a.isResident(ref), true);
    // The view changes on a first: its actor goes, and b's older view still points at a.
    a.setLocate(onlyB);
    // Forwarded once to b, which (with its old view) does not own it either: refused.
    await assert.rejects(b.ask(ref, 10, { timeoutMs: 1000 }), NotOwnerError);
    assert.equal(a.isResident(ref), false, "the moved actor passivated");
    b.setLocate(onlyB);
    // Both agree now: b owns it and a forwards what still reaches it.
    assert.equal(await b.ask(ref, 100, { timeoutMs: 1000 }), 100, "state reloads on b");
    assert.equal(a.metrics().messagesForwarded, 1);
    assert.equal(b.metrics().notOwner, 1);
    assert.deepEqual(log, ["a:x=1", "b:x=100"]);
  } finally {
    await a.shutdown();
    await b.shutdown();
  }
});

Deno.test("ActorSystem holds a message its older view misroutes until its view catches up", async () => {
  const { a, b, onlyA, onlyB, log } = twoNodes("b", "b");
  b.setLocate(onlyA, { holdMs: 60_000 }); // b is the late one: it still thinks a owns x
  try {
    const ref = virtualRef<number>("counter", "x");
    // a (new view) sends to b; b holds it rather than bouncing it back to a.
    const answer = a.ask(ref, 5, { timeoutMs: 5000 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(log, [], "held, not delivered or forwarded yet");
    b.setLocate(onlyB); // b's view arrives: the held message is b's own now
    assert.equal(await answer, 5);
    assert.deepEqual(log, ["b:x=5"]);
    assert.equal(b.metrics().messagesForwarded, 0);
    // Held past its time with no new view: passed on once (here to a, which refuses it).
    b.setLocate(onlyA, { holdMs: 30 });
    // (The runtime's timers do not keep a process alive: this one does, for the test.)
    const alive = setTimeout(() => {}, 5000);
    await assert.rejects(a.ask(ref, 1, { timeoutMs: 5000 }), NotOwnerError);
    clearTimeout(alive);
    assert.equal(b.metrics().messagesForwarded, 1);
  } finally {
    await a.shutdown();
    await b.shutdown();
  }
});
