/**
 * The `runtime` suite: the actor runtime against raw Deno doing the same work, measured
 * side by side in the same run (median of rounds, one warm-up round first):
 *
 * - tell throughput on the main thread vs an array drained by a microtask;
 * - throughput between two workers of a node vs raw `postMessage` batched by 256 between
 *   two bare workers;
 * - ask latency main thread -> worker vs raw ping-pong, and same-thread ask latency vs a
 *   promise resolved from a microtask;
 * - activation cost of virtual actors vs a `Map` of fresh objects;
 * - heap bytes per idle virtual actor vs a `Map` entry (in a `--expose-gc` subprocess).
 *
 * @module
 */

import {
  activationCost,
  lazyRefs,
  localAskLatency,
  rawActivationCost,
  rawLocalAskLatency,
  rawTellThroughput,
  tellThroughput,
} from "./_runtime_local.ts";
import { MeshBench, RawWorkers } from "./_runtime_workers.ts";
import type { HeapProbeResult } from "./heap_probe.ts";
import {
  Better,
  machineInfo,
  type Metric,
  metric,
  type Suite,
  type SuiteOptions,
  type SuiteResult,
} from "./report.ts";

/** Sizes of one run of the suite. */
export interface RuntimeParams {
  readonly rounds: number;
  readonly tellMessages: number;
  /** Tells per burst before `idle()`: the default mailbox capacity. */
  readonly tellBurst: number;
  readonly meshMessages: number;
  readonly meshSinks: number;
  /** Objects per raw `postMessage` in the baseline. */
  readonly rawBatch: number;
  readonly asks: number;
  readonly activations: number;
  readonly heapActors: number;
}

const FULL: RuntimeParams = {
  rounds: 5,
  tellMessages: 2_000_000,
  tellBurst: 1024,
  meshMessages: 1_000_000,
  meshSinks: 4,
  rawBatch: 256,
  asks: 20_000,
  activations: 100_000,
  heapActors: 100_000,
};

const QUICK: RuntimeParams = {
  ...FULL,
  rounds: 3,
  tellMessages: 100_000,
  meshMessages: 50_000,
  asks: 1_000,
  activations: 10_000,
  heapActors: 10_000,
};

const HEAP_PROBE = new URL("./heap_probe.ts", import.meta.url);

/**
 * Runs a pair of measures interleaved round by round, in alternating order (raw first on
 * even rounds), after one warm-up of each: drift and after-effects (a worker's GC running
 * on after its round) hit both alike.
 */
async function paired<T>(
  count: number,
  runtime: () => Promise<T>,
  raw: () => Promise<T>,
): Promise<{ runtime: T[]; raw: T[] }> {
  await raw();
  await runtime();
  const out = { runtime: [] as T[], raw: [] as T[] };
  for (let i = 0; i < count; i++) {
    if (i % 2 === 0) {
      out.raw.push(await raw());
      out.runtime.push(await runtime());
    } else {
      out.runtime.push(await runtime());
      out.raw.push(await raw());
    }
  }
  return out;
}

async function heapProbe(actors: number, count: number): Promise<HeapProbeResult> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--v8-flags=--expose-gc",
      HEAP_PROBE.pathname,
      "--count",
      String(actors),
      "--rounds",
      String(count),
    ],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(300_000),
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr);
    throw new Error(`Heap probe exited with ${output.code}: ${stderr.trim()}`);
  }
  return JSON.parse(stdout) as HeapProbeResult;
}

