/**
 * The main thread of a node: spawns the workers, wires the `MessagePort` mesh between
 * them, and supervises them (a dead worker is respawned with backoff; past the intensity
 * limit the node gives up through `onFatal`).
 *
 * @module
 */

import { ActorSystem } from "./actor_system.ts";
import { type RestartPolicy, restartPolicy, RestartTracker } from "./backoff.ts";
import type { FromWorker, ToWorker } from "./_host_messages.ts";
import { type Logger, nullLogger } from "./logger.ts";
import { mergeMetrics, type MetricsSnapshot } from "./metrics.ts";
import { receiveMeshData, WorkerMesh } from "./worker_mesh.ts";
import { clusterLocator, type PlacementView } from "./cluster_placement.ts";
import type { Transport } from "./transport.ts";

/** What a worker's application module receives besides its actor system. */
export interface WorkerContext {
  readonly node: string;
  readonly worker: number;
  readonly workers: number;
  /** How many times this worker index was started before (0 on the first start). */
  readonly generation: number;
  readonly config: unknown;
  readonly logger: Logger;
  /** The cluster view actors are placed by now (`undefined` on a lone node). */
  view(): PlacementView | undefined;
  /** Calls `listener` after each new cluster view is applied. */
  onView(listener: (view: PlacementView) => void): void;
  /**
   * Sets the transport to other nodes (cluster mode): messages for another node go
   * through it; without one they are dead letters.
   */
  setRemoteTransport(transport: Transport | undefined): void;
}

/**
 * The module a node's workers load: it registers kinds and starts listeners, and may
 * return a teardown that runs on graceful shutdown.
 */
export interface WorkerApp {
  setup(
    system: ActorSystem,
    context: WorkerContext,
  ): void | (() => void | Promise<void>) | Promise<void | (() => void | Promise<void>)>;
  /**
   * Judges an uncaught error or unhandled rejection: a reason string when the worker may
   * keep running (a known defect of a dependency that already failed the affected call),
   * `undefined` when it must die and be respawned (the default for every error).
   */
  survivable?(error: unknown): string | undefined;
}

/** Options of {@link NodeHost.start}. */
export interface NodeHostOptions {
  /** URL or absolute specifier of the {@link WorkerApp} module. */
  readonly app: string | URL;
  /** Worker count. Default: the number of cores. */
  readonly workers?: number;
  /** Node identity. Default: `host.pid.random`. */
  readonly node?: string;
  /** Passed to every worker's `setup` (must be structured-cloneable). */
  readonly config?: unknown;
  /** Worker restart intensity and backoff. Default 5 restarts within 60 s, 200 ms..5 s. */
  readonly restart?: Partial<RestartPolicy>;
  /** The node host's own logger. */
  readonly logger?: Logger;
  /** Receives the workers' log lines (JSON). Default: discarded. */
  readonly log?: (line: string) => void;
  /** Called when a worker failed past its intensity limit. Default: log and exit(1). */
  readonly onFatal?: (error: Error) => void;
  /** How long start-up waits for every worker's `setup`. Default 30 s. */
  readonly readyTimeoutMs?: number;
  readonly shards?: number;
  /** Clone same-worker message bodies (tests). */
  readonly cloneLocal?: boolean;
  /** The cluster view to place actors by from the start (cluster mode). */
  readonly view?: PlacementView;
  /**
   * Kinds whose virtual actors live on the main thread instead of a worker: work that
   * would block a worker's sockets, such as a synchronous single writer. `setupMain`
   * registers them. Lone nodes only: a cluster view places every kind over workers.
   */
  readonly mainKinds?: readonly string[];
  /** Registers the main thread's kinds; runs before the first worker starts. */
  readonly setupMain?: (system: ActorSystem) => void;
}

interface Slot {
  worker: Worker | undefined;
  generation: number;
  ready: PromiseWithResolvers<void>;
  readonly tracker: RestartTracker;
  stopping: boolean;
}

/**
 * A running node: its workers and a main-thread actor system (worker `-1`) that can
 * `tell` and `ask` any actor of the node.
 *
 * @example
 * ```ts
 * await using host = await NodeHost.start({ app: new URL("./app.ts", import.meta.url), workers: 2 });
 * await host.system.ask(virtualRef("counter", "a"), { add: 1 }, { timeoutMs: 1000 });
 * ```
 */
