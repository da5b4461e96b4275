/**
 * Cluster membership over NATS: the shell around {@linkcode MembershipTable}.
 *
 * Each node publishes a heartbeat on `flashim.<cluster>.hb` every
 * `heartbeatMs` and registers itself in the JetStream KV bucket
 * `flashim_<cluster>_members` (history 1, memory storage, no TTL: the server
 * this project runs on ignores per-key TTL and sends no event when a key
 * expires). Every node watches both; the registry says who joined and left,
 * heartbeats say who is alive. A node silent for `deadMs` is dead, and the
 * alive node with the smallest id (the cleanup leader) deletes its entry.
 * Deleting leaves a delete marker in the bucket; the cleanup leader purges
 * markers older than 30 minutes every 5 minutes, so departed nodes do not
 * pile up in the bucket (see {@linkcode MembershipTuning}).
 *
 * A node fences itself (stops, then calls `onFenced`) when its NATS link was
 * down, its own heartbeats did not come back, or its event loop stalled, for
 * longer than `deadMs` (the lease: by then the peers consider it dead), when
 * its connection closed, or when a peer deleted its registry entry. The
 * caller rejoins later under a new node id.
 *
 * @module
 */

import type { NatsConnection, QueuedIterator, Status, Subscription } from "@nats-io/transport-node";
import { Bucket, type KV, Kvm, type KvWatchEntry } from "@nats-io/kv";
import { type Clock, systemClock, type TimerHandle } from "./clock.ts";
import {
  type ClusterMember,
  type ClusterView,
  DEFAULT_DEAD_MS,
  DEFAULT_STABILIZE_MS,
  memberProblem,
  MembershipTable,
} from "./cluster_view.ts";
import { FenceMonitor } from "./fence_monitor.ts";
import { type LogFields, type Logger, type LogLevel, nullLogger } from "./logger.ts";

/** Default heartbeat period. */
export const DEFAULT_HEARTBEAT_MS = 1_000;
/** Bad heartbeats are logged at most once per this period. */
const BAD_INPUT_LOG_EVERY_MS = 5_000;
/** Ticks (and stall checks) per heartbeat period. */
const CHECKS_PER_HEARTBEAT = 4;
/** A joining node waits this many heartbeat periods for registered peers it has not heard yet. */
const JOIN_WAIT_HEARTBEATS = 1.5;
/** Default period of the cleanup leader's purge of delete markers. */
const DEFAULT_PURGE_EVERY_MS = 5 * 60_000;
/**
 * Default age a delete marker must reach before it is purged. A node that reconnects
 * checks its own entry for a marker (declared dead: fence); it fences itself after
 * `deadMs` offline anyway, so this is a wide margin.
 */
const DEFAULT_PURGE_OLDER_MS = 30 * 60_000;

/** Options of {@linkcode Membership.join}; durations in ms. */
export interface MembershipOptions {
  /** The connection heartbeats and the registry go through; the caller owns (and closes) it. */
  readonly nc: NatsConnection;
  /** Cluster name: subjects `flashim.<cluster>.…`, KV bucket `flashim_<cluster>_members`; characters other than `[-_A-Za-z0-9]` become `_`. */
  readonly cluster: string;
  /** This node; `node` must be unique per process incarnation. */
  readonly self: ClusterMember;
  /** Heartbeat period; default {@linkcode DEFAULT_HEARTBEAT_MS}. */
  readonly heartbeatMs?: number;
  /** Silence after which a member is suspected; default 3000 (at most deadMs). */
  readonly suspectMs?: number;
  /** Silence after which a member is dead; default 5000; also the lease for self-fencing. */
  readonly deadMs?: number;
  /** How long a changed member set must hold before it becomes a view; default 500. */
  readonly stabilizeMs?: number;
  /** Where to log; default {@linkcode nullLogger}. */
  readonly logger?: Logger;
  /** Time and timers; default {@linkcode systemClock} (monotonic). */
  readonly clock?: Clock;
  /** Each new view (the first one includes self once joined). */
  readonly onView: (view: ClusterView) => void;
  /**
   * Called once when this node must fence itself: lost its NATS link, or did
   * not see its own heartbeats come back, or its event loop stalled, for
   * longer than deadMs; or its connection closed; or a peer deleted its
   * registry entry. Membership has stopped by then (no more heartbeats); its
   * KV entry is deleted in the background, best effort.
   */
  readonly onFenced: (reason: string) => void;
}

