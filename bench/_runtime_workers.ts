/**
 * Cross-thread measures of the runtime suite: throughput between two workers of a
 * `NodeHost` against raw batched `postMessage` between two bare workers, and ask latency
 * main thread -> worker against raw ping-pong. Every function runs one round.
 *
 * @module
 */

import { NodeHost, type VirtualRef, virtualRef } from "../runtime/mod.ts";
import type { RawCommand, RawEvent } from "./raw_worker.ts";
import type { BenchMessage, RunResult } from "./runtime_app.ts";
import { type Latency, measureLatency } from "./_runtime_local.ts";

const RAW_WORKER = new URL("./raw_worker.ts", import.meta.url);
const RUNTIME_APP = new URL("./runtime_app.ts", import.meta.url);
/** Bound on any single wait of a round: a stuck worker fails the run instead of hanging. */
const ROUND_TIMEOUT_MS = 120_000;

/** A bare worker and the events it posts, awaited one at a time. */
export class RawWorker {
  readonly #worker: Worker;
  readonly #events: RawEvent[] = [];
  #waiter: { resolve(event: RawEvent): void; reject(error: Error): void } | undefined;
  #error: Error | undefined;

  constructor() {
    this.#worker = new Worker(RAW_WORKER, { type: "module" });
    this.#worker.onerror = (event) => {
      // Without this an error in the worker takes the whole bench down.
      event.preventDefault();
      this.#error = new Error(`Raw worker failed: ${event.message}`);
      this.#waiter?.reject(this.#error);
      this.#waiter = undefined;
    };
    this.#worker.onmessage = (event) => {
      const waiter = this.#waiter;
      if (waiter === undefined) this.#events.push(event.data);
      else {
        this.#waiter = undefined;
        waiter.resolve(event.data);
      }
    };
  }

  post(command: RawCommand, transfer: Transferable[] = []): void {
    this.#worker.postMessage(command, transfer);
  }

  /** The next event; without `timeoutMs` only a worker error ends the wait. */
  next(timeoutMs?: number): Promise<RawEvent> {
    if (this.#error) return Promise.reject(this.#error);
    const queued = this.#events.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    const { promise, resolve, reject } = Promise.withResolvers<RawEvent>();
    this.#waiter = { resolve, reject };
    if (timeoutMs === undefined) return promise;
    const timer = setTimeout(() => {
      this.#waiter = undefined;
      reject(new Error(`Raw worker sent nothing within ${timeoutMs} ms`));
    }, timeoutMs);
    return promise.finally(() => clearTimeout(timer));
  }

  async expect<T extends RawEvent["t"]>(t: T): Promise<Extract<RawEvent, { t: T }>> {
    const event = await this.next(ROUND_TIMEOUT_MS);
    if (event.t !== t) throw new Error(`Raw worker sent ${event.t}, expected ${t}`);
    return event as Extract<RawEvent, { t: T }>;
  }

  terminate(): void {
    this.#worker.terminate();
  }
}

/** Two bare workers joined by a `MessageChannel`, plus a third that echoes. */
export class RawWorkers {
  readonly sender = new RawWorker();
  readonly receiver = new RawWorker();
  readonly echo = new RawWorker();

  static async start(): Promise<RawWorkers> {
    const raw = new RawWorkers();
    try {
      const channel = new MessageChannel();
      raw.sender.post({ t: "peer", port: channel.port1 }, [channel.port1]);
      raw.receiver.post({ t: "peer", port: channel.port2 }, [channel.port2]);
      raw.echo.post({ t: "echo" });
      await Promise.all([raw.sender, raw.receiver, raw.echo].map((w) => w.expect("ready")));
    } catch (error) {
      raw[Symbol.dispose]();
      throw error;
    }
    return raw;
  }

  /** Msgs/s from sender to receiver, `batch` objects per `postMessage`. */
  async throughput(messages: number, batch: number): Promise<number> {
    const t0 = performance.now();
    this.sender.post({ t: "send", n: messages, batch });
    const { n } = await this.receiver.expect("counted");
    const seconds = (performance.now() - t0) / 1000;
    if (n !== messages) throw new Error(`Raw receiver counted ${n} of ${messages}`);
    return messages / seconds;
  }

  /** Main <-> worker ping-pong latency. */
  askLatency(count: number): Promise<Latency> {
    return measureLatency(count, async (seq) => {
      this.echo.post({ t: "ping", seq });
      const back = await this.echo.next();
      if (back.t !== "ping" || back.seq !== seq) throw new Error(`Bad echo for ping ${seq}`);
    });
  }

  [Symbol.dispose](): void {
    for (const w of [this.sender, this.receiver, this.echo]) w.terminate();
  }
}

/** A two-worker node running the bench app, with a source, its sinks and an echo. */
export class MeshBench {
  readonly host: NodeHost;
  readonly source: VirtualRef<BenchMessage>;
  readonly sinks: VirtualRef<BenchMessage>[];
  readonly echo: VirtualRef<BenchMessage>;

  private constructor(host: NodeHost, sinkCount: number) {
    this.host = host;
    // Source on worker 0, sinks on worker 1: every hit crosses the mesh.
    [this.source] = idsOn(host, "source", 0, 1);
    this.sinks = idsOn(host, "sink", 1, sinkCount);
    [this.echo] = idsOn(host, "echo", 0, 1);
  }

  static async start(sinkCount: number): Promise<MeshBench> {
    const host = await NodeHost.start({ app: RUNTIME_APP, workers: 2 });
    return new MeshBench(host, sinkCount);
  }

  /** Msgs/s from the source's worker to the sinks' worker, command to completion. */
  async throughput(messages: number): Promise<number> {
    const t0 = performance.now();
    const result = await this.host.system.ask<RunResult, BenchMessage>(
      this.source,
      { type: "run", n: messages, to: this.sinks },
      { timeoutMs: ROUND_TIMEOUT_MS },
    );
    const seconds = (performance.now() - t0) / 1000;
    if (result.received !== messages) throw new Error(`Sinks received ${result.received}`);
    return messages / seconds;
  }

  /** Sequential asks from the main thread's system to an echo actor in a worker. */
  askLatency(count: number): Promise<Latency> {
    return measureLatency(count, async (seq) => {
      const back = await this.host.system.ask<BenchMessage, BenchMessage>(
        this.echo,
        { type: "ping", seq },
        { timeoutMs: 5000 },
      );
      if (back.type !== "ping" || back.seq !== seq) throw new Error(`Bad echo for ask ${seq}`);
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.host.shutdown({ timeoutMs: 5000 });
  }
}

/** The first `count` ids of `kind` that placement puts on `worker`. */
function idsOn(host: NodeHost, kind: string, worker: number, count: number): VirtualRef[] {
  const refs: VirtualRef[] = [];
  for (let i = 0; refs.length < count; i++) {
    const ref = virtualRef(kind, `${kind}-${i}`);
    if (host.system.locate(ref).worker === worker) refs.push(ref);
  }
  return refs;
}
