/**
 * The worker app of the runtime suite (a {@link WorkerApp}): a `sink` that counts hits,
 * a `source` that streams hits to sinks on another worker and reports when they all
 * arrived, and an `echo` for ask latency.
 *
 * @module
 */

import type { ActorSystem, VirtualRef, WorkerContext } from "../runtime/mod.ts";

/** Messages of the bench kinds. */
export type BenchMessage =
  | { readonly type: "hit"; readonly seq: number }
  | { readonly type: "take" }
  | { readonly type: "run"; readonly n: number; readonly to: readonly VirtualRef[] }
  | { readonly type: "ping"; readonly seq: number };

/** The source's answer to `run`. */
export interface RunResult {
  readonly received: number;
}

/**
 * Sinks hold a window of hits: a whole mesh batch (1024) can land in one sink between two
 * turns, and a slow receiver may get several batches before its drain runs.
 */
export const SINK_CAPACITY = 1 << 16;
const TAKE_TIMEOUT_MS = 120_000;

export function setup(system: ActorSystem, context: WorkerContext): void {
  system.register<BenchMessage>("sink", {
    virtual: true,
    capacity: SINK_CAPACITY,
    create: () => {
      let count = 0;
      return {
        receive(m) {
          if (m.type === "hit") {
            count++;
            return undefined;
          }
          if (m.type !== "take") return undefined;
          const taken = count;
          count = 0;
          return taken;
        },
      };
    },
  });
  system.register<BenchMessage>("source", {
    virtual: true,
    create: () => ({
      async receive(m, ctx): Promise<RunResult | undefined> {
        if (m.type !== "run") return undefined;
        const { n, to } = m;
        for (const sink of to) {
          if (system.locate(sink).worker === context.worker) {
            throw new RangeError(`Sink ${sink.id} is on the source's worker ${context.worker}`);
          }
        }
        for (let seq = 0; seq < n; seq++) {
          ctx.tell<BenchMessage>(to[seq % to.length]!, { type: "hit", seq });
        }
        // FIFO per worker pair: each `take` arrives after every hit sent to that sink.
        const counts = await Promise.all(
          to.map((sink) =>
            ctx.ask<number, BenchMessage>(sink, { type: "take" }, { timeoutMs: TAKE_TIMEOUT_MS })
          ),
        );
        const received = counts.reduce((a, b) => a + b, 0);
        if (received !== n) throw new Error(`Sinks counted ${received} hits of ${n} sent`);
        return { received };
      },
    }),
  });
  system.register<BenchMessage>("echo", {
    virtual: true,
    create: () => ({ receive: (m) => m }),
  });
}
