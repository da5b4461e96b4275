/**
 * The actor system of one worker: registry of kinds, cells, scheduling, supervision,
 * virtual activation and passivation, asks, and routing to other workers.
 *
 * @module
 */

import type { Actor, AskOptions, KindOptions, StopReason } from "./actor.ts";
import { Delivery } from "./actor.ts";
import { restartPolicy, RestartTracker } from "./backoff.ts";
import { Cell, type CellHost, isThenable, type Kind } from "./_cell.ts";
import { type Clock, systemClock, type TimerHandle } from "./clock.ts";
import type { Envelope, Reply, SystemBody, WireMessage } from "./envelope.ts";
import { isReply } from "./envelope.ts";
import {
  ActorFailedError,
  AskTimeoutError,
  DeadLetterError,
  fromErrorData,
  MailboxFullError,
  NotOwnerError,
  ShutdownError,
  toErrorData,
} from "./errors.ts";
import { type Logger, nullLogger } from "./logger.ts";
import { type MetricsSnapshot, RuntimeMetrics } from "./metrics.ts";
import { Placement } from "./placement.ts";
import {
  type ActorRef,
  type BoundRef,
  isBound,
  type Location,
  refKey,
  type VirtualRef,
  virtualRef,
} from "./ref.ts";
import { TimerWheel } from "./timer_wheel.ts";
import type { Transport, TransportSink } from "./transport.ts";
import { setImmediate } from "node:timers";

/** A kind whose actors kept failing past their intensity, reported to the root. */
export interface Escalation {
  readonly kind: string;
  readonly ref: ActorRef;
  readonly error: unknown;
}

/** Options of an {@link ActorSystem}; every one has a default. */
export interface ActorSystemOptions {
  /** Node identity (with incarnation). Default `"local"`. */
  readonly node?: string;
  /** This worker's index on its node; `-1` for a node's main thread. Default 0. */
  readonly worker?: number;
  /** Workers on this node, for the default placement. Default 1. */
  readonly workers?: number;
  /** Where a virtual actor lives. Default: rendezvous over this node's workers. */
  readonly locate?: (ref: VirtualRef) => Location;
  /**
   * Kinds whose virtual actors the default placement puts on the node's main thread
   * (worker `-1`) instead of a worker. A replacing `locate` (a cluster view) ignores it.
   */
  readonly mainKinds?: readonly string[];
  /** Carries messages to other workers and nodes. Without it they are dead letters. */
  readonly transport?: Transport;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Cap on resident virtual actors; past it the least recently used passivate. Default 100_000. */
  readonly maxResidents?: number;
  /** Clone same-worker bodies with `structuredClone` (catches shared mutable state in tests). */
  readonly cloneLocal?: boolean;
  /** Idle sweep granularity in ms. Default 1000. */
  readonly sweepMs?: number;
  /** Messages handled per scheduling round before yielding to I/O. Default 4096. */
  readonly sliceBudget?: number;
  /** Root supervisor: a kind whose actors fail past its escalation limit. Default logs. */
  readonly onEscalate?: (escalation: Escalation) => void;
  /** First local number of bound refs (distinct per worker incarnation). Default 0. */
  readonly localBase?: number;
  /** Shards of the default placement. */
  readonly shards?: number;
  readonly random?: () => number;
}

interface PendingAsk {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: number;
}

const DEFAULT_CAPACITY = 1024;
const DEFAULT_IDLE_MS = 300_000;
const EVICTION_SCAN = 64;
/** How soon a moving actor with work in flight is asked again whether it can go. */
const MOVE_RETRY_MS = 20;
/** Misrouted messages held at once while views settle; past it they are forwarded at once. */
const MAX_HELD = 10_000;

/**
 * The actors of one worker. Messages to an actor are handled one at a time (a turn
 * includes the handler's awaits); mailboxes are bounded; failures are supervised.
 *
 * @example
 * ```ts
 * const system = new ActorSystem();
 * system.register("counter", {
 *   virtual: true,
 *   create: () => {
 *     let n = 0;
 *     return { receive: (m: { add: number }) => (n += m.add) };
 *   },
 * });
 * await system.ask(virtualRef("counter", "a"), { add: 2 }, { timeoutMs: 1000 }); // 2
 * ```
 */
