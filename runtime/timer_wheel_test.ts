import assert from "node:assert/strict";
import { TimerWheel } from "./timer_wheel.ts";

Deno.test("TimerWheel.constructor() rejects a bad tick", () => {
  for (const tickMs of [0, -1, NaN, Infinity]) {
    assert.throws(() => new TimerWheel({ tickMs }), RangeError);
  }
});

Deno.test("TimerWheel.due() returns items in slot order", () => {
  const wheel = new TimerWheel<string>({ tickMs: 10 });
  wheel.schedule("c", 35);
  wheel.schedule("a", 5);
  wheel.schedule("d", 40);
  wheel.schedule("b", 20);
  wheel.schedule("a2", 10);
  assert.deepEqual(wheel.due(100), ["a", "a2", "b", "c", "d"]);
  assert.equal(wheel.size, 0);
});

Deno.test("TimerWheel.due() never returns an item early", () => {
  const wheel = new TimerWheel<string>({ tickMs: 100 });
  wheel.schedule("x", 101);
  assert.deepEqual(wheel.due(101), []);
  assert.deepEqual(wheel.due(199.9), []);
  assert.deepEqual(wheel.due(200), ["x"]);
  wheel.schedule("exact", 300);
  assert.deepEqual(wheel.due(299), []);
  assert.deepEqual(wheel.due(300), ["exact"]);
});

Deno.test("TimerWheel.due() returns past deadlines at once", () => {
  const wheel = new TimerWheel<number>({ tickMs: 50 });
  wheel.schedule(1, -1_000);
  wheel.schedule(2, 0);
  assert.deepEqual(wheel.due(0), [1, 2]);
});

Deno.test("TimerWheel.due() keeps scheduling order within a slot", () => {
  const wheel = new TimerWheel<number>({ tickMs: 1_000 });
  for (let i = 0; i < 10; i++) wheel.schedule(i, 1_000 - i * 10);
  assert.deepEqual(wheel.due(1_000), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

Deno.test("TimerWheel.due() handles large jumps in time", () => {
  const wheel = new TimerWheel<string>({ tickMs: 1 });
  wheel.schedule("soon", 10);
  wheel.schedule("later", 1e12);
  wheel.schedule("much later", 1e15);
  assert.deepEqual(wheel.due(1e13), ["soon", "later"]);
  assert.equal(wheel.size, 1);
  assert.deepEqual(wheel.due(Infinity), ["much later"]);
  assert.deepEqual(wheel.due(1e16), []);
});

Deno.test("TimerWheel.size counts every entry", () => {
  const wheel = new TimerWheel<string>({ tickMs: 10 });
  assert.equal(wheel.size, 0);
  wheel.schedule("a", 10);
  wheel.schedule("a", 10);
  wheel.schedule("a", 25);
  wheel.schedule("b", 50);
  assert.equal(wheel.size, 4);
  assert.deepEqual(wheel.due(10), ["a", "a"]);
  assert.equal(wheel.size, 2);
  wheel.clear();
  assert.equal(wheel.size, 0);
  assert.deepEqual(wheel.due(Infinity), []);
  wheel.schedule("c", 5);
  assert.equal(wheel.size, 1);
  assert.deepEqual(wheel.due(10), ["c"]);
});

Deno.test("TimerWheel.schedule() and due() reject bad times", () => {
  const wheel = new TimerWheel<string>({ tickMs: 10 });
  assert.throws(() => wheel.schedule("a", NaN), RangeError);
  assert.throws(() => wheel.schedule("a", Infinity), RangeError);
  assert.throws(() => wheel.due(NaN), RangeError);
  assert.equal(wheel.size, 0);
});

Deno.test("TimerWheel.due() matches a sorted reference for random input", () => {
  let seed = 42;
  const random = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
  const tickMs = 7;
  const wheel = new TimerWheel<number>({ tickMs });
  const pending: { id: number; at: number }[] = [];
  let now = 0;
  for (let id = 0; id < 5_000; id++) {
    const at = now + random() * 500 - 50;
    wheel.schedule(id, at);
    pending.push({ id, at });
    if (random() < 0.1) {
      now += random() * 300;
      const expected = pending
        .filter((p) => Math.ceil(p.at / tickMs) <= Math.floor(now / tickMs))
        .sort((a, b) => Math.ceil(a.at / tickMs) - Math.ceil(b.at / tickMs) || a.id - b.id);
      assert.deepEqual(wheel.due(now), expected.map((p) => p.id));
      const gone = new Set(expected.map((p) => p.id));
      pending.splice(0, pending.length, ...pending.filter((p) => !gone.has(p.id)));
      assert.equal(wheel.size, pending.length);
    }
  }
});

Deno.test("TimerWheel handles 100k items", () => {
  const wheel = new TimerWheel<number>({ tickMs: 100 });
  const count = 100_000;
  for (let i = 0; i < count; i++) {
    // Spread over ~10 minutes, scheduled out of order.
    wheel.schedule(i, ((i * 7919) % count) * 6);
  }
  assert.equal(wheel.size, count);
  let collected = 0;
  let lastSlot = -Infinity;
  for (let now = 0; now <= 600_000; now += 1_000) {
    for (const i of wheel.due(now)) {
      const slot = Math.ceil(((i * 7919) % count) * 6 / 100);
      assert.ok(slot >= lastSlot && slot * 100 <= now);
      lastSlot = slot;
      collected++;
    }
  }
  assert.equal(collected, count);
  assert.equal(wheel.size, 0);
});
