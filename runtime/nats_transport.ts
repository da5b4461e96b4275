/**
 * The cross-node transport: wire messages published on NATS subjects, one subject per
 * worker, batched per destination like the worker mesh and encoded with `node:v8`.
 *
 * @module
 */

import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { deserialize, serialize } from "node:v8";
import type { WireMessage } from "./envelope.ts";
import type { Location } from "./ref.ts";
import type { Transport, TransportSink } from "./transport.ts";
import { encodeBatch, receiveMeshData } from "./worker_mesh.ts";
import { subjectToken } from "./_subject.ts";

/** What NATS servers allow by default; used until the server tells its own limit. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/**
 * Subject a worker listens on: `flashim.<cluster>.w.<node>.<worker>` with each part
 * sanitized (worker -1 = the node's main thread, written "main").
 *
 * Sanitizing is injective: letters, digits, `_` and `-` stay, every other UTF-8 byte is
 * written `~xx` (hex), so node ids with dots (`host.1234.k3j9`) stay one subject token.
 *
 * @throws {TypeError} if `cluster` or `node` is empty.
 * @throws {RangeError} if `worker` is not an integer of at least -1.
 * @example
 * ```ts
 * workerSubject("prod", "host.1234.k3j9", 2); // "flashim.prod.w.host~2e1234~2ek3j9.2"
 * workerSubject("prod", "n1", -1); // "flashim.prod.w.n1.main"
 * ```
 */
export function workerSubject(cluster: string, node: string, worker: number): string {
  if (!(Number.isInteger(worker) && worker >= -1)) {
    throw new RangeError(`Invalid worker: ${worker} is not an integer of at least -1`);
  }
  const w = worker === -1 ? "main" : String(worker);
  return `flashim.${subjectToken("cluster", cluster)}.w.${subjectToken("node", node)}.${w}`;
}

/** Options of {@link NatsTransport.listen}. */
export interface NatsTransportOptions {
  readonly nc: NatsConnection;
  /** Cluster name: isolates subjects (tests use a random one). */
  readonly cluster: string;
  /** This node (incarnation id) and worker (-1 = main thread). */
  readonly node: string;
  readonly worker: number;
  /** Messages per published batch before an early flush. Default 1024. */
  readonly maxBatch?: number;
  /**
   * Bound on bytes queued for publishing but not flushed to the server yet (across all
   * destinations); beyond it `send` returns false. Default 8 MiB.
   */
  readonly maxQueuedBytes?: number;
  /**
   * Told about a message that cannot be serialized (it is dropped; the rest of its batch
   * still goes) and about undecodable data received.
   */
  readonly onError?: (what: string, error: unknown) => void;
}

/** Counters of a {@link NatsTransport}, for metrics and tests. */
export interface NatsTransportStats {
  /** Payloads published and messages in them. */
  readonly batchesSent: number;
  readonly messagesSent: number;
  /** Payloads received and decoded, and messages handed to the sink. */
  readonly batchesReceived: number;
  readonly messagesReceived: number;
  /** Accepted messages dropped at flush: unserializable, over max payload, queue full, publish failed. */
  readonly dropped: number;
  /** Sends refused: closed, or the queue reached `maxQueuedBytes`. */
  readonly rejected: number;
  /** Payloads received that were not a mesh batch (or failed while being handed over). */
  readonly undecodable: number;
  /** Bytes published but not yet confirmed by the server (gauge). */
  readonly queuedBytes: number;
}

type Counters = { -readonly [K in Exclude<keyof NatsTransportStats, "queuedBytes">]: number };

interface Outgoing {
  readonly subject: string;
  readonly messages: WireMessage[];
}

/**
 * Transport to workers of any node over NATS, at most once. Sends are queued per
 * destination (node, worker) and published as one `node:v8`-encoded mesh batch at the
 * end of the current microtask run (or at `maxBatch`); a payload over the server's max
 * payload is split in order. FIFO holds per (sender worker, receiver worker): one
 * connection publishes in order and NATS keeps a publisher's order per subscriber.
 *
 * Backpressure: bytes published but not yet confirmed by the server (a PING round trip)
 * stay under `maxQueuedBytes`. `send` returns false once the bound is reached, and a
 * batch that does not fit when it is flushed is cut there (the rest is dropped and
 * reported), so a disconnected or slow link cannot grow the client's buffer without end.
 *
 * @example
 * ```ts
 * const nc = await connect({ servers: "127.0.0.1:4222" });
 * const link: { nats?: NatsTransport } = {}; // the system and the transport need each other
 * const system = new ActorSystem({
 *   node: "n1",
 *   transport: { send: (to, message) => link.nats?.send(to, message) ?? false },
 * });
 * const nats = NatsTransport.listen({ nc, cluster: "prod", node: "n1", worker: 0 }, system);
 * link.nats = nats;
 * await nc.flush(); // the subscription is live
 * system.tell(virtualRef("user", "42"), { type: "ping" }); // placed on another node
 * await nats.close();
 * await nc.close();
 * ```
 */
