/**
 * What travels between actors, workers and nodes. Plain data only, so the same
 * objects cross a `MessagePort` (structured clone) or a NATS subject (a codec).
 *
 * @module
 */

import type { ErrorData } from "./errors.ts";
import type { ActorRef, Location } from "./ref.ts";

/** Where the reply to an `ask` goes: the asking worker and its pending-ask id. */
export interface ReplyTo extends Location {
  readonly id: number;
}

/** One message on its way to an actor. */
export interface Envelope {
  readonly to: ActorRef;
  readonly body: unknown;
  /** The sending actor, if any: told when the message is rejected. */
  readonly from?: ActorRef;
  /** Present on asks. */
  readonly reply?: ReplyTo;
  /** System messages use the mailbox's priority lane. */
  readonly system?: boolean;
  /**
   * Set when a worker that no longer owns the target passed the message on to the owner
   * of its newer view: a message is forwarded at most once (then its sender is told
   * `NotOwner`), so two workers with different views cannot bounce it between them.
   */
  readonly forwarded?: boolean;
}

/** The answer to an ask, routed to the asking worker. */
export interface Reply {
  readonly replyTo: number;
  readonly ok: boolean;
  readonly value?: unknown;
  readonly error?: ErrorData;
}

/** What a transport carries: envelopes and replies. */
export type WireMessage = Envelope | Reply;

/** Tells the two wire message shapes apart. */
export function isReply(message: WireMessage): message is Reply {
  return (message as Reply).replyTo !== undefined;
}

/** System message bodies, handled by the runtime itself in the actor's turn. */
export type SystemBody =
  | { readonly $: "stop" }
  /** A message an actor scheduled for itself (ActorContext.schedule). */
  | { readonly $: "self"; readonly body: unknown }
  | { readonly $: "passivate"; readonly reason: "idle" | "evicted" | "requested" | "moved" }
  | {
    readonly $: "undelivered";
    readonly to: ActorRef;
    readonly body: unknown;
    readonly reason: string;
  };
