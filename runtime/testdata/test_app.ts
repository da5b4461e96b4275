/**
 * A worker app for the runtime's worker tests: counters, an order recorder, relays that
 * send across workers, and kinds that crash on demand.
 *
 * @module
 */

import type { ActorSystem } from "../actor_system.ts";
import type { WorkerContext } from "../node_host.ts";
import type { ActorRef } from "../ref.ts";

/** Messages of the test kinds. */
export type TestMessage =
  | { type: "add"; n: number }
  | { type: "get" }
  | { type: "where" }
  | { type: "record"; from: string; seq: number }
  | { type: "log" }
  | { type: "relay"; to: ActorRef; from: string; count: number }
  | { type: "crashWorker" }
  | { type: "dud" };

/** Config understood by this app. */
export interface TestAppConfig {
  /** Throw from setup in every worker (to exhaust the restart intensity). */
  readonly failSetup?: boolean;
}

export function setup(system: ActorSystem, context: WorkerContext): void {
  if ((context.config as TestAppConfig | undefined)?.failSetup) {
    throw new Error(`Setup of worker ${context.worker} fails on purpose`);
  }
  const where = () => ({ worker: context.worker, generation: context.generation });
  system.register<TestMessage>("counter", {
    virtual: true,
    create: () => {
      let total = 0;
      return {
        receive(m) {
          if (m.type === "add") total += m.n;
          if (m.type === "where") return where();
          return total;
        },
      };
    },
  });
  system.register<TestMessage>("recorder", {
    virtual: true,
    capacity: 100_000,
    create: () => {
      const seen: [string, number][] = [];
      return {
        receive(m) {
          if (m.type === "record") seen.push([m.from, m.seq]);
          if (m.type === "where") return where();
          return seen;
        },
      };
    },
  });
  system.register<TestMessage>("relay", {
    virtual: true,
    create: (self) => ({
      receive(m, ctx) {
        if (m.type === "where") return where();
        if (m.type !== "relay") return undefined;
        for (let seq = 0; seq < m.count; seq++) {
          ctx.tell<TestMessage>(m.to, { type: "record", from: m.from, seq });
        }
        return (self as { id: string }).id;
      },
    }),
  });
  system.register<TestMessage>("bomb", {
    virtual: true,
    create: () => ({
      receive(m) {
        if (m.type === "where") return where();
        // An error outside any turn: nothing in the runtime catches it, the worker dies
        // (unless survivable() below vouches for it: a dud).
        setTimeout(() => {
          if (m.type === "dud") throw new DudError("A dud went off outside a turn");
          throw new Error("Bomb went off outside a turn");
        }, 0);
        return "armed";
      },
    }),
  });
}

/** What {@link survivable} lets a worker outlive. */
class DudError extends Error {
  override name = "DudError";
}

/** The worker survives duds only; every other uncaught error kills it. */
export function survivable(error: unknown): string | undefined {
  return error instanceof DudError ? "a dud" : undefined;
}
