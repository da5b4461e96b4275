import assert from "node:assert/strict";
import { Emitter } from "./_emitter.ts";

type Events = { a: number; b: string };

Deno.test("Emitter.emit() calls listeners in order; on() returns an unsubscribe", () => {
  const emitter = new Emitter<Events>();
  const seen: string[] = [];
  const off = emitter.on("a", (n) => seen.push(`1:${n}`));
  emitter.on("a", (n) => seen.push(`2:${n}`));
  emitter.on("b", (s) => seen.push(`b:${s}`));
  emitter.emit("a", 1);
  off();
  emitter.emit("a", 2);
  emitter.emit("b", "x");
  assert.deepEqual(seen, ["1:1", "2:1", "2:2", "b:x"]);
});

Deno.test("Emitter.once() resolves with the next event, or rejects on abort", async () => {
  const emitter = new Emitter<Events>();
  const next = emitter.once("b");
  emitter.emit("b", "first");
  emitter.emit("b", "second");
  assert.equal(await next, "first");
  const controller = new AbortController();
  const aborted = emitter.once("a", controller.signal);
  controller.abort(new Error("stop"));
  await assert.rejects(aborted, /stop/);
  await assert.rejects(emitter.once("a", controller.signal), /stop/);
});
