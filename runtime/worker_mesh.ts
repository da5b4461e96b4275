/**
 * The same-node transport: one `MessagePort` per peer worker (and the main thread),
 * with messages batched per destination and flushed once per turn of the event loop.
 *
 * @module
 */

import { type Envelope, isReply, type Reply, type WireMessage } from "./envelope.ts";
import type { ActorRef, Location } from "./ref.ts";
import type { Transport, TransportSink } from "./transport.ts";

/** The part of `MessagePort`, `Worker` and a worker's `self` the mesh uses. */
export interface PortLike {
  postMessage(message: unknown): void;
}

/**
 * A batch of wire messages as it crosses a port, flattened: structured clone pays per
 * object and per property name, so refs are listed once in `r` and each message is a few
 * slots of the flat array `m` instead of an envelope object with nested refs:
 *
 * - `0, to, body`: a plain tell;
 * - `1, to, body, from, replyNode, replyWorker, replyId, flags`: any other envelope
 *   (`from` is -1 when absent, `replyNode` is null when there is no reply; `flags` has bit
 *   1 for `system` and bit 2 for `forwarded`);
 * - `2, replyTo, ok, value, error`: a reply.
 *
 * `to` and `from` index `r`.
 */
export interface MeshBatch {
  readonly t: "m";
  readonly r: readonly ActorRef[];
  readonly m: readonly unknown[];
}

const FLAG_SYSTEM = 1;
const FLAG_FORWARDED = 2;

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
      port.postMessage(encodeBatch(batch));
    } catch (error) {
      // One uncloneable message must not sink the whole batch: post the rest without it.
      const good: WireMessage[] = [];
      for (const message of batch) {
        try {
          structuredClone(message);
          good.push(message);
        } catch {
          this.#onUncloneable(message, error);
        }
      }
      if (good.length > 0) port.postMessage(encodeBatch(good));
    }
  }
}

/** Flattens messages into a {@link MeshBatch} (refs deduplicated by identity). */
export function encodeBatch(messages: readonly WireMessage[]): MeshBatch {
  const refs: ActorRef[] = [];
  const index = new Map<ActorRef, number>();
  const refIndex = (ref: ActorRef): number => {
    let i = index.get(ref);
    if (i === undefined) {
      i = refs.push(ref) - 1;
      index.set(ref, i);
    }
    return i;
  };
  const m: unknown[] = [];
  for (const message of messages) {
    if (isReply(message)) {
      m.push(2, message.replyTo, message.ok, message.value, message.error);
      continue;
    }
    const env = message as Envelope;
    if (env.from === undefined && env.reply === undefined && !env.system && !env.forwarded) {
      m.push(0, refIndex(env.to), env.body);
      continue;
    }
    m.push(
      1,
      refIndex(env.to),
      env.body,
      env.from === undefined ? -1 : refIndex(env.from),
      env.reply?.node ?? null,
      env.reply?.worker ?? 0,
      env.reply?.id ?? 0,
      (env.system ? FLAG_SYSTEM : 0) | (env.forwarded ? FLAG_FORWARDED : 0),
    );
  }
  return { t: "m", r: refs, m };
}

/** Hands every message of a mesh batch to the sink; returns false for other data. */
export function receiveMeshData(data: unknown, sink: TransportSink): boolean {
  if (!isMeshBatch(data)) return false;
  const { r: refs, m } = data;
  let i = 0;
  while (i < m.length) {
    const tag = m[i];
    if (tag === 0) {
      sink.receive({ to: refs[m[i + 1] as number]!, body: m[i + 2] });
      i += 3;
    } else if (tag === 1) {
      const from = m[i + 3] as number;
      const replyNode = m[i + 4] as string | null;
      const env: Envelope = {
        to: refs[m[i + 1] as number]!,
        body: m[i + 2],
        ...(from >= 0 ? { from: refs[from] } : {}),
        ...(replyNode === null
          ? {}
          : { reply: { node: replyNode, worker: m[i + 5] as number, id: m[i + 6] as number } }),
        ...((m[i + 7] as number) & FLAG_SYSTEM ? { system: true } : {}),
        ...((m[i + 7] as number) & FLAG_FORWARDED ? { forwarded: true } : {}),
      };
      sink.receive(env);
      i += 8;
    } else if (tag === 2) {
      sink.receive({
        replyTo: m[i + 1] as number,
        ok: m[i + 2] as boolean,
        value: m[i + 3],
        error: m[i + 4] as Reply["error"],
      });
      i += 5;
    } else {
      throw new TypeError(`Cannot read mesh batch: unknown tag ${String(tag)} at ${i}`);
    }
  }
  return true;
}
