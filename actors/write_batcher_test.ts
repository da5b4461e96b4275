import assert from "node:assert/strict";
import type { AppendItem, AppendResult } from "../services/mod.ts";
import { MAX_MERGED_ITEMS, PowerOfTwoHistogram, WriteBatcher } from "./write_batcher.ts";

function item(conversationId: string, seq: number): AppendItem {
  return {
    conversationId,
    seq: BigInt(seq),
    senderId: "1",
    clientMsgId: `${conversationId}-${seq}`,
    content: { type: 1, text: "x" },
  };
}

const echo = (items: readonly AppendItem[]): AppendResult[] =>
  items.map((i) => ({ status: "seq_gap", expectedSeq: i.seq }) as AppendResult);

Deno.test("WriteBatcher merges appends of one turn into one write and splits the results", async () => {
  const writes: number[] = [];
  const batcher = new WriteBatcher((items) => {
    writes.push(items.length);
    return Promise.resolve(echo(items));
  });
  const a = batcher.append([item("d:1:2", 1), item("d:1:2", 2)], 0);
  const b = batcher.append([item("d:3:4", 7)], 0);
  const [ra, rb] = await Promise.all([a, b]);
  assert.deepEqual(writes, [3]);
  assert.deepEqual(ra.map((r) => (r as { expectedSeq: bigint }).expectedSeq), [1n, 2n]);
  assert.deepEqual(rb.map((r) => (r as { expectedSeq: bigint }).expectedSeq), [7n]);
  // A later turn is a new write.
  await batcher.append([item("d:1:2", 3)], 0);
  assert.deepEqual(writes, [3, 1]);
});

Deno.test("WriteBatcher never merges past MAX_MERGED_ITEMS and fails every waiter of a failed write", async () => {
  const writes: number[] = [];
  const batcher = new WriteBatcher((items) => {
    writes.push(items.length);
    return writes.length === 1
      ? Promise.resolve(echo(items))
      : Promise.reject(new Error("disk full"));
  });
  const big = Array.from({ length: MAX_MERGED_ITEMS }, (_, i) => item("d:1:2", i + 1));
  const first = batcher.append(big, 0);
  const second = batcher.append([item("d:3:4", 1)], 0);
  const third = batcher.append([item("d:5:6", 1)], 0);
  assert.equal((await first).length, MAX_MERGED_ITEMS);
  await assert.rejects(second, /disk full/);
  await assert.rejects(third, /disk full/);
  assert.deepEqual(writes, [MAX_MERGED_ITEMS, 2]);
});

Deno.test("WriteBatcher.batchItems counts items per write", async () => {
  const batcher = new WriteBatcher((items) => Promise.resolve(echo(items)));
  await Promise.all([batcher.append([item("d:1:2", 1)], 0), batcher.append([item("d:3:4", 1)], 0)]);
  await batcher.append([item("d:1:2", 2)], 0);
  const snapshot = batcher.batchItems.snapshot();
  assert.equal(snapshot.count, 2);
  assert.equal(snapshot.sum, 3);
  assert.deepEqual(snapshot.counts.slice(0, 3), [1, 1, 0]);
});

Deno.test("PowerOfTwoHistogram puts each value in the smallest bucket that holds it", () => {
  const h = new PowerOfTwoHistogram(8);
  for (const v of [0, 1, 2, 3, 4, 5, 8, 9, 1000]) h.record(v);
  const s = h.snapshot();
  assert.deepEqual(s.bounds, [1, 2, 4, 8]);
  // <=1: 0, 1; <=2: 2; <=4: 3, 4; <=8: 5, 8; overflow: 9, 1000.
  assert.deepEqual(s.counts, [2, 1, 2, 2, 2]);
  assert.equal(s.count, 9);
  assert.equal(s.sum, 1032);
  // Snapshots are copies.
  h.record(1);
  assert.equal(s.counts[0], 2);
  assert.deepEqual(new PowerOfTwoHistogram(1).snapshot().bounds, [1]);
  assert.throws(() => new PowerOfTwoHistogram(6), RangeError);
  assert.throws(() => new PowerOfTwoHistogram(0), RangeError);
});

Deno.test("WriteBatcher with maxInFlight holds appends while writes run, then writes them as one", async () => {
  const writes: number[] = [];
  const pending: PromiseWithResolvers<void>[] = [];
  const batcher = new WriteBatcher(async (items) => {
    writes.push(items.length);
    const gate = Promise.withResolvers<void>();
    pending.push(gate);
    await gate.promise;
    return echo(items);
  }, { maxInFlight: 1 });
  const first = batcher.append([item("d:1:2", 1)], 0);
  await Promise.resolve(); // the turn ends: the first write starts
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(writes, [1]);
  // Three more turns while the first write runs: nothing new goes out.
  const later: Promise<AppendResult[]>[] = [];
  for (let turn = 0; turn < 3; turn++) {
    later.push(batcher.append([item(`d:${turn + 3}:9`, 1)], 0));
    await new Promise((r) => setTimeout(r, 0));
  }
  assert.deepEqual(writes, [1]);
  assert.equal(batcher.inFlight, 1);
  pending[0]!.resolve();
  assert.equal((await first).length, 1);
  await new Promise((r) => setTimeout(r, 0));
  // What piled up went out together.
  assert.deepEqual(writes, [1, 3]);
  pending[1]!.resolve();
  const results = await Promise.all(later);
  assert.deepEqual(results.map((r) => r.length), [1, 1, 1]);
  assert.equal(batcher.inFlight, 0);
  assert.throws(() => new WriteBatcher(() => Promise.resolve([]), { maxInFlight: 0 }), RangeError);
});
