/**
 * Main-thread measures of the runtime suite, each paired with a raw baseline that does the
 * same work without the runtime: tell throughput, activation cost, same-thread ask latency.
 * Every function runs one round and returns its number.
 *
 * @module
 */

import { ActorSystem, virtualRef } from "../runtime/mod.ts";
import type { VirtualRef } from "../runtime/mod.ts";
import { percentile } from "./report.ts";

/** The small message every throughput measure sends. */
interface Hit {
  readonly type: "hit";
  readonly seq: number;
}

/** The handler both the actor and the raw baseline call. */
class HitCounter {
  count = 0;
  onHit(m: Hit): void {
    if (m.type === "hit") this.count++;
  }
}

function expectCount(counter: HitCounter, n: number, what: string): void {
  if (counter.count !== n) throw new Error(`${what}: counted ${counter.count} of ${n} messages`);
}

/**
 * Tell throughput (msgs/s) to one virtual actor: bursts of `burst` tells (at most the
 * mailbox capacity), each followed by `await system.idle()`.
 */
export async function tellThroughput(messages: number, burst: number): Promise<number> {
  const counter = new HitCounter();
  const system = new ActorSystem();
  system.register<Hit>("counter", {
    virtual: true,
    capacity: burst,
    create: () => ({ receive: (m) => counter.onHit(m) }),
  });
  const ref = virtualRef<Hit>("counter", "c");
  try {
    const t0 = performance.now();
    for (let sent = 0; sent < messages;) {
      const end = Math.min(messages, sent + burst);
      for (; sent < end; sent++) system.tell(ref, { type: "hit", seq: sent });
      await system.idle();
    }
    const seconds = (performance.now() - t0) / 1000;
    expectCount(counter, messages, "tell throughput");
    return messages / seconds;
  } finally {
    await system.shutdown();
  }
}

/** The raw baseline of {@link tellThroughput}: an array plus a microtask draining it. */
export async function rawTellThroughput(messages: number, burst: number): Promise<number> {
  const counter = new HitCounter();
  let queue: Hit[] = [];
  let done: () => void = () => {};
  const drain = () => {
    const batch = queue;
    queue = [];
    for (const m of batch) counter.onHit(m);
    done();
  };
  const t0 = performance.now();
  for (let sent = 0; sent < messages;) {
    const end = Math.min(messages, sent + burst);
    for (; sent < end; sent++) queue.push({ type: "hit", seq: sent });
    const drained = Promise.withResolvers<void>();
    done = drained.resolve;
    queueMicrotask(drain);
    await drained.promise;
  }
  const seconds = (performance.now() - t0) / 1000;
  expectCount(counter, messages, "raw tell throughput");
  return messages / seconds;
}

/** Ids for `count` actors, built outside the timed part. */
export function lazyRefs(count: number): VirtualRef<number>[] {
  return Array.from({ length: count }, (_, i) => virtualRef<number>("lazy", `a-${i}`));
}

/** Microseconds per activation: first message to each of `refs`, sync `started` hook. */
export async function activationCost(refs: readonly VirtualRef<number>[]): Promise<number> {
  let started = 0;
  let handled = 0;
  const system = new ActorSystem({ maxResidents: refs.length * 2 });
  system.register<number>("lazy", {
    virtual: true,
    create: () => {
      let state = -1;
      return {
        started() {
          state = 0;
          started++;
        },
        receive(m) {
          state += m;
          handled++;
        },
      };
    },
  });
  try {
    const t0 = performance.now();
    for (const ref of refs) system.tell(ref, 1);
    await system.idle();
    const micros = (performance.now() - t0) * 1000;
    if (started !== refs.length || handled !== refs.length) {
      throw new Error(`Activation: ${started} started, ${handled} handled of ${refs.length}`);
    }
    return micros / refs.length;
  } finally {
    await system.shutdown({ timeoutMs: 30_000 });
  }
}

/**
 * The raw baseline of {@link activationCost}: a `Map` from `kind/id` to a fresh object,
 * its start hook called inline and its message handled in a microtask.
 */
export async function rawActivationCost(refs: readonly VirtualRef<number>[]): Promise<number> {
  interface RawActor {
    state: number;
    started(): void;
    receive(m: number): void;
  }
  let handled = 0;
  const create = (): RawActor => ({
    state: -1,
    started() {
      this.state = 0;
    },
    receive(m) {
      this.state += m;
      handled++;
    },
  });
  const actors = new Map<string, RawActor>();
  const queue: [RawActor, number][] = [];
  const t0 = performance.now();
  for (const ref of refs) {
    const key = `${ref.kind}/${ref.id}`;
    let actor = actors.get(key);
    if (actor === undefined) {
      actors.set(key, actor = create());
      actor.started();
    }
    queue.push([actor, 1]);
  }
  await new Promise<void>((resolve) =>
    queueMicrotask(() => {
      for (const [actor, m] of queue) actor.receive(m);
      resolve();
    })
  );
  const micros = (performance.now() - t0) * 1000;
  if (handled !== refs.length) throw new Error(`Raw activation: handled ${handled}`);
  return micros / refs.length;
}

/** Latency percentiles in microseconds. */
export interface Latency {
  readonly p50: number;
  readonly p99: number;
}

/** Runs `once` `count` times in sequence and returns its latency percentiles. */
export async function measureLatency(
  count: number,
  once: (seq: number) => Promise<unknown>,
): Promise<Latency> {
  const samples = new Float64Array(count);
  for (let seq = 0; seq < count; seq++) {
    const t0 = performance.now();
    await once(seq);
    samples[seq] = (performance.now() - t0) * 1000;
  }
  samples.sort();
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

/** Same-thread ask latency: `count` sequential asks to an echo actor in one system. */
export async function localAskLatency(count: number): Promise<Latency> {
  const system = new ActorSystem();
  system.register<number>("echo", { virtual: true, create: () => ({ receive: (m) => m }) });
  const ref = virtualRef<number>("echo", "e");
  try {
    return await measureLatency(count, async (seq) => {
      const back = await system.ask<number, number>(ref, seq, { timeoutMs: 5000 });
      if (back !== seq) throw new Error(`Echo answered ${back} to ${seq}`);
    });
  } finally {
    await system.shutdown();
  }
}

/** The raw baseline of {@link localAskLatency}: a promise resolved from a microtask. */
export function rawLocalAskLatency(count: number): Promise<Latency> {
  return measureLatency(count, async (seq) => {
    const { promise, resolve } = Promise.withResolvers<number>();
    queueMicrotask(() => resolve(seq));
    if (await promise !== seq) throw new Error("unreachable: echo mismatch");
  });
}
