/**
 * The pure parts of the cluster benchmarks (`--nodes K`): which flags go together, the node
 * id in a node's banner, how a connections step is laid out over K nodes, and which user
 * pairs put sender, recipient and conversation owner on different nodes.
 *
 * Kept free of process and runtime imports: `main.ts` checks the flags with it before any
 * suite loads.
 *
 * @module
 */

/** Where a cluster run finds its servers when no flag or env names them. */
export const CLUSTER_DEFAULTS = {
  postgres: "postgres://postgres@127.0.0.1:5432/postgres",
  redis: "redis://127.0.0.1:6379",
  nats: "nats://127.0.0.1:4222",
} as const;

/** The flags this module looks at. */
export interface ClusterFlags {
  readonly nodes?: number;
  readonly nats?: string;
  readonly postgres?: string;
  readonly redis?: string;
}

/**
 * Checks the cluster flags against each other and the suites run: `--nats` needs
 * `--nodes`, and `--postgres` / `--redis` mean something to `connections` only with
 * `--nodes` (`messages` takes them for its single Postgres + Redis node too).
 *
 * @throws {TypeError} on a combination that would be silently ignored.
 */
export function checkClusterFlags(flags: ClusterFlags, suites: readonly string[]): void {
  if (flags.nodes !== undefined) return;
  if (flags.nats !== undefined) throw new TypeError("Flag --nats needs --nodes K");
  if ((flags.postgres ?? flags.redis) !== undefined && !suites.includes("messages")) {
    throw new TypeError(
      "Flags --postgres and --redis apply to suite connections only with --nodes",
    );
  }
}

/** A cluster node as its banner tells it. */
export interface BannerNode {
  readonly node: string;
  readonly workers: number;
}

/**
 * The node id and worker count in a cluster node's banner
 * (`flash-im node <id> running with <n> workers in cluster <name> ...`).
 *
 * @throws {TypeError} when the banner is not a cluster node's.
 */
export function parseBanner(banner: string): BannerNode {
  const match = /flash-im node (\S+) running with (\d+) workers in cluster /.exec(banner);
  if (match === null) {
    throw new TypeError(`Cannot read a cluster node's banner: ${JSON.stringify(banner.trim())}`);
  }
  return { node: match[1]!, workers: Number(match[2]) };
}

/** Where the nodes of a pair's path are: each user's node and the conversation's owner. */
export interface PairPlacement {
  /** The node a user's connection and user actor sit on. */
  homeOf(user: string): string;
  /** The node that owns the conversation of `a` and `b`. */
  ownerOf(a: string, b: string): string;
}

/**
 * Up to `count` disjoint pairs of `users` (in order, greedily) whose path crosses nodes:
 * sender's node, recipient's node and the conversation's owner all differ when there are
 * at least 3 nodes (with 2, the two users' nodes differ; with 1, any pair). Both users of a
 * pair send to each other, so the condition holds both ways.
 *
 * @returns the pairs found, possibly fewer than `count` (register more users and retry).
 * @throws {RangeError} when `nodes` or `count` is not a positive integer.
 *
 * @example
 * ```ts
 * const pairs = crossNodePairs(["1", "2", "3"], 1, 3, placement); // [["1", "3"]], say
 * ```
 */
export function crossNodePairs(
  users: readonly string[],
  count: number,
  nodes: number,
  placement: PairPlacement,
): [string, string][] {
  for (const [name, value] of [["nodes", nodes], ["count", count]] as const) {
    if (!(Number.isSafeInteger(value) && value > 0)) {
      throw new RangeError(`Invalid ${name}: ${value} is not an integer >= 1`);
    }
  }
  const crosses = (a: string, b: string) => {
    if (nodes === 1) return true;
    const [homeA, homeB] = [placement.homeOf(a), placement.homeOf(b)];
    if (homeA === homeB) return false;
    if (nodes === 2) return true;
    const owner = placement.ownerOf(a, b);
    return owner !== homeA && owner !== homeB;
  };
  const pairs: [string, string][] = [];
  const waiting: string[] = [];
  for (const user of users) {
    if (pairs.length === count) break;
    const at = waiting.findIndex((other) => crosses(other, user));
    if (at < 0) {
      waiting.push(user);
    } else {
      pairs.push([waiting[at]!, user]);
      waiting.splice(at, 1);
    }
  }
  return pairs;
}

/** How one connections step spreads over the cluster's nodes. */
export interface ClusterStepPlan {
  readonly n: number;
  readonly nodes: number;
  /** Connections the busiest node holds (connection i goes to node i mod K). */
  readonly perNode: number;
}

/**
 * Lays out `n` connections over `nodes` nodes, round robin.
 *
 * @throws {RangeError} when a node would hold more sockets than `fileLimit - reserve`.
 */
export function planClusterStep(
  n: number,
  nodes: number,
  fileLimit: number,
  reserve: number,
): ClusterStepPlan {
  const perNode = Math.ceil(n / nodes);
  if (perNode + reserve > fileLimit) {
    throw new RangeError(
      `Cannot hold ${n} connections on ${nodes} nodes: ${perNode} per node, but a node ` +
        `process holds at most ${fileLimit - reserve} (open-files limit ${fileLimit}); ` +
        `give more --nodes`,
    );
  }
  return { n, nodes, perNode };
}
