/**
 * The `messages` suite: 1:1 message throughput and latency through one flash-im node
 * (embedded store: every message is durable before its `SendAck`), optionally the same on a
 * second node on Postgres + Redis, next to a raw Deno TCP
 * relay (`raw_relay_server.ts`: length-prefixed frames relayed to the partner's socket, no
 * store, no auth) measured in the same run with the same generator code
 * (`msg_generator.ts`), pair count, window and duration.
 *
 * P pairs (100 connections by default), each client sending to its partner (both ways):
 * 1. saturation: every client keeps W sends in flight for D seconds → acked msgs/s (acks
 *    received within D) and delivered msgs/s (partner `MessageNotify`s within D);
 * 2. fixed rate: half of flash-im's delivered saturation rate, offered open-loop for D
 *    seconds (the raw relay gets the same offered rate) → send → receive latency
 *    percentiles; sender and recipient live in the same generator process (same clock).
 * After each phase a bounded drain waits for every send's answer and every acked message's
 * delivery: acked - delivered after it is the lost count (must be 0).
 *
 * Before the phases each pair sends one unmeasured message, so its conversation exists.
 *
 * Server CPU = CPU time of the server process (utime + stime, `/proc/<pid>/stat`) over the
 * phase / wall time, in cores; RSS = `VmRSS` after the saturation phase.
 *
 * Rows per commit (group-commit batch size): the node's `GET /metrics` histogram
 * `flashim_write_batch_items` (messages per `appendBatch`, power-of-two buckets, one series
 * per worker), scraped before and after each phase from every worker (see
 * `_batch_metrics.ts`); median and p90 are interpolated within buckets, the mean is exact.
 *
 * Real backends: with `--postgres URL --redis URL` (or env `FLASH_BENCH_POSTGRES_URL` and
 * `FLASH_BENCH_REDIS_URL`) a second node (same workers, the node's default `--pg-pool`) runs
 * the same phases on a fresh schema `bench_<unix>_<random>` and Redis prefix `<schema>:`,
 * both dropped at the end (also on failure); its fixed-rate phase offers half of its own
 * peak. The table then shows both nodes side by side with the ratio real / embedded.
 * Without the flags or env only the embedded node runs: local default servers are never
 * probed, so a plain run touches no shared database.
 *
 * Cluster: with `--nodes K` (see `_cluster_messages.ts`) the Postgres + Redis node runs too
 * (on the flags' servers, else env, else the local defaults), then K cluster nodes on the
 * same servers with pairs whose sender, recipient and conversation owner sit on three
 * different nodes; a second table puts the cluster beside that single node.
 *
 * @module
 */

import { join } from "node:path";
import { startServer, userTokens } from "../tests/harness.ts";
import { NODE_FLAGS } from "./_conn_servers.ts";
import { readRssSum } from "./_proc.ts";
import type { GeneratorClient, PhaseCommand, PhaseReport } from "./msg_generator.ts";
import {
  Better,
  machineInfo,
  metric,
  percentile,
  type Suite,
  type SuiteOptions,
  type SuiteResult,
} from "./report.ts";
import { NODE_V8_FLAGS } from "../config.ts";
import {
  type BatchStats,
  batchStats,
  combineHistograms,
  scrapeBatchItems,
} from "./_batch_metrics.ts";
import {
  dropNamespace,
  newNamespace,
  nodeBackendArgs,
  type RealBackends,
  realBackendsFrom,
} from "./_real_backends.ts";
import { clusterSetupFrom } from "./_cluster.ts";
import { messageMetrics, type MetricMaker } from "./_message_metrics.ts";
import {
  clusterMessagesNote,
  type ClusterMessagesRun,
  clusterMessagesSection,
  runClusterMessages,
} from "./_cluster_messages.ts";

/** Sizes of one run. */
export interface MessagesParams {
  readonly pairs: number;
  readonly window: number;
  readonly seconds: number;
  readonly generators: number;
  readonly workers: number;
  readonly drainMs: number;
}

const FULL: MessagesParams = {
  pairs: 50,
  window: 16,
  seconds: 5,
  generators: 1,
  workers: navigator.hardwareConcurrency,
  drainMs: 20_000,
};
const QUICK: MessagesParams = { ...FULL, pairs: 5, seconds: 1, workers: 2 };

