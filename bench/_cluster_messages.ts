/**
 * The `messages` suite on a cluster (`--nodes K`): K nodes on one Postgres schema and Redis
 * prefix, pairs chosen so that the sender's node, the recipient's node and the
 * conversation's owner differ (each client connects to the node its user actor lives on),
 * measured with the suite's own phases, then shown beside the single node on the same
 * Postgres + Redis and the raw relay.
 *
 * @module
 */

import { userTokens } from "../tests/harness.ts";
import { type ClusterSetup, ClusterSpace, disposeOnSignal } from "./_cluster.ts";
import { crossNodePairs } from "./_cluster_plan.ts";
import { combineHistograms, scrapeBatchItems } from "./_batch_metrics.ts";
import type { MessagesParams, ServerRun, Target } from "./messages.ts";
import type { GeneratorClient } from "./msg_generator.ts";
import { metric, type TableSection } from "./report.ts";
import { messageMetrics, type MetricMaker } from "./_message_metrics.ts";

/** Users registered at most per pair wanted, before giving up on finding pairs. */
const MAX_USERS_PER_PAIR = 20;

/** What the cluster run measured. */
export interface ClusterMessagesRun extends ServerRun {
  readonly nodes: number;
  /** Workers per node. */
  readonly workers: number;
  /** Users registered to find the pairs. */
  readonly usersRegistered: number;
}

/**
 * Starts the cluster, picks cross-node pairs, measures them with `measure` (the suite's
 * phases, passed in: messages.ts imports this file), tears everything down.
 */
export async function runClusterMessages(
  p: MessagesParams,
  setup: ClusterSetup,
  tmp: string,
  log: (line: string) => void,
  measure: (target: Target, clients: readonly GeneratorClient[]) => Promise<ServerRun>,
): Promise<ClusterMessagesRun> {
  await using stack = new AsyncDisposableStack();
  using _signals = disposeOnSignal(stack);
  const space = stack.use(await ClusterSpace.create(setup, tmp, log));
  const cluster = stack.use(
    await space.startCluster({ workers: p.workers, args: ["--require-friends", "false"] }),
  );
  const label = `cluster-${setup.nodes}`;
  const entry = cluster.nodes[0]!.server;
  const tag = crypto.randomUUID().slice(0, 8);
  const users = new Map<string, GeneratorClient>();
  let pairs: [string, string][] = [];
  while (pairs.length < p.pairs) {
    if (users.size >= p.pairs * MAX_USERS_PER_PAIR) {
      throw new Error(
        `${label}: only ${pairs.length} of ${p.pairs} cross-node pairs among ${users.size} users`,
      );
    }
    const batch = await Promise.all(
      Array.from({ length: 10 }, (_, j) => {
        const i = users.size + j;
        return userTokens(entry, `msgc_${tag}_${i}`, `bench-msg-${i}`);
      }),
    );
    for (const u of batch) {
      users.set(u.userId, {
        id: u.userId,
        token: u.accessToken,
        port: cluster.nodeOf(u.userId).server.tcpPort,
      });
    }
    pairs = crossNodePairs([...users.keys()], p.pairs, setup.nodes, cluster.placement());
  }
  log(`${label}: ${pairs.length} cross-node pairs among ${users.size} registered users`);
  const clients = pairs.flat().map((id) => users.get(id)!);
  const run = await measure(
    {
      mode: "flash",
      label,
      port: cluster.ports[0]!,
      pids: cluster.pids,
      scrape: async () => {
        const scrapes = await Promise.all(
          cluster.nodes.map((n) => scrapeBatchItems(n.server.http, n.workers)),
        );
        return {
          histogram: scrapes.slice(1).reduce(
            (a, s) => combineHistograms(a, s.histogram),
            scrapes[0]!.histogram,
          ),
          workersSeen: scrapes.reduce((a, s) => a + s.workersSeen, 0),
        };
      },
    },
    clients,
  );
  const problems = cluster.problems().filter((l) => /"level":"error"/.test(l));
  if (problems.length > 0) log(`${label} node errors:\n${problems.slice(0, 10).join("\n")}`);
  return { ...run, nodes: setup.nodes, workers: p.workers, usersRegistered: users.size };
}

/**
 * The cluster's table: the single node on the same Postgres + Redis (primary) beside the
 * cluster (alternate), the raw relay as the baseline.
 */
export function clusterMessagesSection(
  single: ServerRun,
  cluster: ClusterMessagesRun,
  raw: ServerRun,
): TableSection {
  const m: MetricMaker = (name, label, unit, better, f, target) =>
    metric({
      name: `cluster.${name}`,
      label,
      unit,
      better,
      rounds: [f(single)],
      baseline: { label: "raw relay", rounds: [f(raw)] },
      target,
      alternate: [f(cluster)],
    });
  return {
    title: `Cluster: ${cluster.nodes} nodes x ${cluster.workers} workers, sender, recipient ` +
      `and conversation owner on three different nodes`,
    setups: {
      primary: "1 node, Postgres + Redis",
      alternate: `${cluster.nodes} nodes, cross-node`,
    },
    metrics: messageMetrics(m, { processes: " (all nodes)", offered: "own peak", p95: false }),
  };
}

/** The note under the table about the cluster run. */
export function clusterMessagesNote(cluster: ClusterMessagesRun, setup: ClusterSetup): string {
  const b = cluster.batches;
  return `Cluster: ${cluster.nodes} nodes (${cluster.workers} workers each, one process each, ` +
    `same machine and cores) over NATS ${setup.natsUrl}, on a fresh schema and Redis prefix ` +
    `dropped afterwards. Pairs chosen among ${cluster.usersRegistered} registered users so ` +
    `that each client connects to its user actor's node and the two users' nodes and the ` +
    `conversation's owner differ (\`clusterLocator\` over the node ids of the banners): a ` +
    `message crosses two node boundaries (sender's node -> owner -> recipient's node). Its ` +
    `fixed-rate phase offers half of its own delivered peak (${
      Math.round(cluster.offeredRate)
    } msgs/s, ${cluster.rate.latency?.count ?? 0} latency samples). Server CPU and RSS are ` +
    `summed over the node processes; NATS, Postgres and Redis are not counted.` +
    (b === undefined ? "" : ` Rows per commit at saturation: ${b.saturate.writes} writes, mean ` +
      `${b.saturate.mean.toFixed(1)}, p50 ${b.saturate.p50.toFixed(1)} (${b.workersSeen}/` +
      `${cluster.nodes * cluster.workers} workers answered).`);
}
