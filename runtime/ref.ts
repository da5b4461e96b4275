/**
 * Actor references: plain, serializable, comparable data.
 *
 * A virtual actor is addressed by `kind/id` and lives wherever placement puts it.
 * A location-bound actor (a connection, a session) carries the node, worker and
 * local number of the worker that created it, and dies with that worker.
 *
 * @module
 */

declare const MESSAGE: unique symbol;

/**
 * Remembers, at the type level only, which messages the addressed actor accepts. Method
 * syntax keeps it bivariant, so an untyped `ActorRef` still fits where a typed one is asked.
 */
export interface Typed<M> {
  [MESSAGE]?(message: M): void;
}

/** Address of a virtual actor: `kind/id`, placed by hashing. */
export interface VirtualRef<M = unknown> extends Typed<M> {
  readonly kind: string;
  readonly id: string;
}

/** Address of a location-bound actor: it lives on one worker of one node. */
export interface BoundRef<M = unknown> extends Typed<M> {
  readonly kind: string;
  /** Node identity including its incarnation, e.g. `host.1234.k3j9`. */
  readonly node: string;
  readonly worker: number;
  /** Number unique within that worker's lifetime. */
  readonly local: number;
}

/** Any actor address. */
export type ActorRef<M = unknown> = VirtualRef<M> | BoundRef<M>;

/** Where a worker lives: the unit a transport delivers to. */
export interface Location {
  readonly node: string;
  readonly worker: number;
}

const KIND = /^[a-z][a-z0-9_-]{0,31}$/;

/**
 * Builds a virtual ref after validating its parts.
 *
 * @throws {TypeError} if the kind is not a lowercase word or the id is empty or too long.
 * @example
 * ```ts
 * const ref = virtualRef("user", "42"); // { kind: "user", id: "42" }
 * ```
 */
export function virtualRef<M = unknown>(kind: string, id: string): VirtualRef<M> {
  if (!KIND.test(kind)) {
    throw new TypeError(`Cannot make ref: invalid kind ${JSON.stringify(kind)}`);
  }
  if (id.length === 0 || id.length > 256) {
    throw new TypeError(`Cannot make ref: id length ${id.length} is not within 1..256`);
  }
  return { kind, id };
}

/** True when the ref carries a location (node, worker, local number). */
export function isBound<M>(ref: ActorRef<M>): ref is BoundRef<M> {
  return (ref as BoundRef).node !== undefined;
}

/**
 * The canonical text form of a ref: `user/42` or `conn/<node>/<worker>/<local>`.
 * Two refs are equal exactly when their keys are equal.
 *
 * @example
 * ```ts
 * refKey({ kind: "user", id: "42" }); // "user/42"
 * ```
 */
export function refKey(ref: ActorRef): string {
  return isBound(ref)
    ? `${ref.kind}/${ref.node}/${ref.worker}/${ref.local}`
    : `${ref.kind}/${(ref as VirtualRef).id}`;
}

/** Compares two refs by value. */
export function refEquals(a: ActorRef, b: ActorRef): boolean {
  return refKey(a) === refKey(b);
}