/**
 * Internal tuning of {@linkcode Membership.join}, for tests (not exported by `mod.ts`);
 * durations in ms.
 */
export interface MembershipTuning {
  /**
   * How often the cleanup leader (the alive member with the smallest node id) purges the
   * registry's delete markers; default 5 minutes, the first purge one period after joining.
   */
  readonly purgeEveryMs?: number;
  /** Only delete markers at least this old are purged (by server time); default 30 minutes. */
  readonly purgeOlderMs?: number;
}

/** The heartbeat payload on `flashim.<cluster>.hb` (JSON). */
interface Heartbeat extends ClusterMember {
  readonly seq: number;
  readonly leaving?: boolean;
}

interface Joining {
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  readonly startedAt: number;
  snapshotAt?: number;
}

/**
 * This node's membership in a cluster: heartbeats, the KV registry, views
 * and self-fencing. Create it with {@linkcode Membership.join}; every handler
 * is guarded, so a bad message or a failed NATS call is logged, never thrown.
 *
 * Guarantees: nodes that see the same members compute the same view id; a
 * view changes only after the member set held for `stabilizeMs`; a node that
 * may have been declared dead (silent for `deadMs`) stops acting as a member.
 * Two nodes may still briefly disagree (each sees heartbeats at its own
 * time): placement must tolerate a stale view (forward, `NotOwner`).
 *
 * @example
 * ```ts ignore
 * import { connect } from "@nats-io/transport-node";
 * import { Membership } from "./membership.ts";
 *
 * const nc = await connect({ servers: "127.0.0.1:4222" });
 * const membership = await Membership.join({
 *   nc,
 *   cluster: "prod",
 *   self: { node: `host.${Deno.pid}.x7k2`, workers: 4, since: Date.now() },
 *   onView: (view) => console.log(view.version, view.members.length),
 *   onFenced: (reason) => console.error("fenced:", reason),
 * });
 * membership.view.members; // sorted by node id, self included
 * await membership.leave();
 * await nc.close();
 * ```
 */
export class Membership {
  readonly #nc: NatsConnection;
  readonly #cluster: string;
  readonly #self: ClusterMember;
  readonly #subject: string;
  readonly #bucket: string;
  readonly #heartbeatMs: number;
  readonly #deadMs: number;
  readonly #purgeEveryMs: number;
  readonly #purgeOlderMs: number;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #onView: (view: ClusterView) => void;
  readonly #onFenced: (reason: string) => void;
  readonly #table: MembershipTable;
  /** Replaced when the lease starts (see #start). */
  #monitor: FenceMonitor;
  #kv: KV | undefined;
  #sub: Subscription | undefined;
  #status: (AsyncIterable<Status> & { stop?: () => void }) | undefined;
  #watcher: QueuedIterator<KvWatchEntry> | undefined;
  #watchGen = 0;
  #resyncGen = 0;
  #timers: TimerHandle[] = [];
  #sleeps = new Map<TimerHandle, () => void>();
  /** Background work (loops, KV calls) that close() waits for. */
  #tasks = new Set<Promise<unknown>>();
  #joining: Joining | undefined;
  #stopped = false;
  #disconnected = false;
  #ownHeard = false;
  #seq = 0;
  #badInputs = 0;
  #badInputLoggedAt = -Infinity;
  /** When the last purge of delete markers started (or the lease, before the first). */
  #purgedAt = 0;
  #purging = false;

