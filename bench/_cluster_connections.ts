/**
 * The `connections` suite on a cluster (`--nodes K`): the cluster's table per step (the
 * single node beside the cluster, the raw server as the baseline) and its notes. The
 * measurement itself is the suite's own (`runLoad` with the nodes' ports and pids).
 *
 * @module
 */

import type { LoadResult } from "./_conn_fleet.ts";
import type { ConnectionsStep } from "./_conn_report.ts";
import { Better, formatNumber, type Metric, metric, type TableSection } from "./report.ts";

/** One step measured on the cluster. */
export interface ClusterConnectionsStep {
  readonly n: number;
  readonly nodes: number;
  /** Workers per node. */
  readonly workers: number;
  /** Connections the busiest node was given. */
  readonly perNode: number;
  readonly result: LoadResult & { readonly problems: readonly string[] };
}

/** Connections that would count as held: what is open after the hold. */
const HELD_TARGET = 100_000;

/**
 * The cluster's table for one step: the single node of the same step (which may hold fewer:
 * one process is capped by its open-files limit) beside the cluster, the raw server as the
 * baseline. Per-connection figures divide by the connections that came up on each side.
 */
export function clusterConnectionsSection(
  single: ConnectionsStep,
  cluster: ClusterConnectionsStep,
): TableSection {
  const c = cluster.result;
  const perConn = (r: LoadResult) => (r.serverRssAfter - r.serverRssBefore) / r.ok;
  const m = (
    name: string,
    label: string,
    unit: string,
    better: Better,
    f: (r: LoadResult) => number,
    target?: Metric["target"],
  ) =>
    metric({
      name: `cluster.${name}.n${cluster.n}`,
      label,
      unit,
      better,
      rounds: [f(single.flash)],
      baseline: { label: "raw Deno, 1 process", rounds: [f(single.raw)] },
      target,
      alternate: [f(c)],
    });
  return {
    title: `Cluster: N=${formatNumber(cluster.n)} across ${cluster.nodes} nodes x ` +
      `${cluster.workers} workers (round robin, ~${cluster.perNode} per node), single node ` +
      `and raw at N=${formatNumber(single.plan.n)}`,
    setups: {
      primary: `1 node, N=${formatNumber(single.plan.n)}`,
      alternate: `${cluster.nodes} nodes, N=${formatNumber(cluster.n)}`,
    },
    metrics: [
      m(
        "held",
        "connections held after the hold",
        "conns",
        Better.Higher,
        (r) => r.openAfterHold,
        cluster.n >= HELD_TARGET
          ? { on: "value", op: ">=", limit: HELD_TARGET, text: ">= 100k" }
          : undefined,
      ),
      m("connect.rate", "connect + auth rate", "conns/s", Better.Higher, (r) => r.connectRate),
      m("connect.p50", "connect + auth latency p50", "ms", Better.Lower, (r) => r.latencyP50Ms),
      m("connect.p99", "connect + auth latency p99", "ms", Better.Lower, (r) => r.latencyP99Ms),
      m(
        "server.cpu_per_conn",
        "server CPU per connect (all nodes)",
        "µs",
        Better.Lower,
        (r) => (r.serverCpuMs * 1000) / r.ok,
      ),
      m(
        "server.rss_per_conn",
        "server RSS per connection (all nodes)",
        "B",
        Better.Lower,
        perConn,
      ),
      m(
        "server.rss",
        "server RSS with the connections held (all nodes)",
        "MiB",
        Better.Lower,
        (r) => r.serverRssAfter / 2 ** 20,
      ),
      m(
        "generator.rss_per_conn",
        "generator RSS per connection",
        "B",
        Better.Lower,
        (r) => (r.generatorRssAfter - r.generatorRssBefore) / r.ok,
      ),
    ],
  };
}

/** One note per cluster step: counts, failures, drops, RSS, node warnings. */
export function clusterConnectionsNote(step: ClusterConnectionsStep, natsUrl: string): string {
  const r = step.result;
  const reasons = (map: Readonly<Record<string, number>>) => {
    const entries = Object.entries(map);
    return entries.length === 0 ? "none" : entries.map(([k, v]) => `${v} x ${k}`).join("; ");
  };
  return `Cluster N=${step.n}: ${step.nodes} node processes x ${step.workers} workers on this ` +
    `machine over NATS ${natsUrl}, one fresh Postgres schema and Redis prefix (dropped ` +
    `afterwards), a fresh cluster per step; connection i to node i mod ${step.nodes}. ` +
    `${r.ok} up in ${r.connectSeconds.toFixed(2)} s from ${r.generators} generators, ` +
    `${r.openAfterHold} still open after the hold; failures: ${reasons(r.failures)}; ` +
    `dropped: ${reasons(r.dropped)}; server RSS (sum over nodes) ` +
    `${formatNumber(r.serverRssBefore / 2 ** 20)} -> ${formatNumber(r.serverRssAfter / 2 ** 20)} ` +
    `MiB (peak ${formatNumber(r.serverRssPeak / 2 ** 20)}). Tokens for the cluster's accounts ` +
    `were minted from a lone node on the same schema and keys` +
    (r.problems.length > 0
      ? `; nodes logged ${r.problems.length} warnings/errors, first: ${
        r.problems[0]!.slice(0, 200)
      }`
      : "") +
    ".";
}