/** The parameters for `options`. */
export function messagesParams(options: Pick<SuiteOptions, "quick">): MessagesParams {
  return options.quick ? QUICK : FULL;
}

const GENERATOR = new URL("./msg_generator.ts", import.meta.url).pathname;
const RAW_RELAY = new URL("./raw_relay_server.ts", import.meta.url).pathname;

/**
 * CPU time process `pid` used so far, ms: utime + stime of `/proc/<pid>/stat` (10 ms ticks;
 * unlike per-thread schedstat sums, it keeps the time of threads that already exited).
 */
export async function readStatCpuMs(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** A child process that talks JSON lines on stdin/stdout. */
class LineProcess implements AsyncDisposable {
  readonly #process: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buffered = "";
  #errText = "";
  readonly #errDone: Promise<void>;

  constructor(args: string[]) {
    this.#process = new Deno.Command(Deno.execPath(), {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#stdin = this.#process.stdin.getWriter();
    this.#reader = this.#process.stdout.pipeThrough(new TextDecoderStream()).getReader();
    this.#errDone = this.#process.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({
        write: (chunk) => void (this.#errText = (this.#errText + chunk).slice(-65536)),
      }),
    ).catch(() => {});
  }

  get pid(): number {
    return this.#process.pid;
  }

  /** The next stdout line, or throws after `timeoutMs` or at EOF. */
  async line(timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#buffered.includes("\n")) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`No answer in ${timeoutMs} ms: ${this.#errText.trim()}`)),
          Math.max(0, deadline - Date.now()),
        );
      });
      try {
        const { value, done } = await Promise.race([this.#reader.read(), timeout]);
        if (done) throw new Error(`Process exited: ${this.#errText.trim() || "no output"}`);
        this.#buffered += value;
      } finally {
        clearTimeout(timer);
      }
    }
    const nl = this.#buffered.indexOf("\n");
    const line = this.#buffered.slice(0, nl);
    this.#buffered = this.#buffered.slice(nl + 1);
    return line;
  }

  async send(line: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(line + "\n"));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#process.kill("SIGKILL");
    } catch { /* gone */ }
    await this.#stdin.close().catch(() => {});
    await this.#reader.cancel().catch(() => {});
    await this.#process.status;
    await this.#errDone;
  }
}

/** One phase over all generators, with the server's CPU over it. */
export interface PhaseResult {
  readonly sent: number;
  readonly acked: number;
  readonly delivered: number;
  readonly failed: number;
  /** acked - delivered after the drain. */
  readonly lost: number;
  readonly ackedRate: number;
  readonly deliveredRate: number;
  readonly latency?: { p50: number; p95: number; p99: number; max: number; count: number };
  readonly serverCpuCores: number;
  readonly generatorCpuCores: number;
  readonly errors: Readonly<Record<string, number>>;
}

/** Rows per commit of a flash-im node in each phase. */
export interface NodeBatches {
  readonly saturate: BatchStats;
  readonly rate: BatchStats;
  /** Workers whose `/metrics` answered (fewer than the node's: the totals are partial). */
  readonly workersSeen: number;
}

/** What one server (flash-im or raw) measured. */
export interface ServerRun {
  readonly saturate: PhaseResult;
  readonly rate: PhaseResult;
  readonly offeredRate: number;
  readonly rssBytes: number;
  /** flash-im only. */
  readonly batches?: NodeBatches;
}

/** The server one `measure` runs against. */
export interface Target {
  /** Generator protocol. */
  readonly mode: "flash" | "raw";
  /** Name in progress lines and file names. */
  readonly label: string;
  readonly port: number;
  /** The server processes (a cluster has several): CPU and RSS are summed over them. */
  readonly pids: readonly number[];
  /** flash-im: reads the node's rows-per-write histogram. */
  readonly scrape?: () => ReturnType<typeof scrapeBatchItems>;
}

