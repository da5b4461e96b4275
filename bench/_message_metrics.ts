/**
 * The throughput, CPU, memory and latency rows both message tables show (the single node
 * beside its peers, and the cluster beside the single node), from one definition.
 *
 * @module
 */

import type { ServerRun } from "./messages.ts";
import { Better, type Metric } from "./report.ts";

/** Builds one row from a server run (each table binds its own columns). */
export type MetricMaker = (
  name: string,
  label: string,
  unit: string,
  better: Better,
  f: (r: ServerRun) => number,
  target?: Metric["target"],
) => Metric;

/**
 * The shared rows, in table order. `processes` names what CPU and RSS are summed over
 * (e.g. " (all nodes)"); `offered` says whose peak the fixed-rate phase halves; `p95` adds
 * the p95 row.
 */
export function messageMetrics(
  m: MetricMaker,
  options: { readonly processes: string; readonly offered: string; readonly p95: boolean },
): Metric[] {
  const lat = (r: ServerRun) => r.rate.latency ?? { p50: NaN, p95: NaN, p99: NaN, max: NaN };
  return [
    m(
      "saturate.acked",
      "Acked at saturation",
      "msgs/s",
      Better.Higher,
      (r) => r.saturate.ackedRate,
    ),
    m(
      "saturate.delivered",
      "Delivered at saturation",
      "msgs/s",
      Better.Higher,
      (r) => r.saturate.deliveredRate,
      { on: "value", op: ">=", limit: 20_000, text: ">= 20k msgs/s" },
    ),
    m(
      "saturate.server_cpu",
      `Server CPU at saturation${options.processes}`,
      "cores",
      Better.Lower,
      (r) => r.saturate.serverCpuCores,
    ),
    m(
      "saturate.cpu_per_msg",
      "Server CPU per delivered msg",
      "µs",
      Better.Lower,
      (r) => (r.saturate.serverCpuCores * 1e6) / r.saturate.deliveredRate,
    ),
    m(
      "server.rss",
      `Server RSS after saturation${options.processes}`,
      "MiB",
      Better.Lower,
      (r) => r.rssBytes / 2 ** 20,
    ),
    m(
      "rate.offered",
      `Delivered at fixed rate (half of ${options.offered})`,
      "msgs/s",
      Better.Higher,
      (r) => r.rate.deliveredRate,
    ),
    m("rate.p50", "Latency p50 at half of peak", "ms", Better.Lower, (r) => lat(r).p50),
    ...(options.p95
      ? [m("rate.p95", "Latency p95 at half of peak", "ms", Better.Lower, (r) => lat(r).p95)]
      : []),
    m(
      "rate.p99",
      "Latency p99 at half of peak",
      "ms",
      Better.Lower,
      (r) => lat(r).p99,
      { on: "value", op: "<=", limit: 50, text: "< 50 ms" },
    ),
    m("rate.max", "Latency max at half of peak", "ms", Better.Lower, (r) => lat(r).max),
  ];
}
