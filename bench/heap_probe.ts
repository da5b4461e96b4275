/**
 * Heap bytes per idle virtual actor, in a fresh process so other suites' garbage does not
 * blur it. Needs `gc()`: run as
 * `deno run -A --v8-flags=--expose-gc bench/heap_probe.ts --count 100000 --rounds 5`.
 * Prints one JSON line: `{ "runtime": [bytes per actor, ...], "raw": [bytes per entry, ...] }`.
 *
 * Each actor holds one number; its ref, key and id strings count as part of its cost.
 * The raw baseline is a `Map` from the same keys to a `{ n }` object.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { ActorSystem, virtualRef } from "../runtime/mod.ts";

/** What the probe prints. */
export interface HeapProbeResult {
  readonly runtime: number[];
  readonly raw: number[];
}

type Gc = () => void;

function settle(gc: Gc): number {
  for (let i = 0; i < 3; i++) gc();
  return Deno.memoryUsage().heapUsed;
}

async function runtimeRound(gc: Gc, count: number): Promise<number> {
  const before = settle(gc);
  const system = new ActorSystem({ maxResidents: count * 2 });
  system.register<{ add: number }>("holder", {
    virtual: true,
    create: () => {
      let n = 0;
      return {
        started() {
          n = 1;
        },
        receive: (m) => (n += m.add),
      };
    },
  });
  for (let i = 0; i < count; i++) system.tell(virtualRef("holder", `h-${i}`), { add: 1 });
  await system.idle();
  const after = settle(gc);
  if (system.metrics().residents !== count) {
    throw new Error(`Expected ${count} residents, found ${system.metrics().residents}`);
  }
  await system.shutdown();
  return (after - before) / count;
}

function rawRound(gc: Gc, count: number): number {
  const before = settle(gc);
  const map = new Map<string, { n: number }>();
  for (let i = 0; i < count; i++) map.set(`holder/h-${i}`, { n: 1 });
  const after = settle(gc);
  if (map.size !== count) throw new Error("unreachable: map lost entries");
  return (after - before) / count;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      count: { type: "string", default: "100000" },
      rounds: { type: "string", default: "5" },
    },
  });
  const count = Number(values.count);
  const rounds = Number(values.rounds);
  if (!(Number.isInteger(count) && count > 0)) {
    throw new RangeError(`Invalid --count: ${values.count}`);
  }
  if (!(Number.isInteger(rounds) && rounds > 0)) {
    throw new RangeError(`Invalid --rounds: ${values.rounds}`);
  }
  const gc = (globalThis as { gc?: Gc }).gc;
  if (gc === undefined) {
    console.error("heap_probe needs gc(): run deno with --v8-flags=--expose-gc");
    Deno.exit(2);
  }
  // A warm-up round so code and shapes are in place before the first measured one.
  await runtimeRound(gc, Math.min(count, 10_000));
  const result: HeapProbeResult = { runtime: [], raw: [] };
  for (let r = 0; r < rounds; r++) {
    result.runtime.push(await runtimeRound(gc, count));
    result.raw.push(rawRound(gc, count));
  }
  console.log(JSON.stringify(result));
}
