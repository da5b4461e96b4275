/**
 * The `connections` suite: how many idle authenticated connections a flash-im node holds,
 * at what memory cost and how fast they come up, next to a raw Deno TCP server holding the
 * same number of plain connections (`raw_conn_server.ts`), measured in the same run with
 * the same generator code (`conn_generator.ts`).
 *
 * For each connection count N (`--n`, default 10 000; or `--steps 2000,5000,10000`):
 * 1. a fresh raw server, then a fresh node (`--workers` = cores by default), each its own
 *    process: Deno keeps most of its RSS after connections close, so none is reused;
 * 2. G generator processes (default ceil(N / 5000), at most 15 000 sockets each: the open
 *    files cap is 20 000 per process here) load, then start together, at most
 *    `--concurrency` (200) connects in flight each;
 * 3. server RSS (`VmRSS` of the process: the node's workers are threads) and generator RSS
 *    are read before connecting and at the end of the `--hold` (5 s); the deltas over the
 *    connections that came up are the per-connection costs;
 * 4. generators report failures by reason, and how many connections dropped during the hold.
 *
 * Connect rate = connections up / (last up - first connect started), across generators.
 * "Up" is `AuthOk` for the node (TCP connect + Auth frame + EdDSA verify + actor spawn), and
 * for the raw server a one-byte greeting written after `accept` (so both count the server's
 * accept, not just the kernel's handshake).
 *
 * Past 5 000 connections the servers listen on 0.0.0.0 and connection i goes to
 * 127.0.0.<1 + floor(i / 5 000)>. One (source, destination) pair has ~28k ephemeral ports,
 * and the kernel's search for a free one slows down long before they run out: with one
 * destination, 19k connections cost the generators 4x the CPU per connect (and the raw
 * server's rate fell from 14k/s to 5k/s), which measured the kernel, not the server.
 * One server process still holds at most its open-files limit: N is checked against it.
 *
 * Cluster: with `--nodes K` each step also runs on K fresh cluster nodes (`_cluster.ts`,
 * connection i to node i mod K; each node is checked against the limit), shown beside the
 * single node in a table per step; the single node and raw server then run a step at
 * most at what one process holds.
 *
 * @module
 */

import { MAX_SESSIONS_PER_USER } from "../actors/mod.ts";
import { NODE_V8_FLAGS } from "../config.ts";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type LoadResult, runLoad } from "./_conn_fleet.ts";
import {
  chartOf,
  type ConnectionsStep,
  marginalMetric,
  stepMetrics,
  stepNotes,
} from "./_conn_report.ts";
import { type LoadTarget, startNode, startRawServer, writeTokens } from "./_conn_servers.ts";
import { openFileLimit } from "./_proc.ts";
import { clusterSetupFrom, ClusterSpace } from "./_cluster.ts";
import { planClusterStep } from "./_cluster_plan.ts";
import {
  clusterConnectionsNote,
  clusterConnectionsSection,
  type ClusterConnectionsStep,
} from "./_cluster_connections.ts";
import { GeneratorMode } from "./conn_generator.ts";
import {
  machineInfo,
  type Suite,
  type SuiteOptions,
  type SuiteResult,
  timestamp,
} from "./report.ts";

/** Sizes of one run of the suite. */
export interface ConnectionsParams {
  readonly steps: readonly number[];
  readonly holdSeconds: number;
  /** Generator processes; `undefined`: ceil(N / {@link CONNECTIONS_PER_GENERATOR}). */
  readonly generators: number | undefined;
  readonly workers: number;
  readonly concurrency: number;
  readonly timeoutMs: number;
  /** Accounts the tokens are spread over. */
  readonly users: number;
}

/** Default connections per generator process. */
export const CONNECTIONS_PER_GENERATOR = 5000;
/** Most sockets one generator may hold (the open-files cap is 20 000 per process here). */
export const MAX_PER_GENERATOR = 15_000;
/**
 * Connections per destination address before the next one is used: few enough that the
 * kernel finds a free ephemeral port at once (see the module doc).
 */
export const PER_DESTINATION = 5_000;
/** File descriptors a server needs besides its connections (listeners, store, workers). */
const FD_RESERVE = 300;

const FULL: ConnectionsParams = {
  steps: [10_000],
  holdSeconds: 5,
  generators: undefined,
  workers: navigator.hardwareConcurrency,
  concurrency: 200,
  timeoutMs: 30_000,
  users: 4,
};