async function runPhase(
  generators: readonly LineProcess[],
  serverPids: readonly number[],
  command: (g: number) => PhaseCommand,
  timeoutMs: number,
): Promise<PhaseResult> {
  const serverCpu = async () =>
    (await Promise.all(serverPids.map(readStatCpuMs))).reduce((a, b) => a + b, 0);
  const cpu0 = await serverCpu();
  const t0 = performance.now();
  await Promise.all(generators.map((g, i) => g.send(JSON.stringify(command(i)))));
  const reports = await Promise.all(
    generators.map(async (g) => JSON.parse(await g.line(timeoutMs)) as PhaseReport),
  );
  const wall = performance.now() - t0;
  const cpu = (await serverCpu()) - cpu0;
  const sum = (f: (r: PhaseReport) => number) => reports.reduce((a, r) => a + f(r), 0);
  const windowS = Math.max(...reports.map((r) => r.windowMs)) / 1000;
  const latencies = Float64Array.from(reports.flatMap((r) => r.latenciesMs)).sort();
  const errors: Record<string, number> = {};
  for (const r of reports) {
    for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  }
  return {
    sent: sum((r) => r.sent),
    acked: sum((r) => r.acked),
    delivered: sum((r) => r.delivered),
    failed: sum((r) => r.failed),
    lost: sum((r) => r.acked - r.delivered),
    ackedRate: sum((r) => r.ackedInWindow) / windowS,
    deliveredRate: sum((r) => r.deliveredInWindow) / windowS,
    latency: latencies.length === 0 ? undefined : {
      p50: percentile(latencies, 50),
      p95: percentile(latencies, 95),
      p99: percentile(latencies, 99),
      max: latencies[latencies.length - 1]!,
      count: latencies.length,
    },
    serverCpuCores: cpu / wall,
    generatorCpuCores: sum((r) => r.cpuMs) / wall,
    errors,
  };
}

/** Runs both phases against a server; `offered`: the rate phase's rate, else half of peak. */
export async function measure(
  p: MessagesParams,
  target: Target,
  clients: readonly GeneratorClient[],
  tmp: string,
  log: (line: string) => void,
  offered?: number,
): Promise<ServerRun> {
  const { mode, label, port, pids: serverPids } = target;
  await using stack = new AsyncDisposableStack();
  const perGen = Math.ceil(p.pairs / p.generators) * 2;
  const generators: LineProcess[] = [];
  for (let g = 0; g * perGen < clients.length; g++) {
    const spec = join(tmp, `${label}-gen-${g}.json`);
    await Deno.writeTextFile(
      spec,
      JSON.stringify({ clients: clients.slice(g * perGen, (g + 1) * perGen) }),
    );
    generators.push(stack.use(
      new LineProcess([
        "run",
        "--allow-all",
        GENERATOR,
        "--mode",
        mode,
        "--port",
        String(port),
        "--spec",
        spec,
      ]),
    ));
  }
  for (const g of generators) {
    const ready = JSON.parse(await g.line(60_000)) as { type: string };
    if (ready.type !== "ready") throw new Error(`${label} generator: ${JSON.stringify(ready)}`);
  }
  const scrape0 = await target.scrape?.();
  const timeoutMs = p.seconds * 1000 + p.drainMs + 30_000;
  const share = (g: number) => clients.slice(g * perGen, (g + 1) * perGen).length / clients.length;
  log(`${label}: saturation, ${p.pairs} pairs, window ${p.window}, ${p.seconds} s`);
  const saturate = await runPhase(generators, serverPids, () => ({
    phase: "saturate",
    tag: "sat",
    window: p.window,
    seconds: p.seconds,
    drainMs: p.drainMs,
  }), timeoutMs);
  const rssBytes = await readRssSum(serverPids);
  const scrape1 = await target.scrape?.();
  log(
    `${label}: ${Math.round(saturate.ackedRate)} acked/s, ${
      Math.round(saturate.deliveredRate)
    } delivered/s, lost ${saturate.lost}, failed ${saturate.failed}`,
  );
  const offeredRate = offered ?? saturate.deliveredRate / 2;
  log(`${label}: fixed rate ${Math.round(offeredRate)} msgs/s for ${p.seconds} s`);
  const rate = await runPhase(generators, serverPids, (g) => ({
    phase: "rate",
    tag: "rate",
    perSecond: offeredRate * share(g),
    seconds: p.seconds,
    drainMs: p.drainMs,
  }), timeoutMs);
  log(
    `${label}: p50 ${rate.latency?.p50.toFixed(2)} ms, p99 ${rate.latency?.p99.toFixed(2)} ms, ` +
      `lost ${rate.lost}, failed ${rate.failed}`,
  );
  const scrape2 = await target.scrape?.();
  let batches: NodeBatches | undefined;
  if (scrape0 && scrape1 && scrape2) {
    const phase = (a: typeof scrape0, b: typeof scrape0) =>
      batchStats(combineHistograms(b.histogram, a.histogram, -1));
    batches = {
      saturate: phase(scrape0, scrape1),
      rate: phase(scrape1, scrape2),
      workersSeen: Math.min(scrape0.workersSeen, scrape1.workersSeen, scrape2.workersSeen),
    };
    log(
      `${label}: rows per commit p50/p90 ${batches.saturate.p50.toFixed(1)}/` +
        `${batches.saturate.p90.toFixed(1)} at saturation, ${batches.rate.p50.toFixed(1)}/` +
        `${batches.rate.p90.toFixed(1)} at half of peak`,
    );
  }
  return { saturate, rate, offeredRate, rssBytes, batches };
}