export class ActorSystem implements TransportSink, CellHost, AsyncDisposable {
  readonly node: string;
  readonly worker: number;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly #metrics = new RuntimeMetrics();
  readonly #kinds = new Map<string, Kind>();
  readonly #cells = new Map<string, Cell>();
  /** Virtual residents, least recently used first. */
  readonly #virtual = new Map<string, Cell>();
  readonly #pending = new Map<number, PendingAsk>();
  readonly #keys = new WeakMap<ActorRef, string>();
  #locations = new WeakMap<VirtualRef, Location>();
  /** See `setLocate`: 0 forwards misrouted messages at once. */
  #holdMs = 0;
  #held: { readonly env: Envelope; readonly until: number }[] = [];
  #holdTimer: TimerHandle | undefined;
  readonly #wheel: TimerWheel<Cell>;
  #locate: (ref: VirtualRef) => Location;
  readonly #transport: Transport | undefined;
  readonly #options: ActorSystemOptions;
  readonly #maxResidents: number;
  readonly #sliceBudget: number;
  readonly #random: () => number;
  #ready: (Cell | undefined)[] = [];
  #readyHead = 0;
  #drainScheduled = false;
  #now: number;
  #askSeq = 0;
  #nextLocal: number;
  #passivatingCount = 0;
  #mostRecent: Cell | undefined;
  #sweepTimer: number | undefined;
  #closed = false;
  #deadLetterLog = { windowStart: 0, logged: 0, suppressed: 0 };
  #drainWaiters: (() => void)[] = [];

  constructor(options: ActorSystemOptions = {}) {
    this.#options = options;
    this.node = options.node ?? "local";
    this.worker = options.worker ?? 0;
    this.logger = options.logger ?? nullLogger;
    this.clock = options.clock ?? systemClock;
    this.#transport = options.transport;
    this.#maxResidents = positive("maxResidents", options.maxResidents ?? 100_000);
    this.#sliceBudget = positive("sliceBudget", options.sliceBudget ?? 4096);
    this.#random = options.random ?? Math.random;
    this.#nextLocal = options.localBase ?? 0;
    this.#now = this.clock.now();
    this.#wheel = new TimerWheel<Cell>({ tickMs: positive("sweepMs", options.sweepMs ?? 1000) });
    this.#locate = options.locate ?? defaultLocate(this.node, options);
  }

