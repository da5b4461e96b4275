import assert from "node:assert/strict";
import type { StopReason } from "./actor.ts";
import { Delivery } from "./actor.ts";
import { ActorSystem } from "./actor_system.ts";
import { FakeClock } from "./clock.ts";
import { type BoundRef, virtualRef } from "./ref.ts";

const ASK = { timeoutMs: 60_000 } as const;

/** One real macrotask: lets microtask-driven turns run (timers stay fake). */
function tick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** A virtual kind `room` that logs its lifecycle per instance: `event:id#instance`. */
function rooms(system: ActorSystem, options: { idleMs?: number } = {}) {
  const log: string[] = [];
  let instances = 0;
  system.register<string>("room", {
    virtual: true,
    idleMs: options.idleMs,
    create: (ref) => {
      const name = `${(ref as { id: string }).id}#${++instances}`;
      return {
        started: () => void log.push(`started:${name}`),
        receive(message) {
          log.push(`${message}:${name}`);
          return name;
        },
        stopped: (_ctx, reason) => void log.push(`stopped:${name}:${reason}`),
      };
    },
  });
  return log;
}

Deno.test("ActorSystem activates a virtual actor on its first message", async () => {
  const clock = new FakeClock();
  await using system = new ActorSystem({ clock });
  const log = rooms(system);
  const ref = virtualRef<string>("room", "a");
  assert.equal(system.isResident(ref), false);
  assert.equal(system.tell(ref, "hi"), Delivery.Delivered);
  assert.equal(system.isResident(ref), true);
  assert.equal(await system.ask(ref, "again", ASK), "a#1");
  assert.deepEqual(log, ["started:a#1", "hi:a#1", "again:a#1"]);
  const metrics = system.metrics();
  assert.equal(metrics.activations, 1);
  assert.equal(metrics.residents, 1);
});

Deno.test("ActorSystem queues messages sent while a virtual actor loads", async () => {
  await using system = new ActorSystem({ clock: new FakeClock() });
  const loaded = Promise.withResolvers<void>();
  const log: string[] = [];
  system.register<number>("user", {
    virtual: true,
    create: () => {
      let state: number[] | undefined;
      return {
        async started() {
          log.push("load");
          await loaded.promise;
          state = [];
          log.push("loaded");
        },
        receive(n) {
          // Would throw if a message came before the load finished.
          state!.push(n);
          return [...state!];
        },
      };
    },
  });
  const ref = virtualRef<number>("user", "1");
  for (let n = 0; n < 10; n++) assert.equal(system.tell(ref, n), Delivery.Delivered);
  const answer = system.ask(ref, 10, ASK);
  await tick();
  assert.deepEqual(log, ["load"]);
  assert.equal(system.metrics().queued, 11);
  loaded.resolve();
  assert.deepEqual(await answer, Array.from({ length: 11 }, (_, i) => i));
  assert.equal(system.metrics().activations, 1);
  assert.equal(system.metrics().failures, 0);
});

Deno.test("ActorSystem passivates an idle virtual actor after idleMs", async () => {
  const clock = new FakeClock();
  await using system = new ActorSystem({ clock, sweepMs: 100 });
  const log = rooms(system, { idleMs: 1_000 });
  const ref = virtualRef<string>("room", "a");
  system.tell(ref, "hi");
  await system.idle();
  await clock.advanceAsync(999);
  assert.equal(system.isResident(ref), true);
  await clock.advanceAsync(1);
  assert.equal(system.isResident(ref), false);
  assert.deepEqual(log, ["started:a#1", "hi:a#1", "stopped:a#1:passivated"]);
  let metrics = system.metrics();
  assert.equal(metrics.passivations, 1);
  assert.equal(metrics.residents, 0);
  // The next message activates (and loads) it again.
  assert.equal(await system.ask(ref, "back", ASK), "a#2");
  metrics = system.metrics();
  assert.equal(metrics.activations, 2);
  assert.equal(metrics.deadLetters, 0);
});

Deno.test("ActorSystem.sweep() passivates only actors idle past their deadline", async () => {
  const clock = new FakeClock();
  await using system = new ActorSystem({ clock, sweepMs: 100 });
  const log = rooms(system, { idleMs: 500 });
  system.tell(virtualRef("room", "old"), "hi");
  await system.idle();
  clock.advance(300);
  system.tell(virtualRef("room", "new"), "hi");
  await system.idle();
  clock.advance(200);
  system.sweep();
  await system.idle();
  assert.equal(system.isResident(virtualRef("room", "old")), false);
  assert.equal(system.isResident(virtualRef("room", "new")), true);
  clock.advance(300);
  system.sweep();
  await system.idle();
  assert.equal(system.isResident(virtualRef("room", "new")), false);
  assert.deepEqual(log.filter((line) => line.startsWith("stopped")), [
    "stopped:old#1:passivated",
    "stopped:new#2:passivated",
  ]);
});

