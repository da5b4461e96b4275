/**
 * `GET /metrics`: this worker's histograms in the Prometheus text format (0.0.4). A node's
 * workers share the HTTP port, so a scrape reaches one of them; every series carries the
 * constant labels of the worker that answered (e.g. `worker="0"`), and a scraper that wants
 * the node's total scrapes over fresh connections until it has seen every worker, then sums.
 *
 * @module
 */

import type { HistogramSnapshot } from "../actors/mod.ts";
import type { HttpHandler } from "./http_chat_api.ts";

/** A histogram's counts at one moment: buckets by inclusive upper bound, plus overflow. */
/** A histogram's counts at one moment (the write batcher's `PowerOfTwoHistogram`). */
export type HistogramValues = HistogramSnapshot;

/** One exported histogram: its name, help line and how to read it now. */
export interface HistogramMetric {
  /** Prometheus metric name, e.g. `flashim_write_batch_items`. */
  readonly name: string;
  readonly help: string;
  readonly read: () => HistogramValues;
}

/** Options of {@link httpMetrics}. */
export interface HttpMetricsOptions {
  /** Labels on every series (default none), e.g. `{ worker: "0" }`. */
  readonly labels?: Readonly<Record<string, string>>;
  readonly histograms: readonly HistogramMetric[];
}

/**
 * The `GET /metrics` handler; `undefined` (not mine) for any other path.
 *
 * @example
 * ```ts
 * const metrics = httpMetrics({
 *   labels: { worker: "0" },
 *   histograms: [{ name: "flashim_write_batch_items", help: "Items per write",
 *     read: () => batcher.batchItems.snapshot() }],
 * });
 * const response = await metrics(new Request("http://x/metrics"));
 * ```
 */
export function httpMetrics(options: HttpMetricsOptions): HttpHandler {
  return (request) => {
    if (new URL(request.url).pathname !== "/metrics") return Promise.resolve(undefined);
    if (request.method !== "GET" && request.method !== "HEAD") {
      return Promise.resolve(
        new Response(null, { status: 405, headers: { allow: "GET, HEAD" } }),
      );
    }
    const body = options.histograms
      .map((h) => formatHistogram(h.name, h.help, options.labels ?? {}, h.read()))
      .join("");
    return Promise.resolve(
      new Response(body, { headers: { "content-type": "text/plain; version=0.0.4" } }),
    );
  };
}

/**
 * One histogram in the Prometheus text format: `# HELP`, `# TYPE`, cumulative `_bucket`
 * series by `le` (ending with `+Inf`), `_sum` and `_count`.
 *
 * @throws {RangeError} when `counts` is not one longer than `bounds`.
 */
export function formatHistogram(
  name: string,
  help: string,
  labels: Readonly<Record<string, string>>,
  values: HistogramValues,
): string {
  if (values.counts.length !== values.bounds.length + 1) {
    throw new RangeError(
      `Invalid histogram ${name}: ${values.counts.length} counts for ${values.bounds.length} bounds`,
    );
  }
  const base = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  const series = (extra: string[]) => {
    const all = [...base, ...extra];
    return all.length === 0 ? "" : `{${all.join(",")}}`;
  };
  const lines = [`# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`];
  lines.push(`# TYPE ${name} histogram`);
  let cumulative = 0;
  values.bounds.forEach((bound, i) => {
    cumulative += values.counts[i]!;
    lines.push(`${name}_bucket${series([`le="${bound}"`])} ${cumulative}`);
  });
  cumulative += values.counts[values.bounds.length]!;
  lines.push(`${name}_bucket${series(['le="+Inf"'])} ${cumulative}`);
  lines.push(`${name}_sum${series([])} ${values.sum}`);
  lines.push(`${name}_count${series([])} ${values.count}`);
  return lines.join("\n") + "\n";
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