  private constructor(options: MembershipOptions & MembershipTuning) {
    const cluster = options.cluster;
    if (typeof cluster !== "string" || cluster.length === 0) {
      throw new TypeError(`Cannot join cluster: cluster ${JSON.stringify(cluster)} is empty`);
    }
    const problem = memberProblem(options.self);
    if (problem) throw new TypeError(`Cannot join cluster ${cluster}: ${problem}`);
    if (typeof options.onView !== "function" || typeof options.onFenced !== "function") {
      throw new TypeError(`Cannot join cluster ${cluster}: onView and onFenced must be functions`);
    }
    const deadMs = options.deadMs ?? DEFAULT_DEAD_MS;
    const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    if (!Number.isFinite(heartbeatMs) || heartbeatMs <= 0 || heartbeatMs >= deadMs) {
      throw new RangeError(
        `Cannot join cluster ${cluster}: heartbeatMs ${heartbeatMs} is not within 0..deadMs ${deadMs} (exclusive)`,
      );
    }
    const purgeEveryMs = options.purgeEveryMs ?? DEFAULT_PURGE_EVERY_MS;
    const purgeOlderMs = options.purgeOlderMs ?? DEFAULT_PURGE_OLDER_MS;
    if (!(purgeEveryMs > 0) || !(purgeOlderMs >= 0)) {
      throw new RangeError(
        `Cannot join cluster ${cluster}: purgeEveryMs ${purgeEveryMs} is not positive or purgeOlderMs ${purgeOlderMs} is negative`,
      );
    }
    this.#table = new MembershipTable({
      self: options.self,
      suspectMs: options.suspectMs,
      deadMs,
      stabilizeMs: options.stabilizeMs ?? DEFAULT_STABILIZE_MS,
    });
    const token = clusterToken(cluster);
    this.#nc = options.nc;
    this.#cluster = cluster;
    this.#self = Object.freeze({ ...options.self });
    this.#subject = `flashim.${token}.hb`;
    this.#bucket = registryBucket(cluster);
    this.#heartbeatMs = heartbeatMs;
    this.#deadMs = deadMs;
    this.#purgeEveryMs = purgeEveryMs;
    this.#purgeOlderMs = purgeOlderMs;
    this.#logger = options.logger ?? nullLogger;
    this.#clock = options.clock ?? systemClock;
    this.#onView = options.onView;
    this.#onFenced = options.onFenced;
    this.#monitor = new FenceMonitor({
      leaseMs: deadMs,
      checkEveryMs: heartbeatMs,
      now: this.#clock.now(),
    });
  }

  /**
   * Registers self in the KV bucket (creating it if missing), starts
   * heartbeating and watching, and resolves once the first view is applied
   * (`onView` was called with it). It waits for its own heartbeat to come
   * back and, up to 1.5 heartbeat periods, for the registered peers' first
   * heartbeats, so the first view already holds the live cluster.
   *
   * @throws {TypeError} if `cluster`, `self` or the callbacks are invalid.
   * @throws {RangeError} on bad durations (see {@linkcode MembershipTable}; `heartbeatMs` must be below `deadMs`).
   * @throws {Error} if the bucket cannot be opened or the entry written, or
   * the node would have fenced itself while joining; nothing is left running.
   */
  static async join(options: MembershipOptions & MembershipTuning): Promise<Membership> {
    const membership = new Membership(options);
    try {
      await membership.#start();
      return membership;
    } catch (error) {
      await membership.close();
      const why = error instanceof Error ? error.message : String(error);
      throw new Error(`Cannot join cluster ${options.cluster}: ${why}`, { cause: error });
    }
  }

  /** The current view (sorted members, self included). */
  get view(): ClusterView {
    return this.#table.view!;
  }

  /** Nodes currently suspected (no heartbeat for > suspectMs): senders may avoid them. */
  suspects(): ReadonlySet<string> {
    return this.#table.suspects(this.#clock.now());
  }

  /**
   * Graceful leave: publishes a leaving heartbeat so peers drop this node at
   * once (no waiting for deadMs), deletes its KV entry, then stops. Failures
   * are logged; it never rejects. Does nothing once stopped or fenced.
   */
  async leave(): Promise<void> {
    if (this.#stopped) return;
    this.#publishHeartbeat(true);
    const kv = this.#kv;
    this.#shutdown();
    try {
      // A JetStream request also flushes the leaving heartbeat published before it.
      await kv?.delete(this.#self.node);
    } catch (error) {
      this.#log("warn", "Cannot delete own registry entry on leave", { error });
    }
    await this.#settle();
  }

  /** Stops heartbeats, subscriptions and timers without leaving (for tests and shutdown paths). */
  async close(): Promise<void> {
    this.#shutdown();
    await this.#settle();
  }

  /** Calls {@linkcode Membership.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #start(): Promise<void> {
    const clock = this.#clock;
    const checkMs = this.#heartbeatMs / CHECKS_PER_HEARTBEAT;
    this.#sub = this.#nc.subscribe(this.#subject, {
      callback: (error, msg) => {
        try {
          if (error) this.#log("warn", "Heartbeat subscription failed", { error });
          else this.#onHeartbeat(msg.string());
        } catch (error) {
          this.#log("error", "Heartbeat handler failed", { error });
        }
      },
    });
    this.#watchStatus();
    this.#nc.closed().then(
      () => this.#fence("NATS connection closed"),
      () => this.#fence("NATS connection closed with an error"),
    );
    const kv = await this.#openBucket();
    await kv.put(this.#self.node, JSON.stringify(this.#self));
    if (this.#stopped) throw new Error("Membership closed while joining");
    this.#kv = kv;
    // The lease and the join deadline start now: creating the bucket may take a while.
    this.#monitor = new FenceMonitor({
      leaseMs: this.#deadMs,
      checkEveryMs: checkMs,
      now: clock.now(),
    });
    this.#purgedAt = clock.now();
    const ready = new Promise<void>((resolve, reject) => {
      this.#joining = { resolve, reject, startedAt: clock.now() };
    });
    // A fence while joining rejects `ready` before anyone awaits it.
    ready.catch(() => {});
    this.#publishHeartbeat();
    this.#timers.push(clock.setInterval(() => this.#publishHeartbeat(), this.#heartbeatMs));
    this.#timers.push(clock.setInterval(() => this.#check(), checkMs));
    await this.#startWatch(kv);
    await ready;
    this.#emitView(this.#table.publish(clock.now()));
  }

  #openBucket(): Promise<KV> {
    return new Kvm(this.#nc).create(this.#bucket, { history: 1, storage: "memory" });
  }

  async #startWatch(kv: KV): Promise<void> {
    const gen = ++this.#watchGen;
    const watcher = await kv.watch();
    if (this.#stopped || gen !== this.#watchGen) {
      watcher.stop();
      return;
    }
    this.#watcher?.stop();
    this.#watcher = watcher;
    this.#track((async () => {
      try {
        for await (const entry of watcher) {
          try {
            this.#onEntry(entry);
          } catch (error) {
            this.#log("error", "Registry entry handler failed", { error, key: entry.key });
          }
        }
      } catch (error) {
        this.#log("warn", "Registry watch failed", { error });
      }
      if (!this.#stopped && gen === this.#watchGen) {
        this.#log("warn", "Registry watch ended; resynchronizing");
        this.#resync();
      }
    })());
  }

  #onEntry(entry: KvWatchEntry): void {
    if (this.#stopped) return;
    const now = this.#clock.now();
    if (entry.operation === "PUT") {
      let member: unknown;
      try {
        member = JSON.parse(entry.string());
      } catch {
        member = undefined;
      }
      const problem = memberProblem(member) ??
        ((member as ClusterMember).node !== entry.key ? "value names another node" : undefined);
      if (problem) this.#badInput("registry entry", problem);
      else this.#table.registered(member as ClusterMember, now);
    } else if (entry.key === this.#self.node) {
      this.#fence("Own registry entry was deleted by a peer (declared dead)");
      return;
    } else {
      this.#table.unregistered(entry.key, now);
    }
    // The watcher marks the last entry of its initial snapshot as the first update.
    if (entry.isUpdate && this.#joining && this.#joining.snapshotAt === undefined) {
      this.#joining.snapshotAt = now;
      this.#maybeReady(now);
    }
  }

  #onHeartbeat(text: string): void {
    if (this.#stopped) return;
    let beat: unknown;
    try {
      beat = JSON.parse(text);
    } catch {
      this.#badInput("heartbeat", "not JSON");
      return;
    }
    const problem = heartbeatProblem(beat);
    if (problem) {
      this.#badInput("heartbeat", problem);
      return;
    }
    const { node, since, seq, leaving } = beat as Heartbeat;
    const now = this.#clock.now();
    if (node === this.#self.node) {
      if (since !== this.#self.since) return;
      this.#monitor.ownHeartbeat(now);
      this.#ownHeard = true;
      this.#maybeReady(now);
    } else if (leaving) {
      this.#table.left(node, now);
      this.#log("info", "Member leaving", { member: node });
    } else {
      this.#table.heartbeat(node, now, seq);
    }
  }

  #publishHeartbeat(leaving = false): void {
    // Skipped while disconnected: the client would buffer them and peers would
    // get stale heartbeats after the reconnect.
    if (this.#stopped || this.#disconnected) return;
    try {
      const { node, workers, since } = this.#self;
      const beat: Heartbeat = leaving
        ? { node, workers, since, seq: ++this.#seq, leaving }
        : { node, workers, since, seq: ++this.#seq };
      this.#nc.publish(this.#subject, JSON.stringify(beat));
    } catch (error) {
      this.#log("debug", "Cannot publish heartbeat", { error });
    }
  }

  #check(): void {
    try {
      if (this.#stopped) return;
      const now = this.#clock.now();
      const reason = this.#monitor.check(now);
      if (reason) {
        this.#fence(reason);
        return;
      }
      this.#maybeReady(now);
      const step = this.#table.tick(now);
      if (step.view && !this.#joining) this.#emitView(step.view);
      const kv = this.#kv;
      for (const node of step.expired) {
        if (!kv || this.#disconnected) break;
        this.#log("info", "Deleting registry entry of dead member", { member: node });
        this.#track(
          kv.delete(node).catch((error) => {
            this.#log("warn", "Cannot delete registry entry of dead member", {
              member: node,
              error,
            });
          }),
        );
      }
      this.#maybePurge(now);
    } catch (error) {
      this.#log("error", "Membership check failed", { error });
    }
  }

  /**
   * The cleanup leader purges old delete markers every `purgeEveryMs`: each departed node
   * leaves one, and node ids are never reused, so they would pile up forever. On a timer
   * rather than after deletes: graceful leaves and fenced nodes delete their own entries.
   * One purge at a time; a failure is logged and retried next period. A purge is given up
   * after `deadMs`: `purgeDeletes` (nats.js kv 3.4) can hang for ~30 s when an entry
   * changes while it reads the bucket, and close() must not wait for that.
   */
  #maybePurge(now: number): void {
    // `purgeDeletes` is on the bucket class, not on the `KV` interface `Kvm` returns.
    const kv = this.#kv;
    if (!(kv instanceof Bucket) || this.#disconnected || this.#joining || this.#purging) return;
    if (now - this.#purgedAt < this.#purgeEveryMs) return;
    if (this.#table.members(now)[0].node !== this.#self.node) return;
    this.#purgedAt = now;
    this.#purging = true;
    const purge = kv.purgeDeletes(this.#purgeOlderMs).then(
      ({ purged }) => {
        this.#log(purged > 0 ? "info" : "debug", "Purged registry delete markers", { purged });
      },
      (error) => this.#log("warn", "Cannot purge registry delete markers", { error }),
    );
    const deadline = this.#timer(this.#deadMs);
    let finished = false;
    this.#track(
      Promise.race([purge.then(() => finished = true), deadline.elapsed]).finally(() => {
        this.#purging = false;
        deadline.cancel();
        if (!finished && !this.#stopped) {
          this.#log("warn", "Registry purge did not finish in time; retrying next period", {
            timeoutMs: this.#deadMs,
          });
        }
      }),
    );
  }

  #maybeReady(now: number): void {
    const joining = this.#joining;
    if (!joining) return;
    if (joining.snapshotAt === undefined || !this.#ownHeard) {
      // The fence monitor bounds the wait for own heartbeats; this bounds the snapshot.
      if (now - joining.startedAt > this.#deadMs) {
        this.#fence(`Registry snapshot not received within ${this.#deadMs} ms`);
      }
      return;
    }
    if (
      this.#table.unheard().length === 0 ||
      now - joining.snapshotAt >= JOIN_WAIT_HEARTBEATS * this.#heartbeatMs
    ) {
      this.#joining = undefined;
      joining.resolve();
    }
  }

  #watchStatus(): void {
    const status = this.#nc.status() as AsyncIterable<Status> & { stop?: () => void };
    this.#status = status;
    this.#track((async () => {
      try {
        for await (const event of status) {
          try {
            this.#onStatus(event);
          } catch (error) {
            this.#log("error", "Connection status handler failed", { error });
          }
        }
      } catch (error) {
        this.#log("warn", "Connection status watch failed", { error });
      }
    })());
  }

  #onStatus(event: Status): void {
    if (this.#stopped) return;
    const now = this.#clock.now();
    if (event.type === "disconnect") {
      this.#disconnected = true;
      this.#monitor.disconnected(now);
      this.#log("warn", "NATS disconnected");
    } else if (event.type === "reconnect") {
      this.#disconnected = false;
      this.#monitor.reconnected(now);
      this.#log("info", "NATS reconnected; resynchronizing the registry");
      this.#publishHeartbeat();
      this.#resync();
    }
  }

  /**
   * Re-creates the bucket if the server lost it, re-puts own entry and
   * restarts the watch; retried with backoff until it works or a newer
   * resync or a stop supersedes it.
   */
  #resync(): void {
    const gen = ++this.#resyncGen;
    const current = () => !this.#stopped && gen === this.#resyncGen;
    this.#track((async () => {
      for (let attempt = 0; current(); attempt++) {
        try {
          const kv = await this.#openBucket();
          const own = await kv.get(this.#self.node);
          if (!current()) return;
          if (own && own.operation !== "PUT") {
            this.#fence("Own registry entry was deleted by a peer (found on reconnect)");
            return;
          }
          await kv.put(this.#self.node, JSON.stringify(this.#self));
          if (!current()) return;
          this.#kv = kv;
          await this.#startWatch(kv);
          this.#log("info", "Registry resynchronized", { attempt });
          return;
        } catch (error) {
          this.#log("warn", "Cannot resynchronize the registry; retrying", { attempt, error });
          await this.#sleep(Math.min(this.#heartbeatMs * 2 ** attempt, this.#deadMs));
        }
      }
    })());
  }

  #fence(reason: string): void {
    if (this.#stopped) return;
    const kv = this.#kv;
    const reachable = !this.#disconnected && !this.#nc.isClosed();
    const joining = this.#joining;
    this.#joining = undefined;
    this.#shutdown();
    this.#log("warn", "Fencing this node", { reason });
    if (kv && reachable) {
      this.#track(
        kv.delete(this.#self.node).catch((error) => {
          this.#log("debug", "Cannot delete own registry entry after fencing", { error });
        }),
      );
    }
    if (joining) {
      joining.reject(new Error(reason));
      return;
    }
    try {
      this.#onFenced(reason);
    } catch (error) {
      this.#log("error", "onFenced failed", { error });
    }
  }

  /** Stops everything synchronously; in-flight work settles in #tasks. */
  #shutdown(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const handle of this.#timers) this.#clock.clearInterval(handle);
    this.#timers = [];
    for (const [handle, wake] of this.#sleeps) {
      this.#clock.clearTimeout(handle);
      wake();
    }
    this.#sleeps.clear();
    this.#watchGen++;
    this.#resyncGen++;
    for (
      const stop of [
        () => this.#sub?.unsubscribe(),
        () => this.#watcher?.stop(),
        () => this.#status?.stop?.(),
      ]
    ) {
      try {
        stop();
      } catch (error) {
        this.#log("debug", "Cannot stop a subscription", { error });
      }
    }
    this.#joining?.reject(new Error("Membership closed while joining"));
    this.#joining = undefined;
  }

  async #settle(): Promise<void> {
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
  }

  #track(task: Promise<unknown>): void {
    this.#tasks.add(task);
    task.finally(() => this.#tasks.delete(task)).catch(() => {});
  }

  #sleep(ms: number): Promise<void> {
    return this.#timer(ms).elapsed;
  }

  /** A sleep that `#shutdown` ends early and `cancel` ends at once (both resolve it). */
  #timer(ms: number): { elapsed: Promise<void>; cancel: () => void } {
    let cancel = () => {};
    const elapsed = new Promise<void>((resolve) => {
      const handle = this.#clock.setTimeout(() => {
        this.#sleeps.delete(handle);
        resolve();
      }, ms);
      this.#sleeps.set(handle, resolve);
      cancel = () => {
        this.#clock.clearTimeout(handle);
        this.#sleeps.delete(handle);
        resolve();
      };
    });
    return { elapsed, cancel };
  }

  #emitView(view: ClusterView): void {
    this.#log("info", "Cluster view changed", {
      version: view.version,
      view: view.id,
      members: view.members.length,
    });
    try {
      this.#onView(view);
    } catch (error) {
      this.#log("error", "onView failed", { error });
    }
  }

  #badInput(what: string, problem: string): void {
    this.#badInputs++;
    const now = this.#clock.now();
    if (now - this.#badInputLoggedAt < BAD_INPUT_LOG_EVERY_MS) return;
    this.#log("warn", `Ignoring bad ${what}`, { problem, ignored: this.#badInputs });
    this.#badInputs = 0;
    this.#badInputLoggedAt = now;
  }

  #log(level: LogLevel, message: string, fields: LogFields = {}): void {
    try {
      this.#logger.log(level, message, {
        cluster: this.#cluster,
        node: this.#self.node,
        ...fields,
      });
    } catch {
      // A failing logger must not take membership down.
    }
  }
}