Deno.test("ActorSystem does not passivate a virtual actor that keeps receiving", async () => {
  const clock = new FakeClock();
  await using system = new ActorSystem({ clock, sweepMs: 100 });
  rooms(system, { idleMs: 1_000 });
  const ref = virtualRef<string>("room", "busy");
  for (let i = 0; i < 10; i++) {
    system.tell(ref, `m${i}`);
    await system.idle();
    await clock.advanceAsync(600);
  }
  let metrics = system.metrics();
  assert.equal(metrics.passivations, 0);
  assert.equal(metrics.activations, 1);
  await clock.advanceAsync(500);
  metrics = system.metrics();
  assert.equal(metrics.passivations, 1);
  assert.equal(metrics.residents, 0);
});

Deno.test("ActorSystem does not passivate a virtual actor during a long turn", async () => {
  const clock = new FakeClock();
  await using system = new ActorSystem({ clock, sweepMs: 100 });
  const gate = Promise.withResolvers<void>();
  system.register("slow", {
    virtual: true,
    idleMs: 1_000,
    create: () => ({ receive: () => gate.promise }),
  });
  const ref = virtualRef("slow", "1");
  system.tell(ref, "work");
  await tick();
  await clock.advanceAsync(5_000);
  assert.equal(system.isResident(ref), true);
  gate.resolve();
  await system.idle();
  await clock.advanceAsync(1_100);
  assert.equal(system.isResident(ref), false);
  assert.equal(system.metrics().passivations, 1);
});

Deno.test("ActorSystem hands messages that race a passivation to a new activation", async () => {
  const clock = new FakeClock();
  await using system = new ActorSystem({ clock, sweepMs: 100 });
  const release = Promise.withResolvers<void>();
  const seen: [number, number][] = [];
  const stops: [number, StopReason][] = [];
  const starts: number[] = [];
  let instances = 0;
  system.register<number>("room", {
    virtual: true,
    idleMs: 1_000,
    create: () => {
      const id = ++instances;
      return {
        started: () => void starts.push(id),
        receive: (n) => void seen.push([id, n]),
        async stopped(_ctx, reason) {
          stops.push([id, reason]);
          // The save hook is slow: messages keep coming while it runs.
          if (id === 1) await release.promise;
        },
      };
    },
  });
  const ref = virtualRef<number>("room", "r");
  system.tell(ref, -1);
  await system.idle();
  await clock.advanceAsync(1_000);
  assert.deepEqual(stops, [[1, "passivated"]]);
  for (let n = 0; n < 100; n++) assert.equal(system.tell(ref, n), Delivery.Delivered);
  const asked = system.ask(ref, 100, ASK);
  await tick();
  assert.deepEqual(seen, [[1, -1]]);
  release.resolve();
  await asked;
  await system.idle();
  assert.deepEqual(starts, [1, 2]);
  assert.deepEqual(seen.slice(1), Array.from({ length: 101 }, (_, n) => [2, n]));
  const metrics = system.metrics();
  assert.equal(metrics.deadLetters, 0);
  assert.equal(metrics.passivations, 1);
  assert.equal(metrics.activations, 2);
  assert.equal(metrics.residents, 1);
});

Deno.test("ActorSystem keeps a virtual actor whose passivation was overtaken by a message", async () => {
  const clock = new FakeClock();
  await using system = new ActorSystem({ clock, sweepMs: 100 });
  const log = rooms(system, { idleMs: 1_000 });
  const ref = virtualRef<string>("room", "a");
  system.tell(ref, "first");
  await system.idle();
  // The sweep asks for passivation; a message lands before the actor's turn.
  clock.advance(1_000);
  system.tell(ref, "late");
  await system.idle();
  assert.equal(system.isResident(ref), true);
  assert.deepEqual(log, ["started:a#1", "first:a#1", "late:a#1"]);
  // It is still watched for idleness and passivates once really idle.
  await clock.advanceAsync(999);
  assert.equal(system.isResident(ref), true);
  await clock.advanceAsync(101);
  assert.equal(system.isResident(ref), false);
  assert.equal(log.at(-1), "stopped:a#1:passivated");
});

Deno.test("ActorSystem passivates the least recently used resident past maxResidents", async () => {
  const clock = new FakeClock();
  await using system = new ActorSystem({ clock, maxResidents: 3 });
  const log = rooms(system);
  for (const id of ["a", "b", "c", "a"]) await system.ask(virtualRef("room", id), "hi", ASK);
  assert.equal(system.metrics().residents, 3);
  await system.ask(virtualRef("room", "d"), "hi", ASK);
  await system.idle();
  assert.equal(system.isResident(virtualRef("room", "b")), false);
  for (const id of ["a", "c", "d"]) {
    assert.equal(system.isResident(virtualRef("room", id)), true, id);
  }
  const metrics = system.metrics();
  assert.equal(metrics.evictions, 1);
  assert.equal(metrics.passivations, 1);
  assert.equal(metrics.residents, 3);
  assert.ok(log.includes("stopped:b#2:passivated"));
});

