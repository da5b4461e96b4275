/**
 * Rows per commit of a node, read from its `GET /metrics` (`flashim_write_batch_items`, a
 * histogram per worker in power-of-two buckets; see gateway/http_metrics.ts). A scrape
 * reaches whichever worker the kernel hands the connection to, so {@link scrapeBatchItems}
 * scrapes over a fresh connection each time until it has seen every worker (bounded), then
 * sums them. Phases are measured as the difference of two scrapes.
 *
 * @module
 */

/** The metric the node exports. */
export const BATCH_ITEMS_METRIC = "flashim_write_batch_items";

/** A histogram with cumulative buckets, as Prometheus exports it. */
export interface Histogram {
  /** Inclusive upper bounds, ascending; the last is `Infinity`. */
  readonly bounds: readonly number[];
  /** Cumulative counts, one per bound. */
  readonly cumulative: readonly number[];
  readonly sum: number;
  readonly count: number;
}

/** What a phase's commits looked like. */
export interface BatchStats {
  /** Store writes (appendBatch calls) in the phase. */
  readonly writes: number;
  /** Messages written. */
  readonly items: number;
  /** Exact mean rows per write. */
  readonly mean: number;
  /** Estimated median and p90 rows per write (interpolated within power-of-two buckets). */
  readonly p50: number;
  readonly p90: number;
}

/**
 * The series of histogram `name` in Prometheus text, by the value of label `by`.
 *
 * @throws {TypeError} when a worker's buckets do not end with `+Inf` or disagree with its count.
 */
export function parseHistograms(text: string, name: string, by = "worker"): Map<string, Histogram> {
  const raw = new Map<string, { buckets: [number, number][]; sum: number; count: number }>();
  const line = new RegExp(`^${name}_(bucket|sum|count)(?:\\{([^}]*)\\})? (\\S+)$`);
  for (const text_ of text.split("\n")) {
    const match = line.exec(text_);
    if (match === null) continue;
    const labels = Object.fromEntries(
      [...match[2]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]),
    );
    const key = labels[by] ?? "";
    const entry = raw.get(key) ?? { buckets: [], sum: 0, count: 0 };
    raw.set(key, entry);
    const value = Number(match[3]);
    if (match[1] === "bucket") {
      entry.buckets.push([labels.le === "+Inf" ? Infinity : Number(labels.le), value]);
    } else entry[match[1] as "sum" | "count"] = value;
  }
  const result = new Map<string, Histogram>();
  for (const [key, { buckets, sum, count }] of raw) {
    buckets.sort((a, b) => a[0] - b[0]);
    if (buckets.at(-1)?.[0] !== Infinity || buckets.at(-1)![1] !== count) {
      throw new TypeError(`Invalid histogram ${name}{${by}="${key}"}: bad +Inf bucket`);
    }
    result.set(key, {
      bounds: buckets.map((b) => b[0]),
      cumulative: buckets.map((b) => b[1]),
      sum,
      count,
    });
  }
  return result;
}

/**
 * `a + sign * b` bucket by bucket (`sign` -1: the change from `b` to `a`).
 *
 * @throws {TypeError} when the bounds differ.
 */
export function combineHistograms(a: Histogram, b: Histogram, sign: 1 | -1 = 1): Histogram {
  if (a.bounds.length !== b.bounds.length || a.bounds.some((x, i) => x !== b.bounds[i])) {
    throw new TypeError("Cannot combine histograms with different buckets");
  }
  return {
    bounds: a.bounds,
    cumulative: a.cumulative.map((c, i) => c + sign * b.cumulative[i]!),
    sum: a.sum + sign * b.sum,
    count: a.count + sign * b.count,
  };
}

/**
 * The `q` quantile (0..1) of a histogram of positive integers, interpolated linearly within
 * its bucket like Prometheus' `histogram_quantile` (a bucket's lower edge is the previous
 * bound; the first bucket, `<= 1`, holds only 1s). `NaN` without observations.
 */
export function histogramQuantile(q: number, h: Histogram): number {
  if (h.count === 0) return NaN;
  const rank = q * h.count;
  const i = h.cumulative.findIndex((c) => c >= rank);
  if (i <= 0) return h.bounds[0]!;
  // The overflow bucket has no upper edge: answer its lower one.
  if (h.bounds[i] === Infinity) return h.bounds[i - 1]!;
  const below = h.cumulative[i - 1]!;
  const lower = h.bounds[i - 1]!;
  return lower + (h.bounds[i]! - lower) * (rank - below) / (h.cumulative[i]! - below);
}

/** A phase's {@link BatchStats} from the histogram of its writes. */
export function batchStats(h: Histogram): BatchStats {
  return {
    writes: h.count,
    items: h.sum,
    mean: h.count === 0 ? NaN : h.sum / h.count,
    p50: histogramQuantile(0.5, h),
    p90: histogramQuantile(0.9, h),
  };
}

/** The node's total rows-per-write histogram, and how many workers answered. */
export interface Scrape {
  readonly histogram: Histogram;
  readonly workersSeen: number;
}

/**
 * Scrapes `${http}/metrics` over a new connection each time until `workers` distinct
 * workers answered or `attempts` scrapes were made, and sums their histograms.
 *
 * @throws {Error} when no scrape returned the metric.
 */
export async function scrapeBatchItems(
  http: string,
  workers: number,
  options: { attempts?: number } = {},
): Promise<Scrape> {
  const seen = new Map<string, Histogram>();
  const attempts = options.attempts ?? Math.max(20, workers * 20);
  for (let i = 0; i < attempts && seen.size < workers; i++) {
    // A client per scrape: a pooled keep-alive connection would reach the same worker again.
    using client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
    const response = await fetch(`${http}/metrics`, {
      client,
      signal: AbortSignal.timeout(5000),
    });
    if (!response.ok) throw new Error(`GET /metrics: HTTP ${response.status}`);
    for (const [worker, h] of parseHistograms(await response.text(), BATCH_ITEMS_METRIC)) {
      seen.set(worker, h);
    }
  }
  const all = [...seen.values()];
  if (all.length === 0) throw new Error(`GET /metrics: no ${BATCH_ITEMS_METRIC} series`);
  return {
    histogram: all.slice(1).reduce((a, h) => combineHistograms(a, h), all[0]!),
    workersSeen: seen.size,
  };
}
