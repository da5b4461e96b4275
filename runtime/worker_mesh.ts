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
 * A batch of wire messages as it crosses a port, in columns: structured clone pays per
 * value and per property name, so refs are listed once in `r`, reply-node names once in
 * `s`, every message's header numbers go into one `Float64Array` `h` (copied as raw
 * bytes) and only bodies, reply values and errors are cloned one by one, from `b`:
 *
 * - `0, to`: a plain tell;
 * - `3, to, from`: a tell that names its sender (what actors send);
 * - `1, to, from, replyNode, replyWorker, replyId, flags`: any other envelope (`from` and
 *   `replyNode` are -1 when absent; `flags` has bit 1 for `system`, bit 2 for `forwarded`);
 * - `2, replyTo, ok`: a reply; its value (ok) or error is the next entry of `b`.
 *
 * `to` and `from` index `r`; `replyNode` indexes `s`. Every envelope takes one entry of `b`.
 */
export interface MeshBatch {
  readonly t: "m";
  readonly r: readonly ActorRef[];
  readonly s: readonly string[];
  readonly h: Float64Array;
  readonly b: readonly unknown[];
}

const TAG_TELL = 0;
const TAG_ENVELOPE = 1;
const TAG_REPLY = 2;
const TAG_TELL_FROM = 3;
const FLAG_SYSTEM = 1;
const FLAG_FORWARDED = 2;

/** True for data that is a mesh batch (ports also carry control messages). */
export function isMeshBatch(data: unknown): data is MeshBatch {
  return (data as MeshBatch | null)?.t === "m";
}

/** Builds one {@link MeshBatch} message by message (refs deduplicated by identity). */
export class BatchWriter {
  readonly #refs: ActorRef[] = [];
  readonly #refIndex = new Map<ActorRef, number>();
  readonly #nodes: string[] = [];
  readonly #header: number[] = [];
  readonly #bodies: unknown[] = [];
  /** Messages added so far. */
  count = 0;

  add(message: WireMessage): void {
    this.count++;
    const h = this.#header;
    if (isReply(message)) {
      h.push(TAG_REPLY, message.replyTo, message.ok ? 1 : 0);
      this.#bodies.push(message.ok ? message.value : message.error);
      return;
    }
    const env = message as Envelope;
    this.#bodies.push(env.body);
    if (env.reply === undefined && !env.system && !env.forwarded) {
      if (env.from === undefined) h.push(TAG_TELL, this.#ref(env.to));
      else h.push(TAG_TELL_FROM, this.#ref(env.to), this.#ref(env.from));
      return;
    }
    let node = -1;
    if (env.reply !== undefined) {
      node = this.#nodes.indexOf(env.reply.node);
      if (node < 0) node = this.#nodes.push(env.reply.node) - 1;
    }
    h.push(
      TAG_ENVELOPE,
      this.#ref(env.to),
      env.from === undefined ? -1 : this.#ref(env.from),
      node,
      env.reply?.worker ?? 0,
      env.reply?.id ?? 0,
      (env.system ? FLAG_SYSTEM : 0) | (env.forwarded ? FLAG_FORWARDED : 0),
    );
  }

  /** The batch of everything added. */
  finish(): MeshBatch {
    return {
      t: "m",
      r: this.#refs,
      s: this.#nodes,
      h: new Float64Array(this.#header),
      b: this.#bodies,
    };
  }

  #ref(ref: ActorRef): number {
    let i = this.#refIndex.get(ref);
    if (i === undefined) {
      i = this.#refs.push(ref) - 1;
      this.#refIndex.set(ref, i);
    }
    return i;
  }
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
  readonly #outbox = new Map<number, BatchWriter>();
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
    if (batch === undefined) this.#outbox.set(to.worker, batch = new BatchWriter());
    batch.add(message);
    if (batch.count >= this.maxBatch) this.#post(to.worker, batch);
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

  #post(worker: number, writer: BatchWriter): void {
    this.#outbox.delete(worker);
    if (writer.count === 0) return;
    const port = this.#ports.get(worker);
    if (port === undefined) return;
    this.batches++;
    const batch = writer.finish();
    try {
      port.postMessage(batch);
    } catch (error) {
      // One uncloneable message must not sink the whole batch: post the rest without it.
      const good: WireMessage[] = [];
      for (const message of decodeBatch(batch)) {
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

/** Encodes messages as one {@link MeshBatch}. */
export function encodeBatch(messages: readonly WireMessage[]): MeshBatch {
  const writer = new BatchWriter();
  for (const message of messages) writer.add(message);
  return writer.finish();
}

/** The messages of a mesh batch, in order. */
export function decodeBatch(batch: MeshBatch): WireMessage[] {
  const messages: WireMessage[] = [];
  receiveMeshData(batch, { receive: (m) => messages.push(m) });
  return messages;
}

/**
 * Hands every message of a mesh batch to the sink; returns false for other data. A batch
 * that does not read right (it may come from a network) throws a `TypeError` at the
 * first bad entry; the messages before it were handed over.
 */
export function receiveMeshData(data: unknown, sink: TransportSink): boolean {
  if (!isMeshBatch(data)) return false;
  const { r: refs, s: nodes, h, b: bodies } = data;
  if (!(h instanceof Float64Array) || !Array.isArray(refs) || !Array.isArray(bodies)) {
    throw new TypeError("Cannot read mesh batch: malformed columns");
  }
  const ref = (i: number): ActorRef => {
    const found = refs[i];
    if (found === undefined) throw new TypeError(`Cannot read mesh batch: no ref ${i}`);
    return found;
  };
  let i = 0;
  let k = 0;
  while (i < h.length) {
    const tag = h[i];
    if (tag === TAG_TELL_FROM) {
      sink.receive({ to: ref(h[i + 1]!), body: bodies[k++], from: ref(h[i + 2]!) });
      i += 3;
    } else if (tag === TAG_TELL) {
      sink.receive({ to: ref(h[i + 1]!), body: bodies[k++] });
      i += 2;
    } else if (tag === TAG_ENVELOPE) {
      const from = h[i + 2]!;
      const node = h[i + 3]!;
      const flags = h[i + 6]!;
      let replyNode: string | undefined;
      if (node >= 0) {
        replyNode = nodes[node];
        if (typeof replyNode !== "string") {
          throw new TypeError(`Cannot read mesh batch: no node name ${node}`);
        }
      }
      const env: Envelope = {
        to: ref(h[i + 1]!),
        body: bodies[k++],
        ...(from >= 0 ? { from: ref(from) } : {}),
        ...(replyNode === undefined ? {} : {
          reply: { node: replyNode, worker: h[i + 4]!, id: h[i + 5]! },
        }),
        ...(flags & FLAG_SYSTEM ? { system: true } : {}),
        ...(flags & FLAG_FORWARDED ? { forwarded: true } : {}),
      };
      sink.receive(env);
      i += 7;
    } else if (tag === TAG_REPLY) {
      const ok = h[i + 2] === 1;
      const payload = bodies[k++];
      sink.receive(
        ok
          ? { replyTo: h[i + 1]!, ok, value: payload }
          : { replyTo: h[i + 1]!, ok, error: payload as Reply["error"] },
      );
      i += 3;
    } else {
      throw new TypeError(`Cannot read mesh batch: unknown tag ${String(tag)} at ${i}`);
    }
  }
  return true;
}
