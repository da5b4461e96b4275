/**
 * The bounded outbound queue of a stream connection (TCP, TLS).
 *
 * @module
 */

/** Limits of an {@link Outbound} queue. */
export interface OutboundLimits {
  /** Frames waiting to be written before the peer counts as a slow consumer. Default 1024. */
  readonly maxFrames?: number;
  /** Bytes waiting to be written before the peer counts as a slow consumer. Default 1 MiB. */
  readonly maxBytes?: number;
  /** Queued frames are merged into writes of up to this many bytes. Default 64 KiB. */
  readonly mergeBytes?: number;
}

/** Writes all of `bytes` (a `Deno.Conn` may write part of a buffer per call). */
export type WriteAll = (bytes: Uint8Array) => Promise<void>;

/**
 * Queues encoded frames and writes them in order, merging what queued up meanwhile into
 * one write (one syscall for many small frames). `push` refuses past the limits instead
 * of buffering without bound: the caller then disconnects the peer as a slow consumer.
 *
 * @example
 * ```ts
 * const out = new Outbound(writeAll(conn));
 * if (!out.push(bytes)) closeSlow();
 * ```
 */
export class Outbound {
  readonly #write: WriteAll;
  readonly #maxFrames: number;
  readonly #maxBytes: number;
  readonly #mergeBytes: number;
  #queue: Uint8Array[] = [];
  #bytes = 0;
  /** Frames and bytes handed to the current write: they still count against the limits. */
  #inFlightFrames = 0;
  #inFlightBytes = 0;
  #writing: Promise<void> | undefined;
  #error: unknown;
  #closed = false;

  constructor(write: WriteAll, limits: OutboundLimits = {}) {
    this.#write = write;
    this.#maxFrames = limits.maxFrames ?? 1024;
    this.#maxBytes = limits.maxBytes ?? 1024 * 1024;
    this.#mergeBytes = limits.mergeBytes ?? 64 * 1024;
  }

  /** Bytes not yet written (queued and in the current write). */
  get queuedBytes(): number {
    return this.#bytes + this.#inFlightBytes;
  }

  /** Frames not yet written (queued and in the current write). */
  get queuedFrames(): number {
    return this.#queue.length + this.#inFlightFrames;
  }

  /** The write error that broke the queue, if one did. */
  get error(): unknown {
    return this.#error;
  }

  /** Queues `bytes`; false when over a limit, closed or broken (nothing is queued then). */
  push(bytes: Uint8Array): boolean {
    if (this.#closed || this.#error !== undefined) return false;
    if (
      this.queuedFrames >= this.#maxFrames || this.queuedBytes + bytes.length > this.#maxBytes
    ) {
      return false;
    }
    this.#queue.push(bytes);
    this.#bytes += bytes.length;
    this.#writing ??= this.#pump();
    return true;
  }

  /**
   * Queues one last frame (a Close) even when the queue is full, then refuses everything
   * after it: the memory bound grows by at most that one frame.
   */
  pushFinal(bytes: Uint8Array): void {
    if (this.#closed || this.#error !== undefined) return;
    this.#closed = true;
    this.#queue.push(bytes);
    this.#bytes += bytes.length;
    this.#writing ??= this.#pump();
  }

  /** Resolves when everything queued so far is written (or writing failed). */
  async drained(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  /** Refuses further pushes; what is queued is still written. */
  close(): void {
    this.#closed = true;
  }

  async #pump(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#take();
        await this.#write(batch);
        this.#inFlightFrames = 0;
        this.#inFlightBytes = 0;
      }
    } catch (error) {
      this.#error = error;
      this.#queue = [];
      this.#bytes = 0;
      this.#inFlightFrames = 0;
      this.#inFlightBytes = 0;
    } finally {
      this.#writing = undefined;
    }
  }

  /** Takes queued frames up to `mergeBytes` (at least one) as one buffer. */
  #take(): Uint8Array {
    const first = this.#queue[0]!;
    let count = 1;
    let size = first.length;
    while (count < this.#queue.length && size + this.#queue[count]!.length <= this.#mergeBytes) {
      size += this.#queue[count++]!.length;
    }
    const taken = this.#queue.splice(0, count);
    this.#bytes -= size;
    this.#inFlightFrames = count;
    this.#inFlightBytes = size;
    if (count === 1) return first;
    const merged = new Uint8Array(size);
    let offset = 0;
    for (const part of taken) {
      merged.set(part, offset);
      offset += part.length;
    }
    return merged;
  }
}

/** A {@link WriteAll} for a `Deno.Conn` (loops over partial writes). */
export function connWriter(conn: { write(p: Uint8Array): Promise<number> }): WriteAll {
  return async (bytes) => {
    let offset = 0;
    while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
  };
}
