/**
 * The `connections` suite's results: metrics per step (flash-im next to raw), the marginal
 * cost between steps, notes and the RSS chart.
 *
 * @module
 */

import { rssChart } from "./_conn_chart.ts";
import type { LoadResult } from "./_conn_fleet.ts";
import { GeneratorMode } from "./conn_generator.ts";
import type { StepPlan } from "./connections.ts";
import { Better, formatNumber, type Metric, metric } from "./report.ts";

/** One measured step of the suite, as written in the JSON. */
export interface ConnectionsStep {
  readonly plan: StepPlan;
  readonly flash: LoadResult & { readonly problems: readonly string[] };
  readonly raw: LoadResult & { readonly problems: readonly string[] };
}

/** Connect + auth per second one node should reach on this 2-core box, generators included. */
export const CONNECT_RATE_TARGET = 5000;

/** The metrics of one step: flash-im, with the raw server as the baseline. */
export function stepMetrics(n: number, flash: LoadResult, raw: LoadResult): Metric[] {
  const tag = `n${n}`;
  const nText = `N=${formatNumber(n)}`;
  const perConn = (r: LoadResult) => (r.serverRssAfter - r.serverRssBefore) / r.ok;
  const genPerConn = (r: LoadResult) => (r.generatorRssAfter - r.generatorRssBefore) / r.ok;
  const rawLabel = "raw Deno, 4 KiB read";
  return [
    metric({
      name: `connect.rate.${tag}`,
      label: `connect + auth rate (${nText})`,
      unit: "conns/s",
      better: Better.Higher,
      rounds: [flash.connectRate],
      baseline: { label: "raw connect + accept", rounds: [raw.connectRate] },
      target: { on: "value", op: ">=", limit: CONNECT_RATE_TARGET, text: ">= 5k/s per node" },
    }),
    metric({
      name: `connect.p50.${tag}`,
      label: `connect + auth latency p50 (${nText})`,
      unit: "ms",
      better: Better.Lower,
      rounds: [flash.latencyP50Ms],
      baseline: { label: "raw", rounds: [raw.latencyP50Ms] },
    }),
    metric({
      name: `connect.p99.${tag}`,
      label: `connect + auth latency p99 (${nText})`,
      unit: "ms",
      better: Better.Lower,
      rounds: [flash.latencyP99Ms],
      baseline: { label: "raw", rounds: [raw.latencyP99Ms] },
    }),
    metric({
      name: `server.cpu_per_conn.${tag}`,
      label: `server CPU per connect (${nText})`,
      unit: "µs",
      better: Better.Lower,
      rounds: [(flash.serverCpuMs * 1000) / flash.ok],
      baseline: { label: "raw accept + greeting", rounds: [(raw.serverCpuMs * 1000) / raw.ok] },
    }),
    metric({
      name: `generator.cpu_per_conn.${tag}`,
      label: `generator CPU per connect (${nText})`,
      unit: "µs",
      better: Better.Lower,
      rounds: [(flash.generatorCpuMs * 1000) / flash.ok],
      baseline: { label: "plain Deno.connect", rounds: [(raw.generatorCpuMs * 1000) / raw.ok] },
    }),
    metric({
      name: `server.rss_per_conn.${tag}`,
      label: `server RSS per connection (${nText})`,
      unit: "B",
      better: Better.Lower,
      rounds: [perConn(flash)],
      baseline: { label: rawLabel, rounds: [perConn(raw)] },
      target: { on: "ratio", op: "<=", limit: 1.5, text: "<= 1.5x raw" },
    }),
    metric({
      name: `server.rss.${tag}`,
      label: `server RSS with ${nText} held`,
      unit: "MiB",
      better: Better.Lower,
      rounds: [flash.serverRssAfter / 2 ** 20],
      baseline: { label: rawLabel, rounds: [raw.serverRssAfter / 2 ** 20] },
    }),
    metric({
      name: `generator.rss_per_conn.${tag}`,
      label: `generator RSS per connection (${nText})`,
      unit: "B",
      better: Better.Lower,
      rounds: [genPerConn(flash)],
      baseline: { label: "plain Deno.connect", rounds: [genPerConn(raw)] },
    }),
  ];
}

/**
 * RSS per extra connection between two steps (each its own process): the slope, without
 * what a process spends once whatever N is (JIT code, young generation grown by the
 * connect burst, pools).
 */
export function marginalMetric(a: ConnectionsStep, b: ConnectionsStep): Metric {
  const slope = (pick: (s: ConnectionsStep) => LoadResult) =>
    (pick(b).serverRssAfter - pick(a).serverRssAfter) / (pick(b).ok - pick(a).ok);
  return metric({
    name: `server.rss_marginal.n${a.plan.n}-n${b.plan.n}`,
    label: `server RSS per extra connection (N=${formatNumber(a.plan.n)} -> ` +
      `${formatNumber(b.plan.n)})`,
    unit: "B",
    better: Better.Lower,
    rounds: [slope((s) => s.flash)],
    baseline: { label: "raw Deno, 4 KiB read", rounds: [slope((s) => s.raw)] },
  });
}

function reasons(map: Readonly<Record<string, number>>): string {
  const entries = Object.entries(map);
  return entries.length === 0 ? "none" : entries.map(([k, v]) => `${v} x ${k}`).join("; ");
}

/** Two lines per step (flash-im, raw): counts, timing, failures, drops, RSS, server logs. */
export function stepNotes(s: ConnectionsStep): string[] {
  return [s.flash, s.raw].map((r) => {
    const name = r.mode === GeneratorMode.Flash ? "flash-im" : "raw";
    return `N=${s.plan.n} ${name}: ${r.ok} up in ${r.connectSeconds.toFixed(2)} s from ` +
      `${r.generators} generators, ${r.openAfterHold} still open after the hold; ` +
      `failures: ${reasons(r.failures)}; dropped: ${reasons(r.dropped)}; server RSS ` +
      `${formatNumber(r.serverRssBefore / 2 ** 20)} -> ` +
      `${formatNumber(r.serverRssAfter / 2 ** 20)} MiB (peak ` +
      `${formatNumber(r.serverRssPeak / 2 ** 20)})` +
      (r.problems.length > 0
        ? `; server logged ${r.problems.length} warnings/errors, first: ` +
          r.problems[0]!.slice(0, 200)
        : "");
  });
}

/** The SVG chart: server RSS against connections, both servers. */
export function chartOf(steps: readonly ConnectionsStep[]): string {
  const series = (pick: (s: ConnectionsStep) => LoadResult, label: string, color: string) => {
    const befores = steps.map((s) => pick(s).serverRssBefore).sort((a, b) => a - b);
    return {
      label,
      color,
      points: [
        { x: 0, y: befores[befores.length >> 1]! },
        ...steps.map((s) => ({ x: pick(s).ok, y: pick(s).serverRssAfter })),
      ],
    };
  };
  return rssChart(
    [
      series((s) => s.flash, "flash-im node", "#1f6feb"),
      series((s) => s.raw, "raw Deno (4 KiB read)", "#999999"),
    ],
    "Server RSS vs open idle connections",
  );
}
