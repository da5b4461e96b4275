import assert from "node:assert/strict";
import { type BoundRef, isBound, refEquals, refKey, virtualRef } from "./ref.ts";

Deno.test("virtualRef() builds a plain kind/id ref", () => {
  const ref = virtualRef("user", "42");
  assert.deepEqual(ref, { kind: "user", id: "42" });
  assert.equal(isBound(ref), false);
  // Plain data: survives structured clone and JSON unchanged.
  assert.deepEqual(structuredClone(ref), ref);
  assert.deepEqual(JSON.parse(JSON.stringify(ref)), ref);
});

Deno.test("virtualRef() accepts the edges of the kind and id rules", () => {
  assert.equal(virtualRef("a", "x").kind, "a");
  assert.equal(virtualRef("a".repeat(32), "x").kind.length, 32);
  assert.equal(virtualRef("room_2-b", "x").kind, "room_2-b");
  assert.equal(virtualRef("user", "i".repeat(256)).id.length, 256);
  assert.equal(virtualRef("user", "with/slash and ü").id, "with/slash and ü");
});

Deno.test("virtualRef() rejects an invalid kind with TypeError", () => {
  for (const kind of ["", "User", "1user", "_user", "us er", "user/x", "a".repeat(33), "ü"]) {
    assert.throws(() => virtualRef(kind, "1"), TypeError, JSON.stringify(kind));
  }
  assert.throws(() => virtualRef("Bad", "1"), { message: 'Cannot make ref: invalid kind "Bad"' });
});

Deno.test("virtualRef() rejects an empty or too long id with TypeError", () => {
  assert.throws(() => virtualRef("user", ""), {
    name: "TypeError",
    message: "Cannot make ref: id length 0 is not within 1..256",
  });
  assert.throws(() => virtualRef("user", "i".repeat(257)), TypeError);
});

Deno.test("isBound() tells bound refs from virtual ones", () => {
  const bound: BoundRef = { kind: "conn", node: "n1", worker: 2, local: 7 };
  assert.equal(isBound(bound), true);
  assert.equal(isBound(virtualRef("conn", "7")), false);
});

Deno.test("refKey() renders virtual and bound refs canonically", () => {
  assert.equal(refKey(virtualRef("user", "42")), "user/42");
  assert.equal(
    refKey({ kind: "conn", node: "host.1.k3", worker: 3, local: 9 }),
    "conn/host.1.k3/3/9",
  );
  assert.equal(refKey({ kind: "conn", node: "n", worker: -1, local: 0 }), "conn/n/-1/0");
});

Deno.test("refEquals() compares refs by value", () => {
  assert.equal(refEquals(virtualRef("user", "1"), { kind: "user", id: "1" }), true);
  assert.equal(refEquals(virtualRef("user", "1"), virtualRef("user", "2")), false);
  assert.equal(refEquals(virtualRef("user", "1"), virtualRef("room", "1")), false);
  const a: BoundRef = { kind: "conn", node: "n", worker: 0, local: 1 };
  assert.equal(refEquals(a, { ...a }), true);
  assert.equal(refEquals(a, { ...a, local: 2 }), false);
  assert.equal(refEquals(a, { ...a, worker: 1 }), false);
  assert.equal(refEquals(a, { ...a, node: "m" }), false);
  assert.equal(refEquals(a, virtualRef("conn", "1")), false);
});
