/**
 * Where a virtual actor lives in a cluster: its shard goes to a node by weighted
 * rendezvous hashing over the view's nodes (weight = worker count), then to a worker of
 * that node the way a single node places it. A one-node view places exactly like a lone
 * node, and a join or leave moves only the shards of the changed node.
 *
 * @module
 */

import { DEFAULT_SHARDS, fnv1a32, Placement, rendezvous } from "./placement.ts";
import type { Location, VirtualRef } from "./ref.ts";

/** A node as placement sees it: its incarnation id and how many workers it runs. */
export interface PlacementNode {
  readonly node: string;
  readonly workers: number;
}

/** The nodes placement spreads actors over, as of one membership view. */
export interface PlacementView {
  /** Increases with every view this node applies. */
  readonly version: number;
  readonly nodes: readonly PlacementNode[];
  /**
   * How long a worker holds a message for an actor it does not own before passing it on:
   * about how far apart nodes apply the same view (default 0: at once).
   */
  readonly holdMs?: number;
}

/**
 * A `locate` function for {@link ActorSystem} over `nodes` (cached per shard).
 *
 * @throws {RangeError} when `nodes` is empty, a node repeats, or a worker count is not a
 *   positive integer.
 *
 * @example
 * ```ts
 * const locate = clusterLocator([{ node: "a.1.x", workers: 2 }, { node: "b.7.y", workers: 4 }]);
 * locate(virtualRef("user", "42")); // { node: "b.7.y", worker: 3 }, say
 * ```
 */
export function clusterLocator(
  nodes: readonly PlacementNode[],
  options: { readonly shards?: number } = {},
): (ref: VirtualRef) => Location {
  const shards = options.shards ?? DEFAULT_SHARDS;
  if (nodes.length === 0) throw new RangeError("Cannot place actors: the view has no nodes");
  const members = nodes.map(({ node, workers }) => {
    if (!(Number.isInteger(workers) && workers > 0)) {
      throw new RangeError(`Cannot place actors: node ${node} has ${workers} workers`);
    }
    return { id: node, weight: workers };
  });
  // Per node, the same worker placement a lone node uses (see ActorSystem's default).
  const workersOf = new Map(nodes.map(({ node, workers }) => [node, workerPlacement(workers)]));
  const byShard: (Location | undefined)[] = new Array(shards);
  // Validates ids (unique) and shards once, up front.
  new Placement(members, { shards });
  return (ref) => {
    const shard = fnv1a32(`${ref.kind}/${ref.id}`) % shards;
    let location = byShard[shard];
    if (location === undefined) {
      const node = rendezvous(shard, members).id;
      const worker = Number(workersOf.get(node)!.memberOfShard(shard).id);
      byShard[shard] = location = { node, worker };
    }
    return location;
  };

  function workerPlacement(workers: number): Placement {
    return new Placement(Array.from({ length: workers }, (_, i) => ({ id: String(i) })), {
      shards,
    });
  }
}
