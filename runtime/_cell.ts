/**
 * One actor's runtime record: its instance, mailbox and scheduling state. The cell is
 * also the actor's context object, so an idle actor costs one object plus its mailbox.
 *
 * @module
 */

import type {
  Actor,
  ActorContext,
  AskOptions,
  Delivery,
  KindOptions,
  OverflowPolicy,
  StopReason,
} from "./actor.ts";
import type { RestartPolicy, RestartTracker } from "./backoff.ts";
import type { TimerHandle } from "./clock.ts";
import type { Envelope } from "./envelope.ts";
import type { Logger } from "./logger.ts";
import { Mailbox } from "./mailbox.ts";
import type { ActorRef } from "./ref.ts";

/** A registered kind with defaults applied. */
export interface Kind {
  readonly name: string;
  readonly options: KindOptions;
  readonly virtual: boolean;
  readonly temporary: boolean;
  readonly capacity: number;
  readonly overflow: OverflowPolicy;
  readonly restart: RestartPolicy;
  readonly idleMs: number;
  readonly throughput: number;
  /** Counts actors of this kind that exceeded their restart intensity. */
  readonly escalations: RestartTracker;
}

/**
 * - `starting`: hooks (load, restart) running; messages wait.
 * - `idle`: nothing to do. `ready`: in the run queue. `running`: in a turn (maybe awaiting).
 * - `backoff`: crashed, waiting to restart. `stopping`: stop/passivation hook running.
 * - `stopped`: gone; a late reference to it must not be used.
 */
export type CellState =
  | "starting"
  | "idle"
  | "ready"
  | "running"
  | "backoff"
  | "stopping"
  | "stopped";

/** What a cell needs from its system. */
export interface CellHost {
  readonly logger: Logger;
  send(to: ActorRef, body: unknown, from: ActorRef): Delivery;
  ask<R>(to: ActorRef, body: unknown, options: AskOptions): Promise<R>;
  spawn(kind: string, init: unknown): ActorRef;
  schedule(self: ActorRef, body: unknown): boolean;
}

/** The runtime record of one actor. */
export class Cell implements ActorContext {
  readonly self: ActorRef;
  readonly key: string;
  readonly kind: Kind;
  readonly init: unknown;
  readonly mailbox: Mailbox<Envelope>;
  readonly #host: CellHost;
  actor: Actor | undefined;
  state: CellState = "starting";
  sender: ActorRef | undefined;
  /** Set by `stop()` during a turn; honoured when the turn ends. */
  stopRequested = false;
  /** A passivation request is queued; not evicted or swept twice. */
  passivating = false;
  /** Clock time of the last turn, for idle passivation. */
  lastActive = 0;
  /** Why the cell is stopping, once it is. */
  stopReason: StopReason | undefined;
  tracker: RestartTracker | undefined;
  /** The pending restart while in `backoff`, cancelled if the cell is finished first. */
  restartTimer: TimerHandle | undefined;

  constructor(host: CellHost, kind: Kind, self: ActorRef, key: string, init: unknown) {
    this.#host = host;
    this.kind = kind;
    this.self = self;
    this.key = key;
    this.init = init;
    this.mailbox = new Mailbox(kind.capacity);
  }

  get log(): Logger {
    return this.#host.logger;
  }

  tell<M>(to: ActorRef<M>, body: M): Delivery {
    return this.#host.send(to, body, this.self);
  }

  ask<R, M = unknown>(to: ActorRef<M>, body: M, options: AskOptions): Promise<R> {
    return this.#host.ask<R>(to, body, options);
  }

  spawn<M = unknown>(kind: string, init?: unknown): ActorRef<M> {
    return this.#host.spawn(kind, init) as ActorRef<M>;
  }

  stop(): void {
    this.stopRequested = true;
  }

  schedule(body: unknown): boolean {
    return this.#host.schedule(this.self, body);
  }
}

/** True for promises and other thenables (an async turn). */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === "object" &&
    typeof (value as PromiseLike<unknown>).then === "function";
}
