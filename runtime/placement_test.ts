import assert from "node:assert/strict";
import {
  DEFAULT_SHARDS,
  fnv1a32,
  type Member,
  Placement,
  rendezvous,
  shardOf,
} from "./placement.ts";

/** mulberry32: a tiny seeded PRNG so property tests are reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function randomMembers(random: () => number, count: number): Member[] {
  const ids = new Set<string>();
  while (ids.size < count) {
    ids.add(`node-${Math.floor(random() * 1e9).toString(36)}`);
  }
  return [...ids].map((id) => ({ id }));
}

function shuffled<T>(random: () => number, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

function owners(members: readonly Member[], shards: number): string[] {
  const placement = new Placement(members, { shards });
  return Array.from(
    { length: shards },
    (_, shard) => placement.memberOfShard(shard).id,
  );
}

function counts(ids: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const id of ids) out.set(id, (out.get(id) ?? 0) + 1);
  return out;
}

Deno.test("fnv1a32() matches the reference vectors", () => {
  assert.equal(fnv1a32(""), 0x811c9dc5);
  assert.equal(fnv1a32("a"), 0xe40c292c);
  assert.equal(fnv1a32("foobar"), 0xbf9cf968);
});

Deno.test("fnv1a32() hashes the UTF-8 bytes", () => {
  const random = prng(7);
  const samples = ["é", "€", "日本語", "😀", "a\ud800b", "\udc00", "x😀y"];
  for (let i = 0; i < 200; i++) {
    const length = Math.floor(random() * 8);
    samples.push(
      String.fromCharCode(
        ...Array.from({ length }, () => Math.floor(random() * 0x10000)),
      ),
    );
  }
  const encoder = new TextEncoder();
  for (const text of samples) {
    let expected = 0x811c9dc5;
    for (const byte of encoder.encode(text)) {
      expected = Math.imul(expected ^ byte, 0x01000193);
    }
    assert.equal(fnv1a32(text), expected >>> 0, JSON.stringify(text));
  }
});

Deno.test("shardOf() hashes kind/id modulo shards", () => {
  assert.equal(shardOf("user", "42"), fnv1a32("user/42") % DEFAULT_SHARDS);
  assert.equal(shardOf("conv", "g:9", 16), fnv1a32("conv/g:9") % 16);
  assert.equal(shardOf("user", "42", 1), 0);
  for (const bad of [0, -1, 1.5, NaN, Infinity, 2 ** 32]) {
    assert.throws(() => shardOf("user", "42", bad), RangeError);
  }
});

Deno.test("rendezvous() ignores member order", () => {
  const random = prng(1);
  for (let round = 0; round < 20; round++) {
    const members = randomMembers(random, 2 + Math.floor(random() * 7));
    for (let shard = 0; shard < 256; shard++) {
      const expected = rendezvous(shard, members).id;
      assert.equal(rendezvous(shard, shuffled(random, members)).id, expected);
    }
  }
});

Deno.test("rendezvous() rejects bad input", () => {
  assert.throws(() => rendezvous(0, []), RangeError);
  assert.throws(() => rendezvous(-1, [{ id: "a" }]), RangeError);
  assert.throws(() => rendezvous(0.5, [{ id: "a" }]), RangeError);
  assert.throws(() => rendezvous(0, [{ id: "a" }, { id: "a" }]), RangeError);
  for (const weight of [0, -1, NaN, Infinity]) {
    assert.throws(() => rendezvous(0, [{ id: "a", weight }]), RangeError);
  }
});

Deno.test("Placement.memberOfShard() spreads shards evenly", () => {
  const random = prng(2);
  for (let round = 0; round < 10; round++) {
    const members = randomMembers(random, 4);
    const spread = counts(owners(members, 1024));
    for (const member of members) {
      const count = spread.get(member.id) ?? 0;
      assert.ok(count >= 180 && count <= 330, `${member.id}: ${count}`);
    }
  }
});

Deno.test("Placement.memberOfShard() moves ~1/(n+1) shards to a joiner", () => {
  const random = prng(3);
  const shards = 1024;
  for (let n = 2; n <= 8; n++) {
    const members = randomMembers(random, n + 1);
    const joiner = members[n];
    const before = owners(members.slice(0, n), shards);
    const after = owners(shuffled(random, members), shards);
    let moved = 0;
    for (let shard = 0; shard < shards; shard++) {
      if (before[shard] === after[shard]) continue;
      moved++;
      assert.equal(after[shard], joiner.id, `shard ${shard} went elsewhere`);
    }
    const expected = 1 / (n + 1);
    const fraction = moved / shards;
    assert.ok(
      Math.abs(fraction - expected) <= 0.4 * expected,
      `n=${n}: moved ${fraction}, expected ${expected}`,
    );
  }
});

Deno.test("Placement.memberOfShard() moves only a leaver's shards", () => {
  const random = prng(4);
  const shards = 1024;
  for (let n = 3; n <= 9; n++) {
    const members = randomMembers(random, n);
    const leaver = members[Math.floor(random() * n)];
    const before = owners(members, shards);
    const after = owners(members.filter((m) => m !== leaver), shards);
    for (let shard = 0; shard < shards; shard++) {
      if (before[shard] === leaver.id) {
        assert.notEqual(after[shard], leaver.id);
      } else {
        assert.equal(after[shard], before[shard], `shard ${shard} moved`);
      }
    }
  }
});

Deno.test("Placement.memberOfShard() honours weights", () => {
  const random = prng(5);
  for (let round = 0; round < 5; round++) {
    const members = randomMembers(random, 4);
    const heavy = { id: members[0].id, weight: 2 };
    const spread = counts(owners([heavy, ...members.slice(1)], 4096));
    const light = members.slice(1).map((m) => spread.get(m.id) ?? 0);
    const average = light.reduce((a, b) => a + b, 0) / light.length;
    const ratio = (spread.get(heavy.id) ?? 0) / average;
    assert.ok(ratio >= 1.6 && ratio <= 2.4, `ratio ${ratio}`);
  }
});

Deno.test("Placement.memberOf() agrees with shardOf() and rendezvous()", () => {
  const members = [{ id: "a" }, { id: "b" }, { id: "c", weight: 3 }];
  const placement = new Placement(members, { shards: 64 });
  assert.equal(placement.shards, 64);
  for (let i = 0; i < 200; i++) {
    const shard = shardOf("user", String(i), 64);
    const expected = rendezvous(shard, members);
    assert.equal(placement.memberOf("user", String(i)), expected);
    assert.equal(placement.memberOfShard(shard), expected);
  }
});

Deno.test("Placement.constructor() copies and validates its input", () => {
  const members: Member[] = [{ id: "a" }, { id: "b" }];
  const placement = new Placement(members, { shards: 8 });
  const before = owners(members, 8);
  members.push({ id: "c" }, { id: "d" });
  for (let shard = 0; shard < 8; shard++) {
    assert.equal(placement.memberOfShard(shard).id, before[shard]);
  }
  assert.equal(new Placement([{ id: "a" }]).shards, DEFAULT_SHARDS);
  assert.throws(() => new Placement([]), RangeError);
  assert.throws(() => new Placement([{ id: "a" }], { shards: 0 }), RangeError);
  assert.throws(() => placement.memberOfShard(8), RangeError);
  assert.throws(() => placement.memberOfShard(-1), RangeError);
});
