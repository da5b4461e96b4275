/**
 * Self-fencing as pure state: when a node must stop acting as a cluster member
 * because it may have been declared dead. Time is passed in; there is no I/O
 * and no timer here. `membership.ts` is the shell that feeds it.
 *
 * @module
 */

/** Options of a {@linkcode FenceMonitor}; durations in ms. */
export interface FenceMonitorOptions {
  /** How long any loss may last before this node must fence itself (the membership `deadMs`). */
  readonly leaseMs: number;
  /** The period at which {@linkcode FenceMonitor.check} is called; a longer gap is a stall. */
  readonly checkEveryMs: number;
  /** The time the monitor starts at (counts as an own heartbeat and a check). */
  readonly now: number;
}

/**
 * Decides when a node must fence itself: its NATS link was down, its own
 * heartbeats did not come back, or its event loop stalled, for longer than
 * the lease. Past the lease the peers consider it dead and take over its
 * shards, so it must stop acting as a member. Pure: times are passed in.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FenceMonitor } from "./fence_monitor.ts";
 *
 * const monitor = new FenceMonitor({ leaseMs: 5_000, checkEveryMs: 250, now: 0 });
 * monitor.disconnected(1_000);
 * assert.equal(monitor.check(250), undefined);
 * monitor.ownHeartbeat(500);
 * for (let t = 500; t <= 6_000; t += 250) monitor.check(t);
 * assert.match(monitor.check(6_250) ?? "", /NATS disconnected/);
 * ```
 */
export class FenceMonitor {
  readonly #leaseMs: number;
  readonly #checkEveryMs: number;
  #lastCheck: number;
  #ownHeardAt: number;
  #disconnectedSince: number | undefined;

  /** @throws {RangeError} if a duration is not finite and positive. */
  constructor(options: FenceMonitorOptions) {
    for (const key of ["leaseMs", "checkEveryMs"] as const) {
      if (!Number.isFinite(options[key]) || options[key] <= 0) {
        throw new RangeError(
          `Cannot create fence monitor: ${key} ${options[key]} is not a finite positive number`,
        );
      }
    }
    this.#leaseMs = options.leaseMs;
    this.#checkEveryMs = options.checkEveryMs;
    this.#lastCheck = options.now;
    this.#ownHeardAt = options.now;
  }

  /** The NATS link went down at `at` (a later call keeps the first time). */
  disconnected(at: number): void {
    this.#disconnectedSince ??= at;
  }

  /** The NATS link is back. */
  reconnected(_at: number): void {
    this.#disconnectedSince = undefined;
  }

  /** This node's own heartbeat came back on its subscription at `at`. */
  ownHeartbeat(at: number): void {
    this.#ownHeardAt = Math.max(this.#ownHeardAt, at);
  }

  /**
   * Called every `checkEveryMs`; returns why this node must fence itself, or
   * `undefined`. A stall is reported first: it explains the other losses.
   */
  check(now: number): string | undefined {
    const drift = now - this.#lastCheck - this.#checkEveryMs;
    this.#lastCheck = now;
    if (drift > this.#leaseMs) {
      return `Event loop stalled for ${Math.round(drift)} ms (lease ${this.#leaseMs} ms)`;
    }
    const silent = now - this.#ownHeardAt;
    const down = this.#disconnectedSince === undefined ? 0 : now - this.#disconnectedSince;
    if (silent <= this.#leaseMs && down <= this.#leaseMs) return undefined;
    // Own heartbeats stop coming back just before a disconnect is noticed: name the link.
    if (this.#disconnectedSince !== undefined) {
      return `NATS disconnected for ${Math.round(down)} ms, own heartbeats not received back for ${
        Math.round(silent)
      } ms (lease ${this.#leaseMs} ms)`;
    }
    return `Own heartbeats not received back for ${
      Math.round(silent)
    } ms (lease ${this.#leaseMs} ms)`;
  }
}
