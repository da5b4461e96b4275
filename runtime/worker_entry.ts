/**
 * The module every worker of a node runs. It builds the worker's actor system, wires the
 * mesh ports the main thread hands it, imports the application module and calls its
 * `setup`, and reports fatal errors to the main thread instead of dying silently.
 *
 * @module
 */

import { ActorSystem } from "./actor_system.ts";
import type { FromWorker, ToWorker } from "./_host_messages.ts";
import { jsonLogger, type Logger } from "./logger.ts";
import type { WorkerApp } from "./node_host.ts";
import { isMeshBatch, receiveMeshData, WorkerMesh } from "./worker_mesh.ts";
import { clusterLocator, type PlacementView } from "./cluster_placement.ts";
import { routeByNode, type Transport } from "./transport.ts";

// Typed by hand: a `lib="deno.worker"` reference would break jose's types elsewhere.
interface WorkerScope {
  postMessage(message: unknown): void;
  onmessage: ((event: MessageEvent) => void) | null;
  addEventListener(type: string, listener: (event: Event) => void): void;
  close(): void;
}
const scope = globalThis as unknown as WorkerScope;

function post(message: FromWorker): void {
  scope.postMessage(message);
}

let failed = false;
function fatal(message: string): void {
  if (failed) return;
  failed = true;
  post({ t: "fatal", message });
  // Give the message a moment to leave before the thread goes.
  setTimeout(() => scope.close(), 10);
}

scope.addEventListener("error", (event) => {
  event.preventDefault();
  const error = (event as ErrorEvent).error ?? (event as ErrorEvent).message;
  if (survived(error)) return;
  fatal(`Uncaught error: ${error instanceof Error ? error.stack ?? error.message : error}`);
});
scope.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  const reason = (event as PromiseRejectionEvent).reason;
  if (survived(reason)) return;
  fatal(
    `Unhandled rejection: ${reason instanceof Error ? reason.stack ?? reason.message : reason}`,
  );
});

/** Whether the app judges `error` survivable (then logged, and the worker keeps going). */
function survived(error: unknown): boolean {
  let reason: string | undefined;
  try {
    reason = app?.survivable?.(error);
  } catch {
    return false;
  }
  if (reason === undefined) return false;
  workerLogger?.log("warn", "Uncaught error survived", { reason, error });
  return true;
}

let system: ActorSystem | undefined;
let mesh: WorkerMesh | undefined;
let app: WorkerApp | undefined;
let workerLogger: Logger | undefined;
let view: PlacementView | undefined;
let shards: number | undefined;
const viewListeners: ((view: PlacementView) => void)[] = [];
/** Messages for other nodes go here (set by the app in cluster mode). */
let remote: Transport | undefined;

/** Places actors by a new cluster view, then tells the app. */
function applyView(next: PlacementView): void {
  if (view !== undefined && next.version <= view.version) return;
  view = next;
  system?.setLocate(clusterLocator(next.nodes, { shards }), { holdMs: next.holdMs ?? 0 });
  for (const listener of viewListeners) {
    try {
      listener(next);
    } catch (error) {
      workerLogger?.log("error", "View listener failed", { error });
    }
  }
}
let teardown: (() => void | Promise<void>) | void;
let ready = false;
/** Mesh batches that arrive before `setup` has registered the kinds they are for. */
const early: unknown[] = [];
const MAX_EARLY_BATCHES = 10_000;

function onMeshData(data: unknown): boolean {
  if (!isMeshBatch(data)) return false;
  if (ready && system) receiveMeshData(data, system);
  else if (early.length < MAX_EARLY_BATCHES) early.push(data);
  else fatal(`More than ${MAX_EARLY_BATCHES} message batches arrived before setup finished`);
  return true;
}

scope.onmessage = (event) => {
  const data = event.data as ToWorker;
  if (onMeshData(data)) return;
  switch (data.t) {
    case "init":
      init(data).catch((error) => fatal(`Setup failed: ${error?.stack ?? error}`));
      break;
    case "peer":
      connectPeer(data.worker, data.port);
      break;
    case "view":
      applyView(data.view);
      break;
    case "metrics":
      if (system) post({ t: "metrics", id: data.id, snapshot: system.metrics() });
      break;
    case "shutdown":
      shutdown(data.timeoutMs);
      break;
  }
};

function connectPeer(worker: number, port: MessagePort): void {
  port.onmessage = (event) => onMeshData(event.data);
  mesh?.setPort(worker, port);
}

async function init(data: Extract<ToWorker, { t: "init" }>): Promise<void> {
  const logger = jsonLogger((line) => post({ t: "log", line }), {
    base: { node: data.node, worker: data.worker },
  });
  workerLogger = logger;
  mesh = new WorkerMesh(data.node, {
    onUncloneable: (_message, error) =>
      logger.log("error", "Message cannot cross workers", { error }),
  });
  mesh.setPort(-1, scope);
  shards = data.shards;
  const local = mesh;
  system = new ActorSystem({
    node: data.node,
    worker: data.worker,
    workers: data.workers,
    transport: routeByNode(data.node, local, { send: (to, m) => remote?.send(to, m) ?? false }),
    logger,
    shards: data.shards,
    mainKinds: data.mainKinds,
    cloneLocal: data.cloneLocal,
    // Local numbers of bound refs never repeat across incarnations of this worker.
    localBase: data.generation * 2 ** 32,
    onEscalate: (escalation) => {
      fatal(
        `Kind ${escalation.kind} escalated: its actors keep failing (last: ${escalation.error})`,
      );
    },
  });
  for (const [worker, port] of data.peers) connectPeer(worker, port);
  if (data.view !== undefined) applyView(data.view);
  const module = await import(data.app) as WorkerApp;
  if (typeof module.setup !== "function") {
    throw new TypeError(`Module ${data.app} exports no setup()`);
  }
  app = module;
  teardown = await app.setup(system, {
    node: data.node,
    worker: data.worker,
    workers: data.workers,
    generation: data.generation,
    config: data.config,
    logger,
    view: () => view,
    onView: (listener) => void viewListeners.push(listener),
    setRemoteTransport: (transport) => void (remote = transport),
  });
  ready = true;
  for (const batch of early.splice(0)) receiveMeshData(batch, system);
  post({ t: "ready" });
}

async function shutdown(timeoutMs: number): Promise<void> {
  try {
    if (teardown) await teardown();
    await system?.shutdown({ timeoutMs });
    mesh?.flush();
  } finally {
    post({ t: "closed" });
  }
}