const QUICK: ConnectionsParams = { ...FULL, steps: [300], holdSeconds: 1, users: 2 };

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The parameters for `options`: quick or full defaults, then the suite's flags. */
export function connectionsParams(
  options: Pick<SuiteOptions, "quick" | "flags">,
): ConnectionsParams {
  const base = options.quick ? QUICK : FULL;
  const flags = options.flags ?? {};
  return {
    ...base,
    steps: flags.steps ?? (flags.n !== undefined ? [flags.n] : base.steps),
    holdSeconds: flags.hold ?? base.holdSeconds,
    generators: flags.generators ?? base.generators,
    workers: flags.workers ?? base.workers,
    concurrency: flags.concurrency ?? base.concurrency,
  };
}

/** How one step is laid out: generators, destinations, listen address. */
export interface StepPlan {
  readonly n: number;
  readonly generators: number;
  /** Connections per destination address (0: all to 127.0.0.1). */
  readonly spread: number;
  readonly host: string;
}

/**
 * Lays out a step of `n` connections.
 *
 * @throws {RangeError} when a generator would hold more than {@link MAX_PER_GENERATOR}
 *   sockets, or a server more than its open-files limit allows.
 */
export function planStep(n: number, generators: number | undefined, fileLimit: number): StepPlan {
  const g = generators ?? Math.ceil(n / CONNECTIONS_PER_GENERATOR);
  if (Math.ceil(n / g) > MAX_PER_GENERATOR) {
    throw new RangeError(
      `Cannot open ${n} connections from ${g} generators: at most ${MAX_PER_GENERATOR} each`,
    );
  }
  if (n + FD_RESERVE > fileLimit) {
    throw new RangeError(
      `Cannot hold ${n} connections in one server process: its open-files limit is ` +
        `${fileLimit} (at most ${fileLimit - FD_RESERVE} connections)`,
    );
  }
  const spread = n > PER_DESTINATION ? PER_DESTINATION : 0;
  return { n, generators: g, spread, host: spread > 0 ? "0.0.0.0" : "127.0.0.1" };
}

/** A progress reporter for one load: a bar on a terminal, else a line every 2 s. */
function progressBar(options: SuiteOptions, label: string, total: number) {
  const tty = Deno.stderr.isTerminal();
  // The clock starts at the first report: generators report only once started.
  let t0: number | undefined;
  let lastLine = 0;
  /** `rate`: the final connect rate (the hold is not connecting time). */
  return (ok: number, failed: number, rate?: number) => {
    t0 ??= performance.now();
    const done = rate !== undefined;
    const seconds = (performance.now() - t0) / 1000;
    rate ??= seconds >= 1 ? ok / seconds : undefined;
    const text = `${ok}/${total} up, ${failed} failed` +
      (rate === undefined ? "" : `, ${Math.round(rate)}/s`);
    if (tty) {
      const width = 30;
      const filled = Math.round((width * (ok + failed)) / total);
      const bar = "#".repeat(filled) + "-".repeat(width - filled);
      const line = `\r[bench] connections: ${label} [${bar}] ${text}`;
      Deno.stderr.writeSync(new TextEncoder().encode(line.padEnd(100) + (done ? "\n" : "")));
    } else if (done || performance.now() - lastLine > 2000) {
      lastLine = performance.now();
      options.progress(`${label}: ${text}`);
    }
  };
}

async function measure(
  options: SuiteOptions,
  p: ConnectionsParams,
  plan: StepPlan,
  target: LoadTarget & { readonly pids?: readonly number[]; readonly ports?: number[] },
  mode: GeneratorMode,
  tokenFile: string | undefined,
  label = `${mode === GeneratorMode.Flash ? "flash-im" : "raw"} N=${plan.n}`,
): Promise<LoadResult & { readonly problems: readonly string[] }> {
  const bar = progressBar(options, label, plan.n);
  const result = await runLoad({
    mode,
    serverPid: target.pids ?? target.pid,
    host: "127.0.0.1",
    port: target.port,
    ports: target.ports,
    connections: plan.n,
    generators: plan.generators,
    concurrency: p.concurrency,
    spread: plan.spread,
    holdSeconds: p.holdSeconds,
    timeoutMs: p.timeoutMs,
    tokenFile,
    onProgress: (ok, failed) => bar(ok, failed),
  });
  bar(result.ok, result.failed, result.connectRate);
  if (result.ok === 0) throw new Error(`${label}: no connection came up`);
  return { ...result, problems: target.problems().slice(0, 20) };
}

export type { ConnectionsStep };

