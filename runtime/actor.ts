/**
 * The actor contract: what an actor implements and what the runtime gives it.
 *
 * @module
 */

import type { RestartPolicy } from "./backoff.ts";
import type { Envelope } from "./envelope.ts";
import type { Logger } from "./logger.ts";
import type { ActorRef } from "./ref.ts";

/** Why an actor stopped. */
export type StopReason = "stopped" | "passivated" | "failed" | "shutdown";

/** Result of a `tell`, known synchronously only for same-worker delivery. */
export const Delivery = {
  /** Enqueued in a mailbox on this worker. */
  Delivered: "delivered",
  /** Handed to a transport for another worker or node. */
  Sent: "sent",
  /** The target's mailbox was full; the message was not enqueued. */
  Rejected: "rejected",
  /** No such actor or no route: counted as a dead letter. */
  Dead: "dead",
} as const;
/** A delivery result. */
export type Delivery = typeof Delivery[keyof typeof Delivery];

/** Options of an `ask`: the deadline is mandatory. */
export interface AskOptions {
  /** Milliseconds until the ask fails with `AskTimeoutError`. */
  readonly timeoutMs: number;
}

/** A message that could not be delivered, reported back to its sender. */
export interface Undelivered {
  readonly to: ActorRef;
  readonly body: unknown;
  readonly reason: string;
}

/** What an actor can do during its turn. */
export interface ActorContext {
  /** This actor's address. */
  readonly self: ActorRef;
  /** The sender of the message being handled, when it was an actor. */
  readonly sender: ActorRef | undefined;
  /** The runtime's logger. */
  readonly log: Logger;
  /** Sends a message; the sender learns of a rejection through `undelivered`. */
  tell<M>(to: ActorRef<M>, body: M): Delivery;
  /** Sends a message and waits for the reply (the value the target's `receive` returns). */
  ask<R, M = unknown>(to: ActorRef<M>, body: M, options: AskOptions): Promise<R>;
  /** Starts a location-bound actor on this worker. */
  spawn<M = unknown>(kind: string, init?: unknown): ActorRef<M>;
  /** Stops this actor after the current turn. Virtual actors are passivated instead. */
  stop(): void;
  /**
   * Queues `body` for this actor ahead of its ordinary messages (the priority lane, which
   * a full mailbox cannot refuse): for completions of I/O the actor started and must see,
   * e.g. a store write's result. Handled in a turn like any message. Returns false only
   * when the actor is gone or its small priority lane is full.
   */
  schedule(body: unknown): boolean;
}

/**
 * An actor: `receive` handles one message per turn (awaits included); its return value
 * answers an `ask`. Hooks are optional and also run inside turns.
 */
export interface Actor<M = unknown> {
  receive(message: M, ctx: ActorContext): unknown;
  /** Runs before the first message; for virtual actors this is the load hook. */
  started?(ctx: ActorContext): void | Promise<void>;
  /** Runs after the last message (stop, passivation, shutdown). Not run after a crash. */
  stopped?(ctx: ActorContext, reason: StopReason): void | Promise<void>;
  /** Runs on the fresh instance after a crash, before `started`. */
  restarting?(ctx: ActorContext, error: unknown, attempt: number): void | Promise<void>;
  /**
   * Asked before an idle or LRU passivation; `false` keeps the actor resident (e.g. it holds
   * live connections that a reactivation could not rebuild). Default: may passivate.
   */
  canPassivate?(ctx: ActorContext): boolean;
  /**
   * Asked before the actor moves to another worker (a new cluster view): `false` while it
   * has work in flight whose outcome only it can apply (e.g. a store write it must answer
   * senders for); it is asked again shortly. Default: may move at once.
   */
  canMove?(ctx: ActorContext): boolean;
  /** A message this actor sent was rejected or could not be delivered. */
  undelivered?(ctx: ActorContext, message: Undelivered): void | Promise<void>;
}

/** Information given to an overflow callback. */
export interface OverflowInfo {
  readonly ref: ActorRef;
  readonly envelope: Envelope;
  readonly queued: number;
}

/**
 * What happens when a mailbox is full: `reject` the new message (its sender learns it),
 * `dropOldest` (the dropped message is dead-lettered), or call back (the new message is
 * rejected; the callback may stop the actor, e.g. to disconnect a slow socket).
 */
export type OverflowPolicy = "reject" | "dropOldest" | ((info: OverflowInfo) => void);

/** How a kind of actor is created, queued, supervised and placed. */
export interface KindOptions<M = unknown> {
  /** Creates a fresh instance (also after every restart). */
  create(ref: ActorRef<M>, init: unknown): Actor<M>;
  /** Virtual actors activate on first message anywhere placement puts them. Default false. */
  readonly virtual?: boolean;
  /** Temporary actors are never restarted: a crash stops them. Default false. */
  readonly temporary?: boolean;
  /** Mailbox capacity, default 1024. */
  readonly capacity?: number;
  /** Default `reject`. */
  readonly overflow?: OverflowPolicy;
  /** Restart intensity and backoff of each actor of this kind. */
  readonly restart?: Partial<RestartPolicy>;
  /** How many actors of this kind may exceed their intensity before the kind escalates. */
  readonly escalation?: { readonly maxFailures: number; readonly withinMs: number };
  /** Virtual actors passivate after this many idle milliseconds. Default 300_000. */
  readonly idleMs?: number;
  /** Messages handled per scheduling slice before other actors get a turn. Default 64. */
  readonly throughput?: number;
}
