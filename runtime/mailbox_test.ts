import assert from "node:assert/strict";
import { Mailbox } from "./mailbox.ts";

Deno.test("Mailbox.constructor() rejects capacities that are not positive integers", () => {
  for (const bad of [0, -1, 1.5, NaN, Infinity]) {
    assert.throws(() => new Mailbox(bad), RangeError, `capacity ${bad}`);
    assert.throws(() => new Mailbox(1, bad), RangeError, `systemCapacity ${bad}`);
  }
  const box = new Mailbox(1);
  assert.equal(box.capacity, 1);
  assert.equal(box.systemCapacity, 64);
  assert.equal(new Mailbox(2, 3).systemCapacity, 3);
});

Deno.test("Mailbox.push() refuses items past capacity and keeps nothing", () => {
  const box = new Mailbox<string>(2);
  assert.equal(box.full, false);
  assert.equal(box.push("a"), true);
  assert.equal(box.push("b"), true);
  assert.equal(box.full, true);
  assert.equal(box.push("c"), false);
  assert.equal(box.userSize, 2);
  assert.equal(box.size, 2);
  assert.deepEqual(box.drain(), ["a", "b"]);
});

Deno.test("Mailbox.push() accepts again once an item is taken", () => {
  const box = new Mailbox<number>(2);
  box.push(1);
  box.push(2);
  assert.equal(box.shift(), 1);
  assert.equal(box.full, false);
  assert.equal(box.push(3), true);
  assert.equal(box.push(4), false);
  assert.deepEqual([box.shift(), box.shift(), box.shift()], [2, 3, undefined]);
});

Deno.test("Mailbox.shift() is FIFO for user items", () => {
  const box = new Mailbox<number>(100);
  for (let i = 0; i < 100; i++) box.push(i);
  const out: number[] = [];
  for (let item = box.shift(); item !== undefined; item = box.shift()) out.push(item);
  assert.deepEqual(out, Array.from({ length: 100 }, (_, i) => i));
  assert.equal(box.shift(), undefined);
});

Deno.test("Mailbox.shift() takes the system lane first, each lane in FIFO order", () => {
  const box = new Mailbox<string>(4);
  box.push("u1");
  box.pushSystem("s1");
  box.push("u2");
  box.pushSystem("s2");
  assert.equal(box.size, 4);
  assert.equal(box.userSize, 2);
  assert.deepEqual([box.shift(), box.shift(), box.shift(), box.shift()], ["s1", "s2", "u1", "u2"]);
  assert.equal(box.size, 0);
});

Deno.test("Mailbox.pushSystem() ignores the user bound and has its own", () => {
  const box = new Mailbox<string>(1, 2);
  assert.equal(box.push("u"), true);
  assert.equal(box.full, true);
  assert.equal(box.pushSystem("s1"), true);
  assert.equal(box.pushSystem("s2"), true);
  assert.equal(box.pushSystem("s3"), false);
  // System items do not count against the user capacity.
  assert.equal(box.userSize, 1);
  assert.equal(box.size, 3);
  assert.equal(box.shift(), "s1");
  assert.equal(box.pushSystem("s4"), true);
  assert.deepEqual(box.drain(), ["s2", "s4", "u"]);
});

Deno.test("Mailbox.shiftUser() skips the system lane (dropOldest)", () => {
  const box = new Mailbox<string>(2);
  box.push("old");
  box.push("new");
  box.pushSystem("sys");
  assert.equal(box.shiftUser(), "old");
  assert.equal(box.push("newest"), true);
  assert.deepEqual(box.drain(), ["sys", "new", "newest"]);
  assert.equal(box.shiftUser(), undefined);
});

Deno.test("Mailbox.drain() returns the system lane first and empties both lanes", () => {
  const box = new Mailbox<string>(8);
  box.push("u1");
  box.push("u2");
  box.push("u3");
  assert.equal(box.shift(), "u1");
  box.pushSystem("s1");
  assert.deepEqual(box.drain(), ["s1", "u2", "u3"]);
  assert.equal(box.size, 0);
  assert.equal(box.userSize, 0);
  assert.deepEqual(box.drain(), []);
  assert.equal(box.shift(), undefined);
  // Still usable afterwards.
  assert.equal(box.push("again"), true);
  assert.equal(box.shift(), "again");
});

Deno.test("Mailbox releases its storage when it empties after churn", () => {
  const box = new Mailbox<number>(10_000);
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 3000; i++) box.push(i);
    for (let i = 0; i < 3000; i++) assert.equal(box.shift(), i);
    assert.equal(box.userSize, 0);
    assert.equal(box.size, 0);
    assert.equal(box.full, false);
  }
  // A full capacity's worth fits again: the consumed prefix was not kept around.
  for (let i = 0; i < 10_000; i++) assert.equal(box.push(i), true);
  assert.equal(box.push(-1), false);
});

Deno.test("Mailbox keeps FIFO across compaction of a queue that never empties", () => {
  const box = new Mailbox<number>(5000);
  let next = 0;
  let expected = 0;
  for (let i = 0; i < 100; i++) box.push(next++);
  // Push one and shift one, far past the 1024/2048 compaction threshold, never emptying.
  for (let i = 0; i < 6000; i++) {
    assert.equal(box.push(next++), true);
    assert.equal(box.shift(), expected++);
    assert.equal(box.userSize, 100);
  }
  // A burst that grows the queue, then a drain-down that crosses compaction again.
  for (let i = 0; i < 2500; i++) box.push(next++);
  while (box.userSize > 1) assert.equal(box.shift(), expected++);
  assert.equal(box.shift(), expected++);
  assert.equal(expected, next);
  assert.equal(box.size, 0);
});

Deno.test("Mailbox capacity is exact after compaction", () => {
  const box = new Mailbox<number>(3000);
  for (let i = 0; i < 3000; i++) box.push(i);
  for (let i = 0; i < 2000; i++) assert.equal(box.shift(), i);
  assert.equal(box.userSize, 1000);
  for (let i = 0; i < 2000; i++) assert.equal(box.push(3000 + i), true, `push ${i}`);
  assert.equal(box.full, true);
  assert.equal(box.push(-1), false);
  const rest = box.drain();
  assert.equal(rest.length, 3000);
  assert.deepEqual(rest, Array.from({ length: 3000 }, (_, i) => 2000 + i));
});