export class NodeHost implements AsyncDisposable {
  readonly node: string;
  readonly workers: number;
  /** The main thread's actor system: a client of the workers' actors. */
  readonly system: ActorSystem;
  readonly #options: NodeHostOptions;
  readonly #mesh: WorkerMesh;
  readonly #slots: Slot[];
  readonly #logger: Logger;
  readonly #policy: RestartPolicy;
  readonly #metricsWaiters = new Map<number, (snapshot: MetricsSnapshot) => void>();
  #view: PlacementView | undefined;
  #metricsSeq = 0;
  #closing = false;
  /** Workers respawned so far. */
  respawns = 0;

  private constructor(options: NodeHostOptions) {
    this.#options = options;
    this.workers = options.workers ?? navigator.hardwareConcurrency;
    if (!(Number.isInteger(this.workers) && this.workers > 0 && this.workers <= 1024)) {
      throw new RangeError(`Invalid workers: ${options.workers} is not an integer in 1..1024`);
    }
    this.node = options.node ??
      `${Deno.hostname()}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}`;
    this.#logger = options.logger ?? nullLogger;
    this.#mesh = new WorkerMesh(this.node);
    this.system = new ActorSystem({
      node: this.node,
      worker: -1,
      workers: this.workers,
      transport: this.#mesh,
      logger: this.#logger,
      shards: options.shards,
      mainKinds: options.mainKinds,
    });
    if (options.view !== undefined) {
      this.#view = options.view;
      this.system.setLocate(clusterLocator(options.view.nodes, { shards: options.shards }));
    }
    const policy = this.#policy = restartPolicy({
      maxRestarts: 5,
      withinMs: 60_000,
      minBackoffMs: 200,
      maxBackoffMs: 5000,
      ...options.restart,
    });
    this.#slots = Array.from({ length: this.workers }, () => ({
      worker: undefined,
      generation: -1,
      ready: Promise.withResolvers<void>(),
      tracker: new RestartTracker(policy),
      stopping: false,
    }));
  }

  /**
   * Starts the workers and resolves when each has run its `setup`.
   *
   * @throws {RangeError} on invalid options; rejects if a worker is not ready in time.
   */
  static async start(options: NodeHostOptions): Promise<NodeHost> {
    const host = new NodeHost(options);
    options.setupMain?.(host.system);
    for (let i = 0; i < host.workers; i++) host.#spawn(i);
    const timeoutMs = options.readyTimeoutMs ?? 30_000;
    const timeout = AbortSignal.timeout(timeoutMs);
    try {
      await Promise.race([
        host.whenReady(),
        new Promise((_, reject) =>
          timeout.addEventListener(
            "abort",
            () => reject(new Error(`Node did not start: workers not ready within ${timeoutMs} ms`)),
          )
        ),
      ]);
    } catch (error) {
      await host.shutdown({ timeoutMs: 1000 });
      throw error;
    }
    return host;
  }

  /** Resolves when every worker is running (again). */
  whenReady(): Promise<void> {
    return Promise.all(this.#slots.map((slot) => slot.ready.promise)).then(() => {});
  }

  /**
   * Places actors over a cluster view from now on, here and in every worker (a worker
   * started later gets it too). Actors that now belong elsewhere passivate and move.
   */
  setView(view: PlacementView): void {
    if (this.#view !== undefined && view.version <= this.#view.version) return;
    this.system.setLocate(clusterLocator(view.nodes, { shards: this.#options.shards }), {
      holdMs: view.holdMs ?? 0,
    });
    this.#view = view;
    for (const slot of this.#slots) {
      slot.worker?.postMessage({ t: "view", view } satisfies ToWorker);
    }
  }

  /** The cluster view actors are placed by (`undefined` until `setView`). */
  get view(): PlacementView | undefined {
    return this.#view;
  }

  /** The generation of each worker: bumps on every respawn. */
  generations(): number[] {
    return this.#slots.map((slot) => slot.generation);
  }

  /** Terminates a worker as a crash would (for tests and chaos drills); it is respawned. */
  killWorker(index: number): void {
    const slot = this.#slots[index];
    if (slot?.worker === undefined) {
      throw new RangeError(`Cannot kill worker ${index}: not running`);
    }
    this.#died(index, "killed on purpose");
  }

  /** Counters of every worker (and the main thread), merged. */
  async metrics(timeoutMs = 2000): Promise<MetricsSnapshot> {
    const snapshots = await Promise.all(this.#slots.map((slot) => {
      const id = ++this.#metricsSeq;
      const { promise, resolve } = Promise.withResolvers<MetricsSnapshot>();
      const timer = setTimeout(() => {
        this.#metricsWaiters.delete(id);
        resolve(mergeMetrics([]));
      }, timeoutMs);
      this.#metricsWaiters.set(id, (snapshot) => {
        clearTimeout(timer);
        resolve(snapshot);
      });
      slot.worker?.postMessage({ t: "metrics", id } satisfies ToWorker);
      return promise;
    }));
    return mergeMetrics([...snapshots, this.system.metrics()]);
  }

  /** Stops every worker gracefully (teardown + actor shutdown), then terminates them. */
  async shutdown(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    const timeoutMs = options.timeoutMs ?? 10_000;
    await Promise.all(this.#slots.map(async (slot) => {
      const worker = slot.worker;
      if (worker === undefined) return;
      slot.stopping = true;
      const closed = Promise.withResolvers<void>();
      const timer = setTimeout(closed.resolve, timeoutMs + 500);
      worker.addEventListener("message", (event) => {
        if ((event.data as FromWorker).t === "closed") closed.resolve();
      });
      worker.postMessage({ t: "shutdown", timeoutMs } satisfies ToWorker);
      await closed.promise;
      clearTimeout(timer);
      worker.terminate();
      slot.worker = undefined;
    }));
    await this.system.shutdown({ timeoutMs: 100 });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  #spawn(index: number): void {
    const slot = this.#slots[index]!;
    slot.generation++;
    const worker = new Worker(new URL("./worker_entry.ts", import.meta.url), { type: "module" });
    slot.worker = worker;
    worker.onerror = (event) => {
      // Without this an uncaught error in a worker takes the whole process down.
      event.preventDefault();
      this.#died(index, `uncaught error: ${event.message}`);
    };
    worker.onmessageerror = () =>
      this.#logger.log("error", "Undecodable message from worker", { index });
    worker.onmessage = (event) => this.#onMessage(index, worker, event.data);
    const peers: [number, MessagePort][] = [];
    for (let j = 0; j < this.#slots.length; j++) {
      const other = this.#slots[j]!;
      if (j === index || other.worker === undefined) continue;
      const channel = new MessageChannel();
      peers.push([j, channel.port1]);
      other.worker.postMessage(
        { t: "peer", worker: index, port: channel.port2 } satisfies ToWorker,
        [channel.port2],
      );
    }
    const app = this.#options.app instanceof URL ? this.#options.app.href : this.#options.app;
    worker.postMessage(
      {
        t: "init",
        node: this.node,
        worker: index,
        workers: this.workers,
        generation: slot.generation,
        app,
        config: this.#options.config,
        shards: this.#options.shards,
        mainKinds: this.#options.mainKinds ?? [],
        cloneLocal: this.#options.cloneLocal ?? false,
        peers,
        view: this.#view,
      } satisfies ToWorker,
      peers.map(([, port]) => port),
    );
    this.#mesh.setPort(index, worker);
  }

  #onMessage(index: number, worker: Worker, data: FromWorker): void {
    if (this.#slots[index]!.worker !== worker) return; // a message from a replaced worker
    if (receiveMeshData(data, this.system)) return;
    switch (data.t) {
      case "ready":
        this.#slots[index]!.ready.resolve();
        this.#logger.log("info", "Worker ready", {
          index,
          generation: this.#slots[index]!.generation,
        });
        break;
      case "log":
        this.#options.log?.(data.line);
        break;
      case "fatal":
        this.#died(index, data.message);
        break;
      case "metrics":
        this.#metricsWaiters.get(data.id)?.(data.snapshot);
        this.#metricsWaiters.delete(data.id);
        break;
      case "closed":
        break;
    }
  }

  #died(index: number, reason: string): void {
    const slot = this.#slots[index]!;
    if (slot.worker === undefined || slot.stopping) return;
    slot.worker.terminate();
    slot.worker = undefined;
    this.#mesh.setPort(index, undefined);
    if (this.#closing) return;
    this.#logger.log("error", "Worker died", { index, generation: slot.generation, reason });
    // Messages for this worker are dropped (at-most-once) until it is back.
    slot.ready = Promise.withResolvers<void>();
    const decision = slot.tracker.fail(performance.now());
    if (!decision.restart) {
      const error = new Error(
        `Worker ${index} failed ${decision.failures} times within ${this.#policy.withinMs} ms; ` +
          `giving up (last failure: ${reason})`,
      );
      this.#closing = true;
      if (this.#options.onFatal) this.#options.onFatal(error);
      else {
        this.#logger.log("error", error.message);
        Deno.exit(1);
      }
      return;
    }
    setTimeout(() => {
      if (this.#closing) return;
      this.respawns++;
      this.#spawn(index);
    }, decision.delayMs);
  }
}