async function run(options: SuiteOptions): Promise<SuiteResult> {
  const p = options.quick ? QUICK : FULL;
  const log = options.progress;
  const startedAt = new Date();
  const t0 = performance.now();
  const metrics: Metric[] = [];

  log(`tell throughput: ${p.tellMessages} messages x ${p.rounds} rounds`);
  const tell = await paired(
    p.rounds,
    () => tellThroughput(p.tellMessages, p.tellBurst),
    () => rawTellThroughput(p.tellMessages, p.tellBurst),
  );
  metrics.push(metric({
    name: "tell.throughput",
    label: "tell throughput, one thread",
    unit: "msgs/s",
    better: Better.Higher,
    rounds: tell.runtime,
    baseline: { label: "array + microtask", rounds: tell.raw },
    target: { on: "value", op: ">=", limit: 1e6, text: ">= 1M msgs/s" },
  }));

  log(`activation: ${p.activations} virtual actors x ${p.rounds} rounds`);
  const refs = lazyRefs(p.activations);
  const activation = await paired(
    p.rounds,
    () => activationCost(refs),
    () => rawActivationCost(refs),
  );
  metrics.push(metric({
    name: "activation.cost",
    label: "activation (first message, sync started)",
    unit: "µs",
    better: Better.Lower,
    rounds: activation.runtime,
    baseline: { label: "Map + new object", rounds: activation.raw },
  }));

  log(`same-thread ask: ${p.asks} sequential asks x ${p.rounds} rounds`);
  const local = await paired(
    p.rounds,
    () => localAskLatency(p.asks),
    () => rawLocalAskLatency(p.asks),
  );
  metrics.push(...latencyMetrics("ask.local", "ask, same thread", "promise + microtask", local));

  log("starting a 2-worker node and 3 raw workers");
  await using mesh = await MeshBench.start(p.meshSinks);
  using raw = await RawWorkers.start();

  log(`cross-worker: ${p.meshMessages} messages to ${p.meshSinks} sinks x ${p.rounds} rounds`);
  const cross = await paired(
    p.rounds,
    () => mesh.throughput(p.meshMessages),
    () => raw.throughput(p.meshMessages, p.rawBatch),
  );
  metrics.push(metric({
    name: "mesh.throughput",
    label: "tell throughput, worker -> worker",
    unit: "msgs/s",
    better: Better.Higher,
    rounds: cross.runtime,
    baseline: { label: `postMessage batched ${p.rawBatch}`, rounds: cross.raw },
    target: { on: "ratio", op: ">=", limit: 0.5, text: ">= 50% of raw" },
  }));

  log(`cross-thread ask: ${p.asks} sequential asks x ${p.rounds} rounds`);
  const remote = await paired(
    p.rounds,
    () => mesh.askLatency(p.asks),
    () => raw.askLatency(p.asks),
  );
  metrics.push(
    ...latencyMetrics("ask.remote", "ask, main -> worker", "postMessage ping-pong", remote),
  );

  log(`heap: ${p.heapActors} idle virtual actors x ${p.rounds} rounds (subprocess)`);
  const heap = await heapProbe(p.heapActors, p.rounds);
  metrics.push(metric({
    name: "heap.per_actor",
    label: "heap per idle virtual actor",
    unit: "B",
    better: Better.Lower,
    rounds: heap.runtime,
    baseline: { label: "Map entry + { n }", rounds: heap.raw },
    target: { on: "value", op: "<=", limit: 1024, text: "<= 1 KB" },
  }));

  return {
    suite: "runtime",
    startedAt: startedAt.toISOString(),
    durationMs: performance.now() - t0,
    quick: options.quick,
    machine: machineInfo(),
    params: { ...p },
    metrics,
    notes: [
      `tell: ${p.tellMessages} messages to one actor in bursts of ${p.tellBurst} ` +
      `(default mailbox capacity), \`await system.idle()\` after each burst.`,
      `worker -> worker: ${p.meshMessages} messages from a source actor to ${p.meshSinks} ` +
      `sinks on the other worker, timed from the main thread's command to the sinks' counts; ` +
      `raw: same count of \`{ type, seq }\` objects over a MessageChannel between two bare workers.`,
      `asks: ${p.asks} sequential per round; p50/p99 are medians of per-round percentiles.`,
      `activation: ${p.activations} actors per round; heap: ${p.heapActors} actors, ` +
      `heapUsed delta after gc() in a subprocess (refs, keys and ids included).`,
    ],
  };
}

function latencyMetrics(
  name: string,
  label: string,
  baselineLabel: string,
  rounds: { runtime: { p50: number; p99: number }[]; raw: { p50: number; p99: number }[] },
): Metric[] {
  return (["p50", "p99"] as const).map((p) =>
    metric({
      name: `${name}.${p}`,
      label: `${label} ${p}`,
      unit: "µs",
      better: Better.Lower,
      rounds: rounds.runtime.map((r) => r[p]),
      baseline: { label: baselineLabel, rounds: rounds.raw.map((r) => r[p]) },
    })
  );
}

/** The `runtime` suite. */
export const runtimeSuite: Suite = {
  name: "runtime",
  description: "actor runtime vs raw Deno: throughput, latency, activation, memory",
  run,
};