  /**
   * Registers a kind of actor.
   *
   * @throws {TypeError} if the kind is already registered.
   * @throws {RangeError} if an option is invalid (e.g. `capacity` 0, a bad restart policy).
   */
  register<M>(kind: string, options: KindOptions<M>): void {
    virtualRef(kind, "x"); // validates the kind name like every ref will
    if (this.#kinds.has(kind)) {
      throw new TypeError(`Cannot register kind ${kind}: already registered`);
    }
    const escalation = options.escalation ?? { maxFailures: 10, withinMs: 60_000 };
    this.#kinds.set(kind, {
      name: kind,
      options: options as KindOptions,
      virtual: options.virtual ?? false,
      temporary: options.temporary ?? false,
      capacity: positive("capacity", options.capacity ?? DEFAULT_CAPACITY),
      overflow: options.overflow ?? "reject",
      restart: restartPolicy(options.restart),
      idleMs: positive("idleMs", options.idleMs ?? DEFAULT_IDLE_MS),
      throughput: positive("throughput", options.throughput ?? 64),
      escalations: new RestartTracker(
        restartPolicy({ maxRestarts: escalation.maxFailures, withinMs: escalation.withinMs }),
      ),
    });
  }

  /** Sends a message. Same-worker results are exact; other workers report `sent`. */
  tell<M>(to: ActorRef<M>, body: M): Delivery {
    return this.#route({ to, body });
  }

  /** @internal Used by actor contexts: a tell that names its sender. */
  send(to: ActorRef, body: unknown, from: ActorRef): Delivery {
    return this.#route({ to, body, from });
  }

  /** @internal Used by actor contexts: see {@link ActorContext.schedule}. */
  schedule(self: ActorRef, body: unknown): boolean {
    const cell = this.#cells.get(this.#key(self));
    if (cell === undefined || cell.state === "stopped") return false;
    const wrapped: SystemBody = { $: "self", body };
    if (!cell.mailbox.pushSystem({ to: self, body: wrapped, system: true })) return false;
    this.#schedule(cell);
    return true;
  }

  /**
   * Sends a message and resolves with the value the target's `receive` returned.
   *
   * @throws {RangeError} if `timeoutMs` is not a positive finite number.
   * Rejects with `AskTimeoutError`, `MailboxFullError`, `DeadLetterError`, `ActorFailedError`.
   */
  ask<R, M = unknown>(to: ActorRef<M>, body: M, options: AskOptions): Promise<R> {
    const timeoutMs = options?.timeoutMs;
    if (!(typeof timeoutMs === "number" && timeoutMs > 0 && Number.isFinite(timeoutMs))) {
      throw new RangeError(
        `Cannot ask ${refKey(to)}: timeoutMs ${timeoutMs} is not a positive number`,
      );
    }
    if (this.#closed) {
      return Promise.reject(new ShutdownError("Cannot ask: actor system is shut down"));
    }
    const id = ++this.#askSeq;
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    const timer = this.clock.setTimeout(() => {
      this.#pending.delete(id);
      this.#metrics.inc("asksTimedOut");
      reject(new AskTimeoutError(`Ask to ${refKey(to)} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    this.#pending.set(id, { resolve, reject, timer });
    try {
      this.#route({ to, body, reply: { node: this.node, worker: this.worker, id } });
    } catch (error) {
      // E.g. an uncloneable body: the caller gets the error, so the pending ask must go,
      // or its timeout would later reject a promise nobody holds (an unhandled rejection).
      this.clock.clearTimeout(timer);
      this.#pending.delete(id);
      throw error;
    }
    return promise as Promise<R>;
  }

  /** Starts a location-bound actor of a registered (non-virtual) kind on this worker. */
  spawn<M = unknown>(kind: string, init?: unknown): BoundRef<M> {
    const k = this.#kinds.get(kind);
    if (!k || k.virtual) throw new TypeError(`Cannot spawn ${kind}: not a registered bound kind`);
    if (this.#closed) throw new ShutdownError(`Cannot spawn ${kind}: actor system is shut down`);
    const ref: BoundRef<M> = {
      kind,
      node: this.node,
      worker: this.worker,
      local: ++this.#nextLocal,
    };
    const cell = new Cell(this, k, ref, refKey(ref), init);
    this.#cells.set(cell.key, cell);
    this.#start(cell);
    return ref;
  }

  /**
   * Stops an actor after its current turn: the request takes the priority lane, so messages
   * still queued are dead-lettered. Virtual actors passivate instead (queued messages go to
   * a fresh activation).
   */
  stop(ref: ActorRef): Delivery {
    return this.#route({ to: ref, body: { $: "stop" } satisfies SystemBody, system: true });
  }

  /**
   * Places virtual actors with `locate` from now on (a new cluster view). Resident actors
   * that now belong elsewhere passivate (their state is durable; whatever is queued for
   * them goes on to the new owner). A message that arrives for an actor this worker does
   * not own is held up to `holdMs` (views change on different nodes at slightly different
   * moments: ours may be the late one), then forwarded once to the owner we know, then
   * refused with `NotOwnerError`.
   */
  setLocate(locate: (ref: VirtualRef) => Location, options: { holdMs?: number } = {}): void {
    this.#locate = locate;
    this.#locations = new WeakMap();
    if (options.holdMs !== undefined) this.#holdMs = options.holdMs;
    for (const cell of [...this.#virtual.values()]) {
      if (!this.#owns(cell.self as VirtualRef) && cell.state !== "stopping") {
        this.#requestPassivation(cell, "moved");
      }
    }
    // What waited for this view: delivered here if ours now, else passed on.
    this.#releaseHeld(Infinity);
  }

  /** Whether a virtual actor belongs on this worker under the current placement. */
  #owns(ref: VirtualRef): boolean {
    const loc = this.locate(ref);
    return loc.worker === this.worker && loc.node === this.node;
  }

  /** Where a ref's actor lives. */
  locate(ref: ActorRef): Location {
    if (isBound(ref)) return ref;
    // Hashing `kind/id` costs a string and a pass over it; refs are usually reused
    // objects (an actor's peers, a batch's deduplicated refs), so cache by identity.
    // `locate` is fixed for the system's life today; when placement follows a changing
    // cluster view, this cache must be dropped with each new view.
    let location = this.#locations.get(ref);
    if (location === undefined) this.#locations.set(ref, location = this.#locate(ref));
    return location;
  }

  /** `refKey`, cached by ref identity (a string built per message is the hot path's cost). */
  #key(ref: ActorRef): string {
    let key = this.#keys.get(ref);
    if (key === undefined) this.#keys.set(ref, key = refKey(ref));
    return key;
  }

  /** The virtual actors of `kind` resident on this worker now (a snapshot). */
  residents(kind: string): VirtualRef[] {
    const refs: VirtualRef[] = [];
    for (const cell of this.#virtual.values()) {
      if (cell.self.kind === kind && cell.state !== "stopping") refs.push(cell.self as VirtualRef);
    }
    return refs;
  }

  /** True when an actor with this ref is resident on this worker. */
  isResident(ref: ActorRef): boolean {
    return this.#cells.has(refKey(ref));
  }

  /** Counters and gauges of this worker. */
  metrics(): MetricsSnapshot {
    let queued = 0;
    for (const cell of this.#cells.values()) queued += cell.mailbox.size;
    return { ...this.#metrics.counts, residents: this.#cells.size, queued };
  }

  /** Handles a message from a transport. */
  receive(message: WireMessage): void {
    if (isReply(message)) this.#settle(message);
    else if (isBound(message.to) || this.#owns(message.to)) this.#deliverLocal(message);
    else if (this.#holdMs > 0 && this.#held.length < MAX_HELD) this.#hold(message);
    else this.#misrouted(message);
  }

  /** Keeps a misrouted message until the view changes or `holdMs` passes. */
  #hold(env: Envelope): void {
    this.#held.push({ env, until: this.clock.now() + this.#holdMs });
    if (this.#holdTimer === undefined) this.#armHold();
  }

  /** Delivers or forwards the held messages whose time is up (`now`), in arrival order. */
  #releaseHeld(now: number): void {
    const held = this.#held;
    let kept = 0;
    for (let i = 0; i < held.length; i++) {
      const entry = held[i]!;
      if (this.#owns(entry.env.to as VirtualRef)) this.#deliverLocal(entry.env);
      else if (entry.until <= now) this.#misrouted(entry.env);
      else held[kept++] = entry;
    }
    held.length = kept;
    this.#armHold();
  }

  /** Sets the hold timer for the oldest held message (none when nothing is held). */
  #armHold(): void {
    if (this.#holdTimer !== undefined) this.clock.clearTimeout(this.#holdTimer);
    this.#holdTimer = undefined;
    if (this.#held.length === 0) return;
    this.#holdTimer = this.clock.setTimeout(() => {
      this.#holdTimer = undefined;
      this.#releaseHeld(this.clock.now());
    }, Math.max(1, this.#held[0]!.until - this.clock.now()));
  }

  /**
   * A message for a virtual actor this worker does not own (the sender's view is older or
   * newer than ours): passed on once to the owner we know, then refused.
   */
  #misrouted(env: Envelope): Delivery {
    const loc = this.locate(env.to);
    if (!env.forwarded && this.#transport?.send(loc, { ...env, forwarded: true })) {
      this.#metrics.inc("messagesForwarded");
      return Delivery.Sent;
    }
    this.#metrics.inc("notOwner");
    this.#bounce(
      env,
      new NotOwnerError(
        `Cannot deliver to ${refKey(env.to)}: ${this.node}/${this.worker} does not own it`,
      ),
    );
    return Delivery.Rejected;
  }

  /** Runs the idle sweep now (normally a timer does). */
  sweep(): void {
    const now = this.#now = this.clock.now();
    for (const cell of this.#wheel.due(now)) {
      if (this.#virtual.get(cell.key) !== cell) continue;
      const deadline = cell.lastActive + cell.kind.idleMs;
      if (deadline > now) this.#wheel.schedule(cell, deadline);
      else if (cell.state !== "idle" || cell.passivating) {
        this.#wheel.schedule(cell, now + cell.kind.idleMs);
      } else this.#requestPassivation(cell, "idle");
    }
  }

  /** Resolves when no actor has work queued or running (for tests and shutdown). */
  idle(): Promise<void> {
    if (this.#quiet()) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#drainWaiters.push(resolve);
    return promise;
  }

  /**
   * Stops every actor (running `stopped` hooks), fails pending asks, stops timers.
   * Actors still busy after `timeoutMs` are dropped and their mailboxes dead-lettered.
   */
  async shutdown(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#sweepTimer !== undefined) this.clock.clearInterval(this.#sweepTimer);
    if (this.#holdTimer !== undefined) this.clock.clearTimeout(this.#holdTimer);
    this.#holdTimer = undefined;
    for (const { env } of this.#held.splice(0)) this.#deadLetter(env, "shutting down");
    for (const cell of [...this.#cells.values()]) {
      // A crashed actor waiting to restart has no instance to stop (no `stopped` hook runs
      // after a crash); waiting for its restart would hold shutdown for the whole backoff.
      if (cell.state === "backoff") {
        this.#finish(cell, "shutdown");
        continue;
      }
      cell.mailbox.pushSystem({ to: cell.self, body: { $: "stop" }, system: true });
      this.#schedule(cell);
    }
    // Real time on purpose: a fake clock in tests must not make shutdown spin forever.
    const deadline = Date.now() + (options.timeoutMs ?? 5000);
    while (this.#cells.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    for (const cell of [...this.#cells.values()]) this.#finish(cell, "shutdown");
    for (const [id, pending] of this.#pending) {
      this.clock.clearTimeout(pending.timer);
      pending.reject(new ShutdownError("Ask abandoned: actor system is shut down"));
      this.#pending.delete(id);
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  // ---- routing and delivery ----------------------------------------------------------

  #route(env: Envelope): Delivery {
    const loc = this.locate(env.to);
    if (loc.worker === this.worker && loc.node === this.node) {
      return this.#deliverLocal(
        this.#options.cloneLocal ? { ...env, body: structuredClone(env.body) } : env,
      );
    }
    if (this.#transport?.send(loc, env)) {
      this.#metrics.inc("messagesSentRemote");
      return Delivery.Sent;
    }
    return this.#deadLetter(env, `no route to ${loc.node}/${loc.worker}`);
  }

  #deliverLocal(env: Envelope): Delivery {
    const key = this.#key(env.to);
    let cell = this.#cells.get(key);
    if (cell === undefined) {
      if (env.system) {
        const body = env.body as SystemBody;
        // Stopping or passivating an actor that is not there is already done.
        if (body.$ === "stop" || body.$ === "passivate") return Delivery.Delivered;
        return this.#deadLetter(env, "no such actor");
      }
      const kind = this.#kinds.get(env.to.kind);
      if (kind === undefined || !kind.virtual || isBound(env.to) || this.#closed) {
        return this.#deadLetter(env, this.#closed ? "shutting down" : "no such actor");
      }
      cell = this.#activate(kind, env.to, key);
    }
    if (env.system) {
      if (!cell.mailbox.pushSystem(env)) return this.#deadLetter(env, "system lane full");
    } else if (!cell.mailbox.push(env)) {
      return this.#overflow(cell, env);
    }
    this.#metrics.inc("messagesDelivered");
    this.#schedule(cell);
    return Delivery.Delivered;
  }

  #overflow(cell: Cell, env: Envelope): Delivery {
    const policy = cell.kind.overflow;
    if (policy === "dropOldest") {
      const dropped = cell.mailbox.shiftUser();
      cell.mailbox.push(env);
      this.#metrics.inc("overflowDropped");
      if (dropped) this.#deadLetter(dropped, "dropped oldest: mailbox full");
      this.#metrics.inc("messagesDelivered");
      this.#schedule(cell);
      return Delivery.Delivered;
    }
    if (policy === "reject") this.#metrics.inc("overflowRejected");
    else {
      this.#metrics.inc("overflowCallback");
      try {
        policy({ ref: cell.self, envelope: env, queued: cell.mailbox.userSize });
      } catch (error) {
        this.logger.log("error", "Overflow callback threw", { actor: cell.key, error });
      }
    }
    this.#bounce(
      env,
      new MailboxFullError(`Mailbox of ${cell.key} is full (${cell.kind.capacity})`),
    );
    return Delivery.Rejected;
  }

  /** Tells a rejected message's asker or sending actor; never silent. */
  #bounce(env: Envelope, error: Error): void {
    if (env.reply) this.#replyError(env, error);
    else if (env.from && !env.system) {
      const body: SystemBody = {
        $: "undelivered",
        to: env.to,
        body: env.body,
        reason: error.message,
      };
      this.#route({ to: env.from, body, system: true });
    }
  }

  #deadLetter(env: Envelope, reason: string): Delivery {
    this.#metrics.inc("deadLetters");
    if (env.reply) {
      this.#replyError(env, new DeadLetterError(`Cannot deliver to ${refKey(env.to)}: ${reason}`));
    } else if (env.from && !env.system) this.#bounce(env, new DeadLetterError(reason));
    // At most 10 log lines per second: a flood of dead letters must not become a log flood.
    const log = this.#deadLetterLog;
    const now = this.clock.now();
    if (now - log.windowStart >= 1000) {
      if (log.suppressed > 0) {
        this.logger.log("warn", "Dead letters suppressed", { count: log.suppressed });
      }
      log.windowStart = now;
      log.logged = 0;
      log.suppressed = 0;
    }
    if (log.logged++ < 10) this.logger.log("warn", "Dead letter", { to: refKey(env.to), reason });
    else log.suppressed++;
    return Delivery.Dead;
  }

  #replyError(env: Envelope, error: Error): void {
    this.#reply(env, { replyTo: env.reply!.id, ok: false, error: toErrorData(error) });
  }

  #reply(env: Envelope, reply: Reply): void {
    const to = env.reply!;
    if (to.worker === this.worker && to.node === this.node) {
      this.#settle(reply);
      return;
    }
    let sent = false;
    try {
      sent = this.#transport?.send(to, reply) ?? false;
    } catch (error) {
      // E.g. a reply value that cannot be cloned: the asker times out; say why here.
      this.logger.log("warn", "Reply could not be sent", { to: `${to.node}/${to.worker}`, error });
    }
    if (!sent) this.#metrics.inc("deadLetters");
  }

  #settle(reply: Reply): void {
    const pending = this.#pending.get(reply.replyTo);
    if (pending === undefined) return; // timed out already: the late answer is dropped
    this.#pending.delete(reply.replyTo);
    this.clock.clearTimeout(pending.timer);
    if (reply.ok) pending.resolve(reply.value);
    else pending.reject(fromErrorData(reply.error!));
  }

  // ---- scheduling and turns ----------------------------------------------------------

  #schedule(cell: Cell): void {
    if (cell.state !== "idle") return;
    cell.state = "ready";
    this.#ready.push(cell);
    if (!this.#drainScheduled) {
      this.#drainScheduled = true;
      queueMicrotask(this.#drain);
    }
  }

  #drain = (): void => {
    this.#now = this.clock.now();
    let budget = this.#sliceBudget;
    while (this.#readyHead < this.#ready.length && budget > 0) {
      const cell = this.#ready[this.#readyHead]!;
      this.#ready[this.#readyHead++] = undefined;
      budget -= this.#runSlice(cell);
    }
    if (this.#readyHead >= this.#ready.length) {
      this.#ready = [];
      this.#readyHead = 0;
      this.#drainScheduled = false;
      if (this.#drainWaiters.length > 0 && this.#quiet()) {
        for (const resolve of this.#drainWaiters.splice(0)) resolve();
      }
    } else {
      // Out of budget: a macrotask lets sockets and timers in before the next round.
      setImmediate(this.#drain);
    }
  };

  #quiet(): boolean {
    if (this.#readyHead < this.#ready.length) return false;
    for (const cell of this.#cells.values()) {
      if (cell.state !== "idle" || cell.mailbox.size > 0) return false;
    }
    return true;
  }

  /** Runs up to `throughput` messages of one actor; returns how many it took. */
  #runSlice(cell: Cell): number {
    cell.state = "running";
    cell.lastActive = this.#now;
    if (cell.kind.virtual && this.#mostRecent !== cell) {
      // Exact LRU order: move to the back once per slice, not per message.
      this.#virtual.delete(cell.key);
      this.#virtual.set(cell.key, cell);
      this.#mostRecent = cell;
    }
    const max = cell.kind.throughput;
    let n = 0;
    while (n < max) {
      const env = cell.mailbox.shift();
      if (env === undefined) break;
      n++;
      // A completion the actor scheduled for itself: handled like any message, but it
      // came through the priority lane, so a full mailbox could not refuse it.
      const body = env.system && (env.body as SystemBody).$ === "self"
        ? (env.body as { readonly body: unknown }).body
        : env.body;
      if (env.system && body === env.body) {
        if (!this.#handleSystem(cell, env)) return n;
        // A sync hook (undelivered) may have called ctx.stop().
        if (cell.stopRequested) {
          this.#stopCell(cell, "stopped");
          return n;
        }
        continue;
      }
      this.#metrics.inc("messagesProcessed");
      cell.sender = env.from;
      let result: unknown;
      try {
        result = cell.actor!.receive(body, cell);
      } catch (error) {
        this.#fail(cell, error, env);
        return n;
      }
      if (isThenable(result)) {
        result.then(
          (value) => {
            if (env.reply) this.#reply(env, { replyTo: env.reply.id, ok: true, value });
            this.#endTurn(cell);
          },
          (error) => this.#fail(cell, error, env),
        );
        return n;
      }
      if (env.reply) this.#reply(env, { replyTo: env.reply.id, ok: true, value: result });
      if (cell.stopRequested) {
        this.#stopCell(cell, "stopped");
        return n;
      }
    }
    this.#idleOrReady(cell);
    return n;
  }

  #endTurn(cell: Cell): void {
    if (cell.state !== "running") return;
    // Idle time counts from the end of an async turn, not from its start.
    cell.lastActive = this.clock.now();
    if (cell.stopRequested) this.#stopCell(cell, "stopped");
    else this.#idleOrReady(cell);
  }

  #idleOrReady(cell: Cell): void {
    cell.state = "idle";
    cell.sender = undefined;
    if (cell.mailbox.size > 0) this.#schedule(cell);
    else if (this.#drainWaiters.length > 0 && !this.#drainScheduled && this.#quiet()) {
      for (const resolve of this.#drainWaiters.splice(0)) resolve();
    }
  }

  /** Handles a system message in the actor's turn; false when the turn went async or ended. */
  #handleSystem(cell: Cell, env: Envelope): boolean {
    const body = env.body as SystemBody;
    switch (body.$) {
      case "stop":
        this.#stopCell(cell, this.#closed ? "shutdown" : "stopped");
        return false;
      case "passivate": {
        cell.passivating = false;
        // New work arrived after the request: the actor is not idle after all.
        // The actor may also hold something that must not be dropped (live sessions).
        // A moved actor goes whatever it holds: its new owner takes over.
        const moved = body.reason === "moved";
        if (moved && cell.actor?.canMove?.(cell) === false && !this.#closed) {
          // Work in flight: let it finish here (new messages already go to the new owner).
          this.clock.setTimeout(() => {
            if (cell.state !== "stopped" && !this.#owns(cell.self as VirtualRef)) {
              this.#requestPassivation(cell, "moved");
            }
          }, MOVE_RETRY_MS);
          return true;
        }
        const refused = body.reason !== "requested" && !moved &&
          cell.actor?.canPassivate?.(cell) === false;
        if ((cell.mailbox.userSize > 0 && !moved || refused) && !this.#closed) {
          // The sweep took the cell off the wheel to ask for this; put it back, or the
          // actor would never be passivated for idleness again. (An eviction left its
          // idle entry in place.)
          if (body.reason === "idle") {
            this.#wheel.schedule(cell, Math.max(cell.lastActive, this.#now) + cell.kind.idleMs);
          }
          return true;
        }
        this.#stopCell(cell, "passivated");
        return false;
      }
      case "self":
        return true; // unwrapped in #runSlice; never reaches here
      case "undelivered": {
        const hook = cell.actor?.undelivered;
        if (hook === undefined) {
          this.#metrics.inc("deadLetters");
          this.logger.log("warn", "Undelivered message not handled by sender", {
            actor: cell.key,
            to: refKey(body.to),
            reason: body.reason,
          });
          return true;
        }
        cell.sender = undefined;
        const report = { to: body.to, body: body.body, reason: body.reason };
        return this.#hook(
          cell,
          () => hook.call(cell.actor, cell, report),
          () => this.#endTurn(cell),
        );
      }
    }
  }

  /** Runs a hook in the actor's turn; sync hooks continue inline (returns true). */
  #hook(cell: Cell, run: () => void | Promise<void>, then: () => void): boolean {
    let result: unknown;
    try {
      result = run();
    } catch (error) {
      this.#fail(cell, error);
      return false;
    }
    if (!isThenable(result)) return true;
    result.then(then, (error) => this.#fail(cell, error));
    return false;
  }

  // ---- lifecycle -----------------------------------------------------------------------

  #activate(kind: Kind, ref: VirtualRef, key: string): Cell {
    if (this.#virtual.size - this.#passivatingCount >= this.#maxResidents) this.#evictOne();
    const cell = new Cell(this, kind, ref, key, undefined);
    cell.lastActive = this.#now = this.clock.now();
    this.#cells.set(key, cell);
    this.#virtual.set(key, cell);
    this.#mostRecent = cell;
    this.#wheel.schedule(cell, cell.lastActive + kind.idleMs);
    this.#sweepTimer ??= this.clock.setInterval(() => this.sweep(), this.#options.sweepMs ?? 1000);
    this.#metrics.inc("activations");
    this.#start(cell);
    return cell;
  }

  /** Creates the instance and runs `restarting` (after a crash) and `started`. */
  #start(cell: Cell, crash?: { error: unknown; attempt: number }): void {
    cell.state = "starting";
    let actor: Actor;
    try {
      actor = cell.kind.options.create(cell.self, cell.init);
    } catch (error) {
      this.#fail(cell, error);
      return;
    }
    cell.actor = actor;
    const ready = () => {
      if (cell.state !== "starting") return;
      // Like the end of a turn: honour ctx.stop() from the hooks, and when nothing is
      // queued wake `idle()` waiters (an async start ends outside any drain).
      if (cell.stopRequested) this.#stopCell(cell, "stopped");
      else this.#idleOrReady(cell);
    };
    const started = () => {
      if (actor.started === undefined || this.#hook(cell, () => actor.started!(cell), ready)) {
        ready();
      }
    };
    if (crash && actor.restarting) {
      if (this.#hook(cell, () => actor.restarting!(cell, crash.error, crash.attempt), started)) {
        started();
      }
    } else started();
  }

  #requestPassivation(cell: Cell, reason: "idle" | "evicted" | "moved"): void {
    const body: SystemBody = { $: "passivate", reason };
    if (!cell.mailbox.pushSystem({ to: cell.self, body, system: true })) {
      // The priority lane is full (a storm of system messages): try again on a later sweep.
      this.#wheel.schedule(cell, this.clock.now() + cell.kind.idleMs);
      return;
    }
    cell.passivating = true;
    this.#schedule(cell);
  }

  #evictOne(): void {
    let scanned = 0;
    for (const cell of this.#virtual.values()) {
      if (++scanned > EVICTION_SCAN) break;
      // Busy actors are not idle: the next least recently used one goes instead.
      if (cell.state !== "idle" || cell.passivating) continue;
      this.#metrics.inc("evictions");
      this.#requestPassivation(cell, "evicted");
      return;
    }
    this.logger.log("warn", "Resident cap reached but no idle actor to evict", {
      residents: this.#virtual.size,
      max: this.#maxResidents,
    });
  }

  /** Runs the `stopped` hook in the actor's turn, then removes the cell. */
  #stopCell(cell: Cell, reason: StopReason): void {
    cell.state = "stopping";
    const passivate = cell.kind.virtual && reason !== "shutdown";
    cell.stopReason = passivate ? "passivated" : reason;
    if (passivate) this.#passivatingCount++;
    const hook = cell.actor?.stopped;
    const done = () => this.#stopped(cell);
    if (hook === undefined || this.#hook(cell, () => hook.call(cell.actor, cell, reason), done)) {
      done();
    }
  }

  #stopped(cell: Cell): void {
    if (cell.state !== "stopping") return;
    if (cell.stopReason === "passivated") this.#passivatingCount--;
    this.#finish(cell, cell.stopReason ?? "stopped");
  }

  /**
   * Removes a cell. Messages still queued go to a fresh activation for a passivated
   * virtual actor (the passivation handshake: nothing is lost), else to dead letters.
   */
  #finish(cell: Cell, reason: StopReason): void {
    if (cell.state === "stopped") return;
    cell.state = "stopped";
    cell.actor = undefined;
    if (cell.restartTimer !== undefined) {
      this.clock.clearTimeout(cell.restartTimer);
      cell.restartTimer = undefined;
    }
    this.#cells.delete(cell.key);
    if (this.#virtual.get(cell.key) === cell) this.#virtual.delete(cell.key);
    if (this.#mostRecent === cell) this.#mostRecent = undefined;
    if (reason === "passivated") this.#metrics.inc("passivations");
    const rest = cell.mailbox.drain();
    if (reason === "passivated" && !this.#closed) {
      const user = rest.filter((env) => !env.system);
      if (user.length > 0 && !this.#owns(cell.self as VirtualRef)) {
        // Moved: what was queued goes on to the new owner, in order.
        for (const env of user) this.#misrouted(env);
      } else if (user.length > 0) {
        const next = this.#activate(cell.kind, cell.self as VirtualRef, cell.key);
        for (const env of user) next.mailbox.push(env);
        this.#schedule(next);
      }
      return;
    }
    for (const env of rest) if (!env.system) this.#deadLetter(env, `actor ${reason}`);
    if (this.#drainWaiters.length > 0 && this.#quiet()) {
      for (const resolve of this.#drainWaiters.splice(0)) resolve();
    }
  }

  /** Supervision: restart with backoff, or stop and escalate past the intensity limit. */
  #fail(cell: Cell, error: unknown, env?: Envelope): void {
    if (cell.state === "stopped") return;
    if (cell.state === "stopping") {
      // The stop hook failed: the actor is going away anyway; say so and finish.
      this.logger.log("warn", "Actor failed while stopping", { actor: cell.key, error });
      this.#stopped(cell);
      return;
    }
    this.#metrics.inc("failures");
    if (env?.reply) {
      this.#replyError(
        env,
        new ActorFailedError(
          `Actor ${cell.key} failed: ${error instanceof Error ? error.message : error}`,
        ),
      );
    }
    this.logger.log("warn", "Actor failed", { actor: cell.key, error });
    cell.actor = undefined;
    cell.sender = undefined;
    cell.stopRequested = false;
    if (cell.kind.temporary || this.#closed) {
      this.#finish(cell, "failed");
      return;
    }
    const decision =
      (cell.tracker ??= new RestartTracker(cell.kind.restart, { random: this.#random }))
        .fail(this.clock.now());
    if (decision.restart) {
      cell.state = "backoff";
      cell.restartTimer = this.clock.setTimeout(() => {
        cell.restartTimer = undefined;
        if (cell.state !== "backoff") return;
        this.#metrics.inc("restarts");
        this.#start(cell, { error, attempt: decision.attempt });
      }, decision.delayMs);
      return;
    }
    this.#metrics.inc("stoppedByIntensity");
    this.logger.log("error", "Actor stopped: restart intensity exceeded", {
      actor: cell.key,
      failures: decision.failures,
    });
    this.#finish(cell, "failed");
    this.#escalate(cell, error);
  }

  /** The kind supervisor counts stopped children; past its own limit the root decides. */
  #escalate(cell: Cell, error: unknown): void {
    this.#metrics.inc("escalations");
    if (cell.kind.escalations.fail(this.clock.now()).restart) return;
    const escalation = { kind: cell.kind.name, ref: cell.self, error };
    if (this.#options.onEscalate) this.#options.onEscalate(escalation);
    else this.logger.log("error", "Kind supervisor gave up", { kind: cell.kind.name, error });
  }
}

function positive(name: string, value: number): number {
  if (!(Number.isInteger(value) && value > 0)) {
    throw new RangeError(`Invalid option ${name}: ${value} is not a positive integer`);
  }
  return value;
}

function defaultLocate(node: string, options: ActorSystemOptions): (ref: VirtualRef) => Location {
  const workers = options.workers ?? 1;
  positive("workers", workers);
  const placement = new Placement(
    Array.from({ length: workers }, (_, i) => ({ id: String(i) })),
    { shards: options.shards },
  );
  const locations = Array.from({ length: workers }, (_, worker) => ({ node, worker }));
  const mainKinds = new Set(options.mainKinds ?? []);
  const main = { node, worker: -1 };
  if (mainKinds.size === 0) {
    return (ref) => locations[Number(placement.memberOf(ref.kind, ref.id).id)]!;
  }
  return (ref) =>
    mainKinds.has(ref.kind) ? main : locations[Number(placement.memberOf(ref.kind, ref.id).id)]!;
}