Deno.test("ActorSystem evicts the next idle resident when the least recently used is busy", async () => {
  await using system = new ActorSystem({ clock: new FakeClock(), maxResidents: 2 });
  const gate = Promise.withResolvers<void>();
  system.register<string>("room", {
    virtual: true,
    create: () => ({ receive: (m) => (m === "wait" ? gate.promise : m) }),
  });
  system.tell(virtualRef("room", "busy"), "wait");
  await system.ask(virtualRef("room", "idle"), "hi", ASK);
  await system.ask(virtualRef("room", "new"), "hi", ASK);
  await tick();
  assert.equal(system.isResident(virtualRef("room", "busy")), true);
  assert.equal(system.isResident(virtualRef("room", "idle")), false);
  assert.equal(system.metrics().evictions, 1);
  gate.resolve();
  await system.idle();
});

Deno.test("ActorSystem.stop() passivates a virtual actor, which comes back on demand", async () => {
  await using system = new ActorSystem({ clock: new FakeClock() });
  const log = rooms(system);
  const ref = virtualRef<string>("room", "a");
  await system.ask(ref, "hi", ASK);
  assert.equal(system.stop(ref), Delivery.Delivered);
  await system.idle();
  assert.equal(system.isResident(ref), false);
  assert.equal(system.metrics().passivations, 1);
  assert.equal(await system.ask(ref, "again", ASK), "a#2");
  assert.equal(log.filter((line) => line.startsWith("started")).length, 2);
});

Deno.test("ActorSystem dead-letters virtual messages it cannot route", async () => {
  await using system = new ActorSystem({ clock: new FakeClock(), workers: 4 });
  rooms(system);
  system.register("conn", { create: () => ({ receive: () => 0 }) });
  // A bound ref to a virtual kind and a virtual ref to a bound kind are both wrong.
  const bound: BoundRef = { kind: "room", node: "local", worker: 0, local: 1 };
  assert.equal(system.tell(bound, "x"), Delivery.Dead);
  const local = Array.from({ length: 50 }, (_, i) => virtualRef("conn", `c${i}`))
    .find((ref) => system.locate(ref).worker === 0)!;
  assert.equal(system.tell(local, "x"), Delivery.Dead);
  // Placed on another worker, and there is no transport.
  const far = Array.from({ length: 50 }, (_, i) => virtualRef("room", `r${i}`))
    .find((ref) => system.locate(ref).worker !== 0)!;
  assert.equal(system.tell(far, "x"), Delivery.Dead);
  assert.equal(system.isResident(far), false);
  const metrics = system.metrics();
  assert.equal(metrics.deadLetters, 3);
  assert.equal(metrics.activations, 0);
});

Deno.test("ActorSystem.shutdown() stops the sweep timer", async () => {
  const clock = new FakeClock();
  const system = new ActorSystem({ clock, sweepMs: 100 });
  rooms(system);
  await system.ask(virtualRef("room", "a"), "hi", ASK);
  assert.equal(clock.pending(), 1);
  await system.shutdown();
  assert.equal(clock.pending(), 0);
  assert.equal(system.metrics().residents, 0);
});

Deno.test("ActorSystem counts idle time of a virtual actor from the end of its last turn", async () => {
  const clock = new FakeClock();
  await using system = new ActorSystem({ clock, sweepMs: 100 });
  const gate = Promise.withResolvers<void>();
  system.register("slow", {
    virtual: true,
    idleMs: 1_000,
    create: () => ({ receive: () => gate.promise }),
  });
  const ref = virtualRef("slow", "1");
  system.tell(ref, "work");
  await tick();
  // While busy, the idle check comes back every idleMs (1000, 2000, ...); the turn ends
  // just before the one at 6000.
  await clock.advanceAsync(5_900);
  gate.resolve();
  await system.idle();
  // At 6800 the actor has been idle for 900 ms, not 6800 ms.
  await clock.advanceAsync(900);
  assert.equal(system.isResident(ref), true);
  await clock.advanceAsync(200);
  assert.equal(system.isResident(ref), false);
});

Deno.test("ActorSystem keeps an idle virtual actor whose canPassivate() says no", async () => {
  const clock = new FakeClock();
  const system = new ActorSystem({ clock, sweepMs: 100 });
  let holding = true;
  let stops = 0;
  system.register<string>("holder", {
    virtual: true,
    idleMs: 1000,
    create: () => ({
      receive: () => undefined,
      canPassivate: () => !holding,
      stopped: () => void stops++,
    }),
  });
  const ref = virtualRef("holder", "h");
  system.tell(ref, "hi");
  await system.idle();
  await clock.advanceAsync(5000);
  assert.equal(stops, 0);
  assert.ok(system.isResident(ref));
  holding = false;
  await clock.advanceAsync(3000);
  assert.equal(stops, 1);
  assert.equal(system.isResident(ref), false);
  await system.shutdown();
});
