import assert from "node:assert/strict";
import { connWriter, Outbound } from "./outbound.ts";

function deferredWriter() {
  const writes: Uint8Array[] = [];
  let release = Promise.withResolvers<void>();
  return {
    writes,
    release: () => {
      const r = release;
      release = Promise.withResolvers<void>();
      r.resolve();
    },
    write: async (bytes: Uint8Array) => {
      writes.push(bytes);
      await release.promise;
    },
  };
}

Deno.test("Outbound.push() writes in order and merges what queued meanwhile", async () => {
  const w = deferredWriter();
  const out = new Outbound(w.write);
  assert.ok(out.push(new Uint8Array([1])));
  assert.ok(out.push(new Uint8Array([2, 3])));
  assert.ok(out.push(new Uint8Array([4])));
  assert.equal(out.queuedFrames, 3);
  w.release();
  await new Promise((r) => setTimeout(r, 0));
  w.release();
  await out.drained();
  assert.deepEqual(w.writes.map((b) => [...b]), [[1], [2, 3, 4]]);
  assert.equal(out.queuedBytes, 0);
});

Deno.test("Outbound.push() refuses past the frame and byte limits", () => {
  const w = deferredWriter();
  const frames = new Outbound(w.write, { maxFrames: 2 });
  assert.ok(frames.push(new Uint8Array(1))); // being written: still counts
  assert.ok(frames.push(new Uint8Array(1)));
  assert.equal(frames.push(new Uint8Array(1)), false);
  const bytes = new Outbound(w.write, { maxBytes: 10 });
  assert.ok(bytes.push(new Uint8Array(4)));
  assert.ok(bytes.push(new Uint8Array(6)));
  assert.equal(bytes.push(new Uint8Array(1)), false);
});

Deno.test("Outbound stops accepting after a write error and keeps the error", async () => {
  const out = new Outbound(() => Promise.reject(new Error("broken pipe")));
  assert.ok(out.push(new Uint8Array(1)));
  await out.drained();
  assert.match(String(out.error), /broken pipe/);
  assert.equal(out.push(new Uint8Array(1)), false);
});

Deno.test("connWriter() completes partial writes", async () => {
  const got: number[] = [];
  const conn = {
    write: (p: Uint8Array) => {
      got.push(p[0]!);
      return Promise.resolve(1);
    },
  };
  await connWriter(conn)(new Uint8Array([7, 8, 9]));
  assert.deepEqual(got, [7, 8, 9]);
});

Deno.test("Outbound.pushFinal() queues a last frame past the limits, then refuses", async () => {
  const w = deferredWriter();
  const out = new Outbound(w.write, { maxFrames: 1 });
  assert.ok(out.push(new Uint8Array([1])));
  assert.equal(out.push(new Uint8Array([2])), false);
  out.pushFinal(new Uint8Array([9]));
  assert.equal(out.push(new Uint8Array([3])), false);
  w.release();
  await new Promise((r) => setTimeout(r, 0));
  w.release();
  await out.drained();
  assert.deepEqual(w.writes.map((b) => [...b]), [[1], [9]]);
});
