/**
 * The parent side of the `connections` suite's load: spawns generator processes
 * (`conn_generator.ts`), starts them together, aggregates their progress, measures server
 * and generator RSS before and after, holds, and collects failures and drops.
 *
 * @module
 */

import type { GeneratorEvent, GeneratorMode } from "./conn_generator.ts";
import { readCpuMsSum, readRssSum, sleep } from "./_proc.ts";
import { percentile } from "./report.ts";

const GENERATOR = new URL("./conn_generator.ts", import.meta.url).pathname;

type EventOf<T extends GeneratorEvent["type"]> = Extract<GeneratorEvent, { type: T }>;

/** One generator process, spoken to over stdin/stdout JSON lines. */
class GeneratorProcess implements AsyncDisposable {
  readonly process: Deno.ChildProcess;
  readonly index: number;
  /** Latest progress. */
  ok = 0;
  failed = 0;
  #events = new Map<string, GeneratorEvent>();
  #waiters: (() => void)[] = [];
  #stderr = "";
  #exited = false;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #pumps: Promise<unknown>;

  constructor(index: number, args: readonly string[]) {
    this.index = index;
    this.process = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", GENERATOR, ...args],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#writer = this.process.stdin.getWriter();
    this.#pumps = Promise.all([this.#readStdout(), this.#readStderr()]);
    this.process.status.then(() => {
      this.#exited = true;
      this.#wake();
    });
  }

  get pid(): number {
    return this.process.pid;
  }

  async #readStdout(): Promise<void> {
    let rest = "";
    try {
      for await (const chunk of this.process.stdout.pipeThrough(new TextDecoderStream())) {
        rest += chunk;
        let at: number;
        while ((at = rest.indexOf("\n")) >= 0) {
          const line = rest.slice(0, at);
          rest = rest.slice(at + 1);
          if (line.trim() !== "") this.#onEvent(JSON.parse(line) as GeneratorEvent);
        }
      }
    } catch { /* killed */ }
  }

  async #readStderr(): Promise<void> {
    try {
      for await (const chunk of this.process.stderr.pipeThrough(new TextDecoderStream())) {
        this.#stderr = (this.#stderr + chunk).slice(-8192);
      }
    } catch { /* killed */ }
  }

  #onEvent(event: GeneratorEvent): void {
    if (event.type === "progress" || event.type === "up") {
      this.ok = event.ok;
      this.failed = event.failed;
    }
    this.#events.set(event.type, event);
    this.#wake();
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** Takes the latest event of `type`, waiting for one at most `timeoutMs`. */
  async take<T extends GeneratorEvent["type"]>(type: T, timeoutMs: number): Promise<EventOf<T>> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#events.has(type)) {
      if (this.#exited) {
        throw new Error(
          `Generator ${this.index} exited before "${type}": ${this.#stderr.trim() || "no output"}`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`Generator ${this.index} sent no "${type}" in ${timeoutMs} ms`);
      }
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#waiters.push(resolve);
      const timer = setTimeout(resolve, Math.min(left, 1000));
      await promise;
      clearTimeout(timer);
    }
    const event = this.#events.get(type)!;
    this.#events.delete(type);
    return event as EventOf<T>;
  }

  has(type: GeneratorEvent["type"]): boolean {
    return this.#events.has(type);
  }

  async send(command: string): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(`${command}\n`));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.process.kill("SIGKILL");
    } catch { /* already gone */ }
    await this.#writer.close().catch(() => {});
    await this.process.status;
    await this.#pumps;
  }
}

/** Where the generators connect and how. */
export interface LoadOptions {
  readonly mode: GeneratorMode;
  /** The server process (its RSS is measured), or a cluster's (summed). */
  readonly serverPid: number | readonly number[];
  readonly host: string;
  readonly port: number;
  /** A cluster's ports: connection i goes to `ports[i mod K]` (default: `port` only). */
  readonly ports?: readonly number[];
  readonly connections: number;
  readonly generators: number;
  readonly concurrency: number;
  /** Connections per destination address (0: all to `host`). */
  readonly spread: number;
  readonly holdSeconds: number;
  readonly timeoutMs: number;
  /** The token file, one per line, line `i` for connection `i` (flash mode). */
  readonly tokenFile?: string;
  /** Progress of the connect phase: connections up, failed, of `connections`. */
  readonly onProgress: (ok: number, failed: number) => void;
}

/** What one load run measured. */
export interface LoadResult {
  readonly mode: GeneratorMode;
  readonly connections: number;
  readonly generators: number;
  readonly ok: number;
  readonly failed: number;
  readonly failures: Readonly<Record<string, number>>;
  /** Still open at the end of the hold. */
  readonly openAfterHold: number;
  readonly dropped: Readonly<Record<string, number>>;
  /** From the first connect started to the last connection up, across generators. */
  readonly connectSeconds: number;
  /** `ok / connectSeconds`. */
  readonly connectRate: number;
  /** Connect-to-up latency (sampled), ms. */
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly serverRssBefore: number;
  readonly serverRssAfter: number;
  readonly serverRssPeak: number;
  readonly generatorRssBefore: number;
  readonly generatorRssAfter: number;
  /** CPU time the server used from the start command to the last connection up, ms. */
  readonly serverCpuMs: number;
  /** The same for all generators together. */
  readonly generatorCpuMs: number;
}

