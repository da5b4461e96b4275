/**
 * The same-node transport: one `MessagePort` per peer worker (and the main thread),
 * with messages batched per destination and flushed once per turn of the event loop.
 *
 * @module
 */

import type { WireMessage } from "./envelope.ts";
import type { Location } from "./ref.ts";
import type { Transport, TransportSink } from "./transport.ts";

/** The part of `MessagePort`, `Worker` and a worker's `self` the mesh uses. */
export interface PortLike {
  postMessage(message: unknown): void;
}

/** A batch of wire messages as it crosses a port. */
export interface MeshBatch {
  readonly t: "m";
  readonly m: readonly WireMessage[];
}

/** True for data that is a mesh batch (ports also carry control messages). */
export function isMeshBatch(data: unknown): data is MeshBatch {
  return (data as MeshBatch | null)?.t === "m";
}

/**
 * Transport to the other workers of this node. Sends are queued per destination and
 * posted as one batch at the end of the current microtask run (or at `maxBatch`), which
 * is what makes cross-worker messaging cheap: structured clone per batch, not per message.
 * FIFO holds per (sender worker, receiver worker). A missing port means no route.
 *
 * @example
 * ```ts
 * const mesh = new WorkerMesh("n1");
 * mesh.setPort(1, channel.port1);
 * mesh.send({ node: "n1", worker: 1 }, envelope);
 * ```
 */
export class WorkerMesh implements Transport {
  readonly node: string;
  readonly maxBatch: number;
  readonly #ports = new Map<number, PortLike>();
  readonly #outbox = new Map<number, WireMessage[]>();
  #scheduled = false;
  /** Batches posted so far (for metrics and tests). */
  batches = 0;

  readonly #onUncloneable: (message: WireMessage, error: unknown) => void;

  /**
   * @param options.onUncloneable told about a message that `postMessage` cannot clone
   *   (a function or a class instance in a body); the rest of its batch is still delivered.
   */
  constructor(
    node: string,
    options: {
      maxBatch?: number;
      onUncloneable?: (message: WireMessage, error: unknown) => void;
    } = {},
  ) {
    this.node = node;
    this.#onUncloneable = options.onUncloneable ?? (() => {});
    this.maxBatch = options.maxBatch ?? 1024;
    if (!(Number.isInteger(this.maxBatch) && this.maxBatch > 0)) {
      throw new RangeError(`Invalid maxBatch: ${options.maxBatch} is not a positive integer`);
    }
  }

  /** Sets (or with `undefined` removes) the port to a worker; `-1` is the main thread. */
  setPort(worker: number, port: PortLike | undefined): void {
    this.#outbox.delete(worker);
    if (port === undefined) this.#ports.delete(worker);
    else this.#ports.set(worker, port);
  }

  send(to: Location, message: WireMessage): boolean {
    if (to.node !== this.node || !this.#ports.has(to.worker)) return false;
    let batch = this.#outbox.get(to.worker);
    if (batch === undefined) this.#outbox.set(to.worker, batch = []);
    batch.push(message);
    if (batch.length >= this.maxBatch) this.#post(to.worker, batch);
    else if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.flush);
    }
    return true;
  }

  /** Posts every queued batch now. */
  flush = (): void => {
    this.#scheduled = false;
    for (const [worker, batch] of this.#outbox) this.#post(worker, batch);
  };

  #post(worker: number, batch: WireMessage[]): void {
    this.#outbox.delete(worker);
    if (batch.length === 0) return;
    const port = this.#ports.get(worker);
    if (port === undefined) return;
    this.batches++;
    try {
      port.postMessage({ t: "m", m: batch } satisfies MeshBatch);
    } catch (error) {
      // One uncloneable message must not sink the whole batch: post the rest one by one.
      const good: WireMessage[] = [];
      for (const message of batch) {
        try {
          structuredClone(message);
          good.push(message);
        } catch {
          this.#onUncloneable(message, error);
        }
      }
      if (good.length > 0) port.postMessage({ t: "m", m: good } satisfies MeshBatch);
    }
  }
}

/** Hands every message of a mesh batch to the sink; returns false for other data. */
export function receiveMeshData(data: unknown, sink: TransportSink): boolean {
  if (!isMeshBatch(data)) return false;
  for (const message of data.m) sink.receive(message);
  return true;
}
