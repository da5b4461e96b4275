import assert from "node:assert/strict";
import { nullLogger } from "../runtime/mod.ts";
import { acceptLoop } from "./accept_loop.ts";

Deno.test("acceptLoop() keeps accepting after failures such as EMFILE", async () => {
  const script: (number | Error)[] = [
    1,
    new Error("Too many open files (os error 24)"),
    new Error("Too many open files (os error 24)"),
    2,
  ];
  const controller = new AbortController();
  const got: number[] = [];
  const listener = {
    accept(): Promise<number> {
      const next = script.shift();
      if (next === undefined) {
        controller.abort();
        return Promise.reject(new Deno.errors.BadResource("closed"));
      }
      return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
    },
  };
  const result = await acceptLoop(listener, (c) => got.push(c), {
    logger: nullLogger,
    signal: controller.signal,
    name: "test",
    minBackoffMs: 1,
  });
  assert.deepEqual(got, [1, 2]);
  assert.equal(result.failures, 2);
});

Deno.test("acceptLoop() ends when its real listener closes", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const controller = new AbortController();
  const accepted: Deno.Conn[] = [];
  const loop = acceptLoop(listener, (c) => accepted.push(c), {
    logger: nullLogger,
    signal: controller.signal,
    name: "tcp",
  });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  while (accepted.length === 0) await new Promise((r) => setTimeout(r, 1));
  controller.abort();
  listener.close();
  assert.deepEqual(await loop, { failures: 0 });
  client.close();
  accepted[0]!.close();
});