/** What the suite returns: the common result plus every server's raw numbers. */
export interface MessagesResult extends SuiteResult {
  /** The node on the embedded store. */
  readonly flash: ServerRun;
  /** The node on Postgres + Redis, when asked for (always with `--nodes`). */
  readonly real?: ServerRun;
  /** The cluster of `--nodes` nodes, cross-node pairs. */
  readonly cluster?: ClusterMessagesRun;
  readonly raw: ServerRun;
  /** Lost (acked, not delivered after the drain) + failed sends, both servers, both phases. */
  readonly lost: number;
  readonly failed: number;
}

async function startRelay(): Promise<LineProcess> {
  const relay = new LineProcess([
    "run",
    "--allow-all",
    `--v8-flags=${NODE_V8_FLAGS}`,
    RAW_RELAY,
    "--port",
    "0",
  ]);
  try {
    const port = Number((await relay.line(30_000)).match(/^listening (\d+)$/)?.[1]);
    if (!(port > 0)) throw new Error("raw relay did not start");
    return Object.assign(relay, { port });
  } catch (error) {
    await relay[Symbol.asyncDispose]();
    throw error;
  }
}

/** Starts a node with `args`, registers the users, measures it, stops it. */
async function runNode(
  p: MessagesParams,
  label: string,
  args: readonly string[],
  tmp: string,
  log: (line: string) => void,
): Promise<ServerRun> {
  const node = await startServer({
    workers: p.workers,
    dataDir: join(tmp, label),
    args: [...NODE_FLAGS, "--require-friends", "false", ...args],
  });
  await using _node = { [Symbol.asyncDispose]: () => node.stop("SIGKILL").then(() => {}) };
  log(`${label}: registering ${p.pairs * 2} users`);
  const tag = crypto.randomUUID().slice(0, 8);
  const clients: GeneratorClient[] = [];
  for (let i = 0; i < p.pairs * 2; i += 10) {
    const batch = await Promise.all(
      Array.from(
        { length: Math.min(10, p.pairs * 2 - i) },
        (_, j) => userTokens(node, `msg_${tag}_${i + j}`, `bench-msg-${i + j}`),
      ),
    );
    clients.push(...batch.map((u) => ({ id: u.userId, token: u.accessToken })));
  }
  const result = await measure(
    p,
    {
      mode: "flash",
      label,
      port: node.tcpPort,
      pids: [node.process.pid],
      scrape: () => scrapeBatchItems(node.http, p.workers),
    },
    clients,
    tmp,
    log,
  );
  const problems = node.stderr().split("\n").filter((l) => /"level":"error"/.test(l));
  if (problems.length > 0) log(`${label} node errors:\n${problems.slice(0, 10).join("\n")}`);
  return result;
}

