/**
 * The seam between the actor system and everything that carries messages to other
 * workers or nodes. Actor code never sees it: the system picks a transport by the
 * target's location.
 *
 * @module
 */

import type { WireMessage } from "./envelope.ts";
import type { Location } from "./ref.ts";

/**
 * Carries envelopes and replies to another worker (this node or another).
 * Delivery is at-most-once and FIFO per (sender worker, receiver worker).
 */
export interface Transport {
  /** Queues `message` for `to`. Returns false when there is no route (the caller dead-letters it). */
  send(to: Location, message: WireMessage): boolean;
}

/** The receiving side: what a transport hands arriving messages to. */
export interface TransportSink {
  receive(message: WireMessage): void;
}

/**
 * Routes by node: messages for this node go to `local` (the worker mesh), others to
 * `remote` (NATS, in cluster mode). Without a remote transport, other nodes are unreachable.
 *
 * @example
 * ```ts
 * const transport = routeByNode("n1", mesh, nats);
 * ```
 */
export function routeByNode(node: string, local: Transport, remote?: Transport): Transport {
  return {
    send(to, message) {
      if (to.node === node) return local.send(to, message);
      return remote?.send(to, message) ?? false;
    },
  };
}