function heartbeatProblem(value: unknown): string | undefined {
  const problem = memberProblem(value);
  if (problem) return problem;
  const { seq, leaving } = value as Record<string, unknown>;
  if (!Number.isSafeInteger(seq) || (seq as number) < 0) {
    return `seq ${seq} is not a non-negative integer`;
  }
  if (leaving !== undefined && typeof leaving !== "boolean") {
    return `leaving ${leaving} is not a boolean`;
  }
  return undefined;
}

/** A cluster name as it appears in subjects and bucket names. */
function clusterToken(cluster: string): string {
  return cluster.replace(/[^-_A-Za-z0-9]/g, "_");
}

/** The JetStream KV bucket that is `cluster`'s membership registry. */
function registryBucket(cluster: string): string {
  return `flashim_${clusterToken(cluster)}_members`;
}

/**
 * Deletes `cluster`'s membership registry (its KV bucket) from the NATS server: for tests
 * and benchmarks that start throwaway clusters on a shared server. A cluster whose bucket
 * does not exist is already gone. Do not call it while members are running.
 *
 * @example
 * ```ts
 * await deleteMembershipRegistry(nc, "e2e-1a2b3c4d");
 * ```
 */
export async function deleteMembershipRegistry(
  nc: NatsConnection,
  cluster: string,
): Promise<void> {
  try {
    await new Kvm(nc).open(registryBucket(cluster)).then((kv) => kv.destroy());
  } catch (error) {
    if (!/not found/i.test(String(error))) throw error;
  }
}