/** {@link runNode} on Postgres + Redis in a fresh namespace, dropped afterwards. */
async function runRealNode(
  p: MessagesParams,
  backends: RealBackends,
  tmp: string,
  log: (line: string) => void,
): Promise<ServerRun> {
  const namespace = newNamespace();
  log(`real: schema ${namespace.schema}, Redis prefix ${namespace.prefix}`);
  let result: ServerRun;
  try {
    result = await runNode(p, "real", nodeBackendArgs(backends, namespace), tmp, log);
  } catch (error) {
    // Clean up, but never hide the measurement's own failure behind the cleanup's.
    await drop().catch((dropError) => log(`real: ${dropError}`));
    throw error;
  }
  await drop();
  return result;

  // runNode has stopped the node by now: nothing writes into the namespace any more.
  async function drop(): Promise<void> {
    try {
      const keys = await dropNamespace(backends, namespace);
      log(`real: dropped schema ${namespace.schema} and ${keys} Redis keys`);
    } catch (error) {
      throw new Error(
        `Cannot drop schema ${namespace.schema} / Redis prefix ${namespace.prefix}`,
        { cause: error },
      );
    }
  }
}

async function run(options: SuiteOptions): Promise<MessagesResult> {
  const p = messagesParams(options);
  // Checked before anything starts: one of the two alone is a usage error.
  const clusterSetup = clusterSetupFrom(options.flags ?? {});
  // With --nodes the single Postgres + Redis node runs on the cluster's servers too: the
  // cluster's figures are compared with it.
  const backends = realBackendsFrom(options.flags ?? {}) ?? clusterSetup?.backends;
  const log = options.progress;
  const startedAt = new Date();
  const t0 = performance.now();
  const tmp = await Deno.makeTempDir({ prefix: "flash-im-bench-msg-" });
  try {
    const flash = await runNode(p, "embedded", [], tmp, log);
    let real: ServerRun | undefined;
    if (backends !== undefined) real = await runRealNode(p, backends, tmp, log);
    const cluster = clusterSetup && await runClusterMessages(
      p,
      clusterSetup,
      tmp,
      log,
      (target, clients) => measure(p, target, clients, tmp, log),
    );
    let raw: ServerRun;
    {
      await using relay = await startRelay();
      const clients = Array.from({ length: p.pairs * 2 }, (_, i) => ({ id: String(i + 1) }));
      raw = await measure(
        p,
        {
          mode: "raw",
          label: "raw",
          port: (relay as LineProcess & { port: number }).port,
          pids: [relay.pid],
        },
        clients,
        tmp,
        log,
        flash.offeredRate,
      );
    }
    const RAW = "raw relay";
    const m: MetricMaker = (name, label, unit, better, f, target) =>
      metric({
        name,
        label,
        unit,
        better,
        rounds: [f(flash)],
        baseline: { label: RAW, rounds: [f(raw)] },
        target,
        alternate: real && [f(real)],
      });
    // Rows per commit: flash-im only (the raw relay stores nothing).
    const rows = (name: string, label: string, f: (b: NodeBatches) => number) =>
      metric({
        name,
        label,
        unit: "rows",
        better: Better.Higher,
        rounds: [flash.batches ? f(flash.batches) : NaN],
        alternate: real && [real.batches ? f(real.batches) : NaN],
      });
    const metrics = [
      ...messageMetrics(m, { processes: "", offered: "peak", p95: true }),
      m(
        "rate.server_cpu",
        "Server CPU at half of peak",
        "cores",
        Better.Lower,
        (r) => r.rate.serverCpuCores,
      ),
      rows("saturate.batch_p50", "Rows per commit at saturation, median", (b) => b.saturate.p50),
      rows("saturate.batch_p90", "Rows per commit at saturation, p90", (b) => b.saturate.p90),
      rows("rate.batch_p50", "Rows per commit at half of peak, median", (b) => b.rate.p50),
      rows("rate.batch_p90", "Rows per commit at half of peak, p90", (b) => b.rate.p90),
    ];
    const runs = [flash, ...(real ? [real] : []), ...(cluster ? [cluster] : []), raw];
    const phases = runs.flatMap((r) => [r.saturate, r.rate]);
    const lost = phases.reduce((a, ph) => a + ph.lost, 0);
    const failed = phases.reduce((a, ph) => a + ph.failed, 0);
    const cores = (x: number) => x.toFixed(2);
    const notes = [
      `${p.pairs} pairs = ${p.pairs * 2} TCP connections, each client sending to its partner ` +
      `(both ways); saturation: ${p.window} sends in flight per client for ${p.seconds} s; ` +
      `then open-loop at half of flash-im's delivered peak (${
        Math.round(flash.offeredRate)
      } msgs/s; the raw relay gets the same offered rate) for ${p.seconds} s. One round each.`,
      `flash-im: node with ${p.workers} workers, embedded store (durable before SendAck), ` +
      `\`--require-friends false\`, rate limit off; clients: \`FlashConnection\` over tcp://. ` +
      `Delivered = partner's MessageNotify within the window. Raw relay: length-prefixed ` +
      `frames relayed to the partner's socket plus an ack frame to the sender; no store, no ` +
      `auth, no protobuf. Both servers with \`--v8-flags=${NODE_V8_FLAGS}\`.`,
      `Latency: send → partner receive, same generator process (same clock), every message ` +
      `of the fixed-rate phase (${flash.rate.latency?.count ?? 0} flash-im, ${
        raw.rate.latency?.count ?? 0
      } raw).`,
      `Lost after a bounded drain (${p.drainMs} ms): ${lost}; failed sends: ${failed}${
        failed > 0 ? ` ${JSON.stringify(runs.map((r) => r.saturate.errors))}` : ""
      }.`,
      `Generator CPU (${p.generators} process${p.generators > 1 ? "es" : ""}, ` +
      `${machineInfo().cores} cores shared with the server): flash-im ` +
      `${cores(flash.saturate.generatorCpuCores)} cores at saturation${
        real ? `, Postgres + Redis node ${cores(real.saturate.generatorCpuCores)}` : ""
      }, raw ${cores(raw.saturate.generatorCpuCores)}; a saturated generator caps what the ` +
      `server can show.`,
      `Rows per commit: messages per store write (\`appendBatch\`, one transaction), from the ` +
      `node's \`GET /metrics\` histogram \`flashim_write_batch_items\` (power-of-two buckets, ` +
      `summed over workers; median/p90 interpolated within a bucket). ` +
      runs.filter((r) => r.batches && r !== cluster).map((r) => {
        const b = r.batches!;
        const partial = b.workersSeen < p.workers
          ? ` (only ${b.workersSeen}/${p.workers} workers answered: partial)`
          : "";
        return `${r === flash ? "embedded" : "Postgres + Redis"}: ${b.saturate.writes} writes, ` +
          `mean ${b.saturate.mean.toFixed(1)} rows at saturation; ${b.rate.writes} writes, mean ` +
          `${b.rate.mean.toFixed(1)} at half of peak${partial}.`;
      }).join(" "),
      ...(real === undefined ? [] : [
        `Postgres + Redis: a second node (${p.workers} workers, node default \`--pg-pool\` ` +
        `per worker, each worker's batches written through its own pool) on ` +
        `${redact(backends!.postgresUrl)} and ${redact(backends!.redisUrl)}, fresh schema and ` +
        `key prefix dropped afterwards; its fixed-rate phase offers half of its own delivered ` +
        `peak (${Math.round(real.offeredRate)} msgs/s, ${real.rate.latency?.count ?? 0} ` +
        `latency samples). Server CPU and RSS are the node process only: Postgres and Redis ` +
        `run on the same machine and cores, their CPU is not counted.`,
      ]),
      ...(cluster === undefined ? [] : [clusterMessagesNote(cluster, clusterSetup!)]),
    ];
    return {
      suite: "messages",
      startedAt: startedAt.toISOString(),
      durationMs: performance.now() - t0,
      quick: options.quick,
      machine: machineInfo(),
      params: { ...p },
      metrics,
      notes,
      setups: real && { primary: "embedded", alternate: "Postgres + Redis" },
      sections: cluster && [clusterMessagesSection(real!, cluster, raw)],
      flash,
      real,
      cluster,
      raw,
      lost,
      failed,
    };
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/** `url` without its password. */
function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password !== "") parsed.password = "***";
  return parsed.toString();
}

/** The `messages` suite. */
export const messagesSuite: Suite = {
  name: "messages",
  description: "1:1 durable messages: throughput, latency, rows per commit (embedded, optionally " +
    "Postgres + Redis), vs a raw Deno TCP relay",
  run,
};