/** Splits `total` into `parts` near-equal counts (the first ones one larger). */
export function split(total: number, parts: number): number[] {
  const base = Math.floor(total / parts);
  return Array.from({ length: parts }, (_, i) => base + (i < total % parts ? 1 : 0));
}

function merge(into: Record<string, number>, from: Readonly<Record<string, number>>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

/**
 * Runs one load: spawn, wait ready, measure, start all, wait up, hold, measure, report.
 * Generators are killed before it returns, also on errors.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const counts = split(options.connections, options.generators);
  // Every connection has its own deadline; this bounds the whole connect phase.
  const batches = Math.ceil(options.connections / (options.generators * options.concurrency));
  const connectBoundMs = 60_000 + batches * options.timeoutMs;
  // A generator outlives the bench by at most this long, whatever happens.
  const lifetimeS = Math.ceil((connectBoundMs + 120_000) / 1000 + options.holdSeconds);
  await using stack = new AsyncDisposableStack();
  const gens: GeneratorProcess[] = [];
  let first = 0;
  for (const [g, count] of counts.entries()) {
    if (count === 0) continue;
    const args = [
      "--mode",
      options.mode,
      "--host",
      options.host,
      "--port",
      String(options.port),
      "--first",
      String(first),
      "--count",
      String(count),
      "--concurrency",
      String(options.concurrency),
      "--spread",
      String(options.spread),
      "--timeout-ms",
      String(options.timeoutMs),
      "--max-lifetime-s",
      String(lifetimeS),
    ];
    if (options.tokenFile) args.push("--tokens", options.tokenFile);
    if (options.ports) args.push("--ports", options.ports.join(","));
    gens.push(stack.use(new GeneratorProcess(g, args)));
    first += count;
  }
  await Promise.all(gens.map((g) => g.take("ready", 60_000)));
  // Let start-up garbage settle before the "before" picture.
  await sleep(500);
  const serverPids = [options.serverPid].flat();
  const serverRssBefore = await readRssSum(serverPids);
  const pids = gens.map((g) => g.pid);
  const generatorRssBefore = await readRssSum(pids);

  const serverCpu0 = await readCpuMsSum(serverPids);
  const generatorCpu0 = await readCpuMsSum(pids);
  await Promise.all(gens.map((g) => g.send("start")));
  const deadline = Date.now() + connectBoundMs;
  let peak = serverRssBefore;
  while (!gens.every((g) => g.has("up"))) {
    if (Date.now() > deadline) throw new Error("Generators did not finish connecting in time");
    await sleep(250);
    options.onProgress(sumOf(gens, "ok"), sumOf(gens, "failed"));
    peak = Math.max(peak, await readRssSum(serverPids));
  }
  const serverCpuMs = await readCpuMsSum(serverPids) - serverCpu0;
  const generatorCpuMs = await readCpuMsSum(pids) - generatorCpu0;
  const ups = await Promise.all(gens.map((g) => g.take("up", 1000)));
  options.onProgress(sumOf(gens, "ok"), sumOf(gens, "failed"));

  const holdEnd = Date.now() + options.holdSeconds * 1000;
  while (Date.now() < holdEnd) {
    await sleep(Math.min(500, Math.max(0, holdEnd - Date.now())));
    peak = Math.max(peak, await readRssSum(serverPids));
  }
  const serverRssAfter = await readRssSum(serverPids);
  const generatorRssAfter = await readRssSum(pids);
  await Promise.all(gens.map((g) => g.send("report")));
  const helds = await Promise.all(gens.map((g) => g.take("held", 10_000)));

  const failures: Record<string, number> = {};
  const dropped: Record<string, number> = {};
  for (const up of ups) merge(failures, up.failures);
  for (const held of helds) merge(dropped, held.dropped);
  const ok = ups.reduce((a, u) => a + u.ok, 0);
  const start = Math.min(...ups.map((u) => u.firstStartMs));
  const end = Math.max(...ups.map((u) => u.lastUpMs));
  const connectSeconds = Math.max(end - start, 1) / 1000;
  const latencies = ups.flatMap((u) => u.latencySampleMs).sort((a, b) => a - b);
  return {
    mode: options.mode,
    connections: options.connections,
    generators: gens.length,
    ok,
    failed: ups.reduce((a, u) => a + u.failed, 0),
    failures,
    openAfterHold: helds.reduce((a, h) => a + h.open, 0),
    dropped,
    connectSeconds,
    connectRate: ok / connectSeconds,
    latencyP50Ms: latencies.length > 0 ? percentile(latencies, 50) : 0,
    latencyP99Ms: latencies.length > 0 ? percentile(latencies, 99) : 0,
    serverRssBefore,
    serverRssAfter,
    serverRssPeak: Math.max(peak, serverRssAfter),
    generatorRssBefore,
    generatorRssAfter,
    serverCpuMs,
    generatorCpuMs,
  };
}

function sumOf(gens: readonly GeneratorProcess[], key: "ok" | "failed"): number {
  return gens.reduce((a, g) => a + g[key], 0);
}