export class NatsTransport implements Transport, AsyncDisposable {
  /** The subject this worker listens on. */
  readonly subject: string;
  readonly maxBatch: number;
  readonly maxQueuedBytes: number;
  readonly #nc: NatsConnection;
  readonly #cluster: string;
  readonly #sink: TransportSink;
  readonly #onError: (what: string, error: unknown) => void;
  readonly #counters: Counters = {
    batchesSent: 0,
    messagesSent: 0,
    batchesReceived: 0,
    messagesReceived: 0,
    dropped: 0,
    rejected: 0,
    undecodable: 0,
  };
  /** Counts messages on their way from a received batch to the sink. */
  readonly #counting: TransportSink;
  #sub: Subscription | undefined;
  #outbox = new Map<string, Map<number, Outgoing>>();
  #scheduled = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #maxPayload = DEFAULT_MAX_PAYLOAD;
  /** Published, not yet confirmed by a PONG. */
  #queuedBytes = 0;
  /** Published since the outstanding PING was sent. */
  #unpinged = 0;
  #pinging = false;
  /** A flush found no room: refuse sends until a PONG releases bytes. */
  #full = false;

  private constructor(options: NatsTransportOptions, sink: TransportSink) {
    this.#nc = options.nc;
    this.#cluster = options.cluster;
    this.#sink = sink;
    this.#onError = options.onError ?? (() => {});
    this.subject = workerSubject(options.cluster, options.node, options.worker);
    this.maxBatch = options.maxBatch ?? 1024;
    if (!(Number.isInteger(this.maxBatch) && this.maxBatch > 0)) {
      throw new RangeError(`Invalid maxBatch: ${options.maxBatch} is not a positive integer`);
    }
    this.maxQueuedBytes = options.maxQueuedBytes ?? 8 * 1024 * 1024;
    if (!(Number.isInteger(this.maxQueuedBytes) && this.maxQueuedBytes > 0)) {
      throw new RangeError(
        `Invalid maxQueuedBytes: ${options.maxQueuedBytes} is not a positive integer`,
      );
    }
    this.#counting = {
      receive: (message) => {
        this.#counters.messagesReceived++;
        this.#sink.receive(message);
      },
    };
  }

  /**
   * Subscribes to this worker's subject and hands every arriving message to `sink`
   * (an ActorSystem). The subscription is live once the server has processed it: await
   * `nc.flush()` before other connections rely on reaching this worker.
   *
   * @throws {TypeError} if `cluster` or `node` is empty.
   * @throws {RangeError} if `worker`, `maxBatch` or `maxQueuedBytes` is invalid.
   * @throws the connection's error if it is closed or draining.
   */
  static listen(options: NatsTransportOptions, sink: TransportSink): NatsTransport {
    const transport = new NatsTransport(options, sink);
    transport.#sub = options.nc.subscribe(transport.subject, {
      callback: (error, msg) => {
        // An error escaping a NATS callback would kill a Deno worker: contain everything.
        if (error) transport.#report(`Subscription ${transport.subject} failed`, error);
        else transport.#receive(msg.data);
      },
    });
    return transport;
  }

  /** Counters for metrics and tests (a snapshot). */
  get stats(): NatsTransportStats {
    return { ...this.#counters, queuedBytes: this.#queuedBytes };
  }

  /**
   * Queues `message` for `to` (any node, including this one). Returns false when closed,
   * the connection is closed, or over `maxQueuedBytes`.
   */
  send(to: Location, message: WireMessage): boolean {
    if (this.#closed || this.#full || this.#nc.isClosed()) {
      this.#counters.rejected++;
      return false;
    }
    let byWorker = this.#outbox.get(to.node);
    if (byWorker === undefined) this.#outbox.set(to.node, byWorker = new Map());
    let out = byWorker.get(to.worker);
    if (out === undefined) {
      let subject: string;
      try {
        subject = workerSubject(this.#cluster, to.node, to.worker);
      } catch {
        this.#counters.rejected++;
        return false;
      }
      byWorker.set(to.worker, out = { subject, messages: [] });
    }
    out.messages.push(message);
    if (out.messages.length >= this.maxBatch) {
      byWorker.delete(to.worker);
      this.#publish(out);
    } else if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.flush);
    }
    return true;
  }

  /** Publishes every queued batch now. */
  flush = (): void => {
    this.#scheduled = false;
    if (this.#outbox.size === 0) return;
    // Swap first: a send from inside onError lands in a fresh outbox, after this one.
    const outbox = this.#outbox;
    this.#outbox = new Map();
    for (const byWorker of outbox.values()) {
      for (const out of byWorker.values()) this.#publish(out);
    }
  };

  /**
   * Flushes, unsubscribes (drain: messages already received still reach the sink),
   * stops accepting sends. Does not close the connection (the caller owns it).
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    this.flush();
    this.#closed = true;
    if (this.#nc.isClosed()) return;
    try {
      await this.#sub?.drain();
      await this.#nc.flush();
    } catch (error) {
      // The connection closed meanwhile: nothing is left to drain or flush.
      if (!this.#nc.isClosed()) this.#report(`Cannot drain ${this.subject}`, error);
    }
  }

  /**
   * Publishes a batch in order as few payloads as possible. A part that cannot be
   * serialized or exceeds the max payload or the room left under `maxQueuedBytes` is
   * halved until it fits; a single message that cannot go alone is dropped, except
   * when the queue is full, where the rest of the batch is dropped.
   */
  #publish(out: Outgoing): void {
    const { subject, messages } = out;
    this.#maxPayload = this.#nc.info?.max_payload ?? this.#maxPayload;
    let lo = 0;
    let span = messages.length;
    while (lo < messages.length) {
      const hi = Math.min(lo + span, messages.length);
      let data: Uint8Array;
      try {
        data = serialize(
          encodeBatch(hi - lo === messages.length ? messages : messages.slice(lo, hi)),
        );
      } catch (error) {
        if (hi - lo > 1) span = Math.ceil((hi - lo) / 2);
        else {
          this.#drop(1, `Cannot serialize a message for ${subject}: dropped`, error);
          lo = hi;
        }
        continue;
      }
      const room = this.maxQueuedBytes - this.#queuedBytes;
      const limit = Math.min(this.#maxPayload, room);
      if (data.length > limit) {
        if (hi - lo > 1) {
          // Aim at a size that fits instead of halving blindly: fewer serializations.
          span = Math.max(
            1,
            Math.min(Math.ceil((hi - lo) / 2), ((hi - lo) * limit / data.length) | 0),
          );
          continue;
        }
        if (data.length > this.#maxPayload || data.length > this.maxQueuedBytes) {
          const bound = data.length > this.#maxPayload
            ? `max payload ${this.#maxPayload}`
            : `maxQueuedBytes ${this.maxQueuedBytes}`;
          this.#drop(
            1,
            `Cannot publish to ${subject}: a message of ${data.length} bytes exceeds ${bound}`,
            new RangeError(`Payload of ${data.length} bytes exceeds ${bound}`),
          );
          lo = hi;
          continue;
        }
        const rest = messages.length - lo;
        this.#full = true;
        this.#drop(
          rest,
          `Cannot publish to ${subject}: ${this.#queuedBytes} of ${this.maxQueuedBytes} queued bytes in use; ${rest} messages dropped`,
          new RangeError(`Queue full: ${this.maxQueuedBytes} bytes`),
        );
        break;
      }
      try {
        this.#nc.publish(subject, data);
      } catch (error) {
        this.#drop(messages.length - lo, `Cannot publish to ${subject}: dropped`, error);
        break;
      }
      this.#counters.batchesSent++;
      this.#counters.messagesSent += hi - lo;
      this.#queuedBytes += data.length;
      if (this.#queuedBytes >= this.maxQueuedBytes) this.#full = true;
      this.#unpinged += data.length;
      lo = hi;
      span = Math.min(span * 2, messages.length);
    }
    this.#confirm();
  }

  /**
   * Keeps one PING in flight: its PONG proves the server has everything published before
   * it, so those bytes leave the queue. A disconnect rejects the PING; the bytes are
   * released too (the client discards its buffer on reconnect).
   */
  #confirm(): void {
    if (this.#pinging || this.#unpinged === 0 || this.#nc.isClosed()) return;
    const bytes = this.#unpinged;
    this.#unpinged = 0;
    this.#pinging = true;
    const release = () => {
      this.#queuedBytes -= bytes;
      this.#full = this.#queuedBytes >= this.maxQueuedBytes;
      this.#pinging = false;
      this.#confirm();
    };
    this.#nc.flush().then(release, release);
  }

  #receive(data: Uint8Array): void {
    let batch: unknown;
    try {
      batch = deserialize(data);
    } catch (error) {
      this.#counters.undecodable++;
      this.#report(`Cannot decode ${data.length} bytes received on ${this.subject}`, error);
      return;
    }
    try {
      if (receiveMeshData(batch, this.#counting)) this.#counters.batchesReceived++;
      else {
        this.#counters.undecodable++;
        this.#report(
          `Cannot read data received on ${this.subject}: not a mesh batch`,
          new TypeError("Not a mesh batch"),
        );
      }
    } catch (error) {
      // A malformed batch (or a sink that threw): the messages before the fault went in.
      this.#counters.undecodable++;
      this.#report(`Cannot read batch received on ${this.subject}`, error);
    }
  }

  #drop(count: number, what: string, error: unknown): void {
    this.#counters.dropped += count;
    this.#report(what, error);
  }

  #report(what: string, error: unknown): void {
    try {
      this.#onError(what, error);
    } catch {
      // A throwing handler must not break publishing or the subscription.
    }
  }
}
