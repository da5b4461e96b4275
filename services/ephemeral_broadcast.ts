/**
 * The embedded node's {@link RevocationList}: one in-memory list per worker, kept in step
 * through a `BroadcastChannel` (which reaches every worker of the process). A revocation
 * made on one worker is stored and announced on all of them, so a session is refused and
 * its connections closed whichever worker they landed on. Across nodes use Redis.
 *
 * @module
 */

import type { RevocationList, Unsubscribe } from "./ephemeral.ts";
import { MemoryRevocationList } from "./ephemeral_memory.ts";

/** What travels on the channel. */
interface Announcement {
  readonly id: string;
  readonly untilMs: number;
}

/**
 * A {@link MemoryRevocationList} per instance; instances with the same channel `name` (in
 * any worker of the process) share revocations.
 *
 * @example
 * ```ts
 * const revoked = new BroadcastRevocationList("flash-im:revocations");
 * revoked.subscribe((sessionId) => gateway.closeSession(sessionId));
 * ```
 */
export class BroadcastRevocationList implements RevocationList {
  readonly #local: MemoryRevocationList;
  readonly #channel: BroadcastChannel;

  /** Joins channel `name`; `now` is the clock of the local list. */
  constructor(name: string, options: { now?: () => number } = {}) {
    this.#local = new MemoryRevocationList({ now: options.now });
    this.#channel = new BroadcastChannel(name);
    this.#channel.onmessage = (event: MessageEvent<Announcement>) => {
      const { id, untilMs } = event.data;
      // Stored and announced to this worker's listeners; a malformed message is dropped.
      this.#local.revoke(id, untilMs).catch(() => {});
    };
  }

  async revoke(id: string, untilMs: number): Promise<void> {
    await this.#local.revoke(id, untilMs);
    this.#channel.postMessage({ id, untilMs } satisfies Announcement);
  }

  isRevoked(id: string): Promise<boolean> {
    return this.#local.isRevoked(id);
  }

  subscribe(listener: (id: string) => void): Unsubscribe {
    return this.#local.subscribe(listener);
  }

  subscribed(): Promise<void> {
    return this.#local.subscribed();
  }

  async close(): Promise<void> {
    this.#channel.close();
    await this.#local.close();
  }
}