/** What the suite returns: the common result plus every step's raw numbers. */
export interface ConnectionsResult extends SuiteResult {
  readonly steps: readonly ConnectionsStep[];
  /** Total failures (connects that failed + connections dropped during the hold). */
  readonly failures: number;
  readonly chart?: string;
  /** With `--nodes`: each step on the cluster. */
  readonly cluster?: readonly ClusterConnectionsStep[];
}

async function run(options: SuiteOptions): Promise<ConnectionsResult> {
  const p = connectionsParams(options);
  const log = options.progress;
  const startedAt = new Date();
  const t0 = performance.now();
  const fileLimit = await openFileLimit();
  const clusterSetup = clusterSetupFrom(options.flags ?? {});
  // With --nodes, the single node (and raw) run each step up to what one process holds.
  const single = (n: number) => clusterSetup ? Math.min(n, fileLimit - FD_RESERVE) : n;
  const plans = p.steps.map((n) => planStep(single(n), p.generators, fileLimit));
  const clusterPlans = clusterSetup && p.steps.map((n) => ({
    ...planStep(n, p.generators, Infinity),
    perNode: planClusterStep(n, clusterSetup.nodes, fileLimit, FD_RESERVE).perNode,
  }));
  const maxN = Math.max(...p.steps);
  await using stack = new AsyncDisposableStack();
  const tmp = await Deno.makeTempDir({ prefix: "flash-im-bench-conn-" });
  stack.defer(() => Deno.remove(tmp, { recursive: true }).catch(() => {}));
  // SIGINT/SIGTERM to the bench: take the running server down too (generators and the raw
  // server exit by themselves when their stdin closes; a node does not).
  const live = new Set<AsyncDisposable>();
  const track = <T extends AsyncDisposable>(resource: T): T => {
    live.add(resource);
    const dispose = resource[Symbol.asyncDispose].bind(resource);
    return Object.assign(resource, {
      [Symbol.asyncDispose]: () => (live.delete(resource), dispose()),
    });
  };
  const onSignal = () =>
    void Promise.allSettled([...live].map((r) => r[Symbol.asyncDispose]()))
      .then(() => stack.disposeAsync())
      .finally(() => Deno.exit(130));
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, onSignal);
    stack.defer(() => Deno.removeSignalListener(signal, onSignal));
  }
  const dataDir = join(tmp, "node");
  const tokenFile = join(tmp, "tokens.txt");
  let tokenMintMs: number;
  {
    // Accounts are made on a node of their own: login's scrypt leaves memory behind, and
    // every measured node should start the same way.
    // A user holds at most MAX_SESSIONS_PER_USER devices (more are kicked): spread the
    // connections over enough users to stay under it.
    const users = Math.max(p.users, Math.ceil(maxN / (MAX_SESSIONS_PER_USER / 2)));
    log(`registering ${users} users, minting ${maxN} access tokens`);
    await using node = track(await startNode(dataDir, { host: "127.0.0.1", workers: 1 }));
    tokenMintMs = await writeTokens(node.server, tokenFile, {
      users,
      count: maxN,
      ttlSec: 4 * 3600,
    });
  }
  let cluster: { space: ClusterSpace; tokenFile: string; mintMs: number } | undefined;
  if (clusterSetup) {
    const space = stack.use(track(await ClusterSpace.create(clusterSetup, tmp, log)));
    const users = Math.max(p.users, Math.ceil(maxN / (MAX_SESSIONS_PER_USER / 2)));
    log(`cluster: registering ${users} users, minting ${maxN} access tokens`);
    await using lone = track(await space.startLone(1));
    const tokenFile = join(tmp, "cluster-tokens.txt");
    const mintMs = await writeTokens(lone, tokenFile, { users, count: maxN, ttlSec: 4 * 3600 });
    cluster = { space, tokenFile, mintMs };
  }
  const steps: ConnectionsStep[] = [];
  const clusterSteps: ClusterConnectionsStep[] = [];
  for (const [i, plan] of plans.entries()) {
    log(`N=${plan.n}: ${plan.generators} generators, ${p.concurrency} connects in flight each`);
    let raw;
    {
      await using server = track(await startRawServer(plan.host));
      raw = await measure(options, p, plan, server, GeneratorMode.Raw, undefined);
    }
    let flash;
    {
      await using node = track(await startNode(dataDir, { host: plan.host, workers: p.workers }));
      flash = await measure(options, p, plan, node, GeneratorMode.Flash, tokenFile);
    }
    steps.push({ plan, flash, raw });
    if (cluster && clusterPlans) {
      const cplan = clusterPlans[i]!;
      const k = clusterSetup!.nodes;
      log(`cluster N=${cplan.n}: ${k} nodes, ${cplan.generators} generators`);
      await using nodes = track(
        await cluster.space.startCluster({ workers: p.workers, host: cplan.host }),
      );
      const result = await measure(
        options,
        p,
        cplan,
        {
          pid: nodes.pids[0]!,
          pids: nodes.pids,
          port: nodes.ports[0]!,
          ports: nodes.ports,
          problems: () => nodes.problems(),
          [Symbol.asyncDispose]: () => nodes[Symbol.asyncDispose](),
        },
        GeneratorMode.Flash,
        cluster.tokenFile,
        `cluster x${k} N=${cplan.n}`,
      );
      clusterSteps.push({
        n: cplan.n,
        nodes: k,
        workers: p.workers,
        perNode: cplan.perNode,
        result,
      });
    }
  }

  const metrics = steps.flatMap((s) => stepMetrics(s.plan.n, s.flash, s.raw));
  for (let i = 1; i < steps.length; i++) metrics.push(marginalMetric(steps[i - 1]!, steps[i]!));
  let chart: string | undefined;
  if (options.flags?.steps !== undefined) {
    chart = join(REPO, ".bench", `connections-${timestamp(startedAt)}.svg`);
    await Deno.mkdir(dirname(chart), { recursive: true });
    await Deno.writeTextFile(chart, chartOf(steps));
    log(`chart written to ${chart}`);
  }
  const failures = clusterSteps.reduce(
    (a, s) => a + s.result.failed + (s.result.ok - s.result.openAfterHold),
    0,
  ) + steps.reduce(
    (a, s) =>
      a + s.flash.failed + s.raw.failed + (s.flash.ok - s.flash.openAfterHold) +
      (s.raw.ok - s.raw.openAfterHold),
    0,
  );
  const notes = [
    `Server: a fresh process per measurement (node: ${p.workers} workers, ` +
    `\`--idle-timeout-ms 600000 --heartbeat-ms 300000\`, rate limit off); RSS = VmRSS of ` +
    `the process (workers are threads), read before connecting and after a ` +
    `${p.holdSeconds} s hold; per connection = delta / connections up. Both servers run ` +
    `with \`--v8-flags=${NODE_V8_FLAGS}\` (what \`deno task start\` uses).`,
    `Clients: generator processes (ceil(N / ${CONNECTIONS_PER_GENERATOR}) by default), ` +
    `${p.concurrency} connects in flight each; flash-im: \`FlashConnection\` over tcp://, one ` +
    `access token and device id per connection (at least ${p.users} users, at most ` +
    `${MAX_SESSIONS_PER_USER / 2} connections each; ${maxN} tokens minted ` +
    `locally in ${Math.round(tokenMintMs)} ms); raw: \`Deno.connect\`, up when the server's ` +
    `one-byte greeting arrives. Rate = up / (last up - first connect), across generators.`,
    `One server process holds at most its open-files limit (${fileLimit} here) of sockets.`,
  ];
  notes.push(...steps.flatMap(stepNotes));
  if (steps.length > 1) {
    notes.push(
      "Per extra connection: the RSS slope between two steps (separate processes); it " +
        "leaves out what a process spends once (JIT code, a young generation grown by the " +
        "connect burst), which the per-connection figures at small N include.",
    );
  }
  if (chart) notes.push(`Chart: ${chart}`);
  if (clusterSetup) {
    notes.push(
      ...clusterSteps.map((s) => clusterConnectionsNote(s, clusterSetup.natsUrl)),
      `Cluster tokens: ${maxN} minted in ${Math.round(cluster!.mintMs)} ms. The single node ` +
        `and raw server hold at most ${fileLimit - FD_RESERVE} connections (one process, ` +
        `open-files limit ${fileLimit}), so above that their step runs at that count.`,
    );
  }
  return {
    suite: "connections",
    startedAt: startedAt.toISOString(),
    durationMs: performance.now() - t0,
    quick: options.quick,
    machine: machineInfo(),
    params: {
      n: maxN,
      steps: p.steps.length,
      holdSeconds: p.holdSeconds,
      workers: p.workers,
      concurrency: p.concurrency,
      timeoutMs: p.timeoutMs,
      users: p.users,
      tokenMintMs,
    },
    metrics,
    notes,
    sections: clusterSetup && clusterSteps.map((c, i) => clusterConnectionsSection(steps[i]!, c)),
    steps,
    failures,
    chart,
    cluster: clusterSetup && clusterSteps,
  };
}

/** The `connections` suite. */
export const connectionsSuite: Suite = {
  name: "connections",
  description: "idle authenticated connections: connect rate and memory, vs raw Deno TCP",
  run,
};
