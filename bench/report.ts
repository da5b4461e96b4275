/**
 * What every benchmark suite produces and how it is printed: metrics (median of rounds,
 * with an optional raw baseline measured in the same run), machine info, a markdown table.
 *
 * @module
 */

/** Which direction is an improvement. */
export const Better = { Higher: "higher", Lower: "lower" } as const;
/** A direction of improvement. */
export type Better = typeof Better[keyof typeof Better];

/** A goal for a metric: on its value, or on its ratio to the baseline. */
export interface Target {
  readonly on: "value" | "ratio";
  readonly op: ">=" | "<=";
  readonly limit: number;
  /** How the target reads in the table, e.g. `>= 1M msgs/s`. */
  readonly text: string;
}

/** The raw reference a metric is compared with. */
export interface Baseline {
  readonly label: string;
  readonly value: number;
  readonly rounds: readonly number[];
}

/** One measured quantity: the median of its rounds. */
export interface Metric {
  /** Stable dotted id, e.g. `tell.throughput`. */
  readonly name: string;
  readonly label: string;
  readonly unit: string;
  readonly better: Better;
  readonly value: number;
  readonly rounds: readonly number[];
  readonly baseline?: Baseline;
  /** `value / baseline.value`. */
  readonly ratio?: number;
  readonly target?: Target;
  /** Whether the target was met (absent without a target). */
  readonly met?: boolean;
  /** The same quantity on another setup of flash-im measured in the same run. */
  readonly alternate?: Alternate;
}

/** A metric's value on another setup (e.g. the node on Postgres + Redis). */
export interface Alternate {
  readonly value: number;
  readonly rounds: readonly number[];
  /** `value / metric.value`. */
  readonly ratio: number;
  /** Whether it meets the metric's target (absent without a target). */
  readonly met?: boolean;
}

/** Where the numbers were taken. */
export interface MachineInfo {
  readonly cores: number;
  readonly deno: string;
  readonly v8: string;
  readonly os: string;
  readonly arch: string;
  readonly hostname: string;
}

/** What a suite hands back. */
export interface SuiteResult {
  readonly suite: string;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly quick: boolean;
  readonly machine: MachineInfo;
  /** Sizes the suite ran with (message counts, rounds...). */
  readonly params: Readonly<Record<string, number>>;
  readonly metrics: readonly Metric[];
  /** Free-text remarks printed under the table. */
  readonly notes: readonly string[];
  /** Names of the two flash-im setups when metrics carry an {@link Alternate}. */
  readonly setups?: Setups;
  /** More tables printed under the main one (e.g. a cluster next to a single node). */
  readonly sections?: readonly TableSection[];
}

/** Names of the two flash-im setups a table compares. */
export interface Setups {
  readonly primary: string;
  readonly alternate: string;
}

/** A table of its own under the main one, with its own setups. */
export interface TableSection {
  readonly title: string;
  readonly setups?: Setups;
  readonly metrics: readonly Metric[];
}

/**
 * Flags of one suite only (`deno task bench connections --n 20000`); each suite reads
 * those it knows. The CLI checks them (integers, ranges) before any suite runs.
 */
export interface SuiteFlags {
  /** `connections`: connections to open (one step). */
  readonly n?: number;
  /** `connections`: several connection counts, measured one after the other. */
  readonly steps?: readonly number[];
  /** `connections`: seconds to hold the connections open. */
  readonly hold?: number;
  /** `connections`: load generator processes. */
  readonly generators?: number;
  /** `connections`: the node's worker threads. */
  readonly workers?: number;
  /** `connections`: connects in flight per generator. */
  readonly concurrency?: number;
  /** `messages`: PostgreSQL URL of a second node on the real backends. */
  readonly postgres?: string;
  /** `messages`: Redis URL of that node. */
  readonly redis?: string;
  /** `connections`, `messages`: also run a cluster of this many nodes on this machine. */
  readonly nodes?: number;
  /** `connections`, `messages`: the cluster's NATS URL. */
  readonly nats?: string;
}

/** Options every suite accepts. */
export interface SuiteOptions {
  /** Smaller sizes for a smoke run. */
  readonly quick: boolean;
  /** Progress lines (stderr in the CLI). */
  readonly progress: (line: string) => void;
  /** Suite-specific flags (default: none given). */
  readonly flags?: SuiteFlags;
}

/** A named benchmark suite. */
export interface Suite {
  readonly name: string;
  readonly description: string;
  run(options: SuiteOptions): Promise<SuiteResult>;
}

/** What a suite passes to {@link metric}: rounds instead of a median. */
export interface MetricInput {
  readonly name: string;
  readonly label: string;
  readonly unit: string;
  readonly better: Better;
  readonly rounds: readonly number[];
  readonly baseline?: { readonly label: string; readonly rounds: readonly number[] };
  readonly target?: Target;
  /** Rounds of the same quantity on another flash-im setup. */
  readonly alternate?: readonly number[];
}

/** Builds a metric from its rounds: medians, ratios and target checks. */
export function metric(input: MetricInput): Metric {
  const value = median(input.rounds);
  const baseline = input.baseline &&
    {
      label: input.baseline.label,
      value: median(input.baseline.rounds),
      rounds: input.baseline.rounds,
    };
  const ratio = baseline ? value / baseline.value : undefined;
  const meets = (v: number, r: number | undefined) => {
    if (!input.target) return undefined;
    const measured = input.target.on === "value" ? v : r;
    return measured !== undefined &&
      (input.target.op === ">=" ? measured >= input.target.limit : measured <= input.target.limit);
  };
  let alternate: Alternate | undefined;
  if (input.alternate) {
    const alt = median(input.alternate);
    alternate = {
      value: alt,
      rounds: input.alternate,
      ratio: alt / value,
      met: meets(alt, baseline ? alt / baseline.value : undefined),
    };
  }
  return { ...input, value, baseline, ratio, met: meets(value, ratio), alternate };
}

/**
 * The median of `values`.
 *
 * @throws {RangeError} on an empty list.
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError("Cannot take the median of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The `p`-th percentile (0..100, nearest rank) of `values`, which must be sorted ascending.
 *
 * @throws {RangeError} on an empty list or `p` outside 0..100.
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) throw new RangeError("Cannot take a percentile of no values");
  if (!(p >= 0 && p <= 100)) throw new RangeError(`Invalid percentile: ${p} is not within 0..100`);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** `date` as a file-name-safe UTC timestamp: `2026-01-02T03-04-05Z`. */
export function timestamp(date: Date): string {
  return date.toISOString().replace(/:/g, "-").replace(/\.\d+Z$/, "Z");
}

/** This machine, for the table footer and the JSON. */
export function machineInfo(): MachineInfo {
  return {
    cores: navigator.hardwareConcurrency,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    os: Deno.build.os,
    arch: Deno.build.arch,
    hostname: Deno.hostname(),
  };
}

/** Formats a number for the table: SI suffix for large values, 3 significant digits. */
export function formatNumber(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${(value / 1e9).toPrecision(3)}G`;
  if (abs >= 1e6) return `${(value / 1e6).toPrecision(3)}M`;
  if (abs >= 1e4) return `${(value / 1e3).toPrecision(3)}k`;
  if (abs >= 100) return value.toFixed(0);
  return value.toPrecision(3);
}

/** The suite's results as a markdown table with a footer (machine, caveats, notes). */
export function formatTable(result: SuiteResult): string {
  const lines = [
    `### Suite \`${result.suite}\`${result.quick ? " (quick)" : ""}`,
    "",
    ...tableLines(result.metrics, result.setups),
    ...(result.sections ?? []).flatMap((section) => [
      "",
      `**${section.title}**`,
      "",
      ...tableLines(section.metrics, section.setups),
    ]),
    "",
    `Median of rounds; ratio = flash-im / baseline (throughput: higher is better; ` +
    `latency, time and bytes: lower is better).`,
    `Machine: ${result.machine.cores} cores, Deno ${result.machine.deno} (V8 ${result.machine.v8}), ` +
    `${result.machine.os}/${result.machine.arch}. Suite took ${
      (result.durationMs / 1000).toFixed(1)
    } s.`,
    `Caveat: numbers from a shared, possibly noisy machine; compare ratios measured in the ` +
    `same run rather than absolute values across runs.`,
    ...result.notes.map((note) => `- ${note}`),
  ];
  return lines.join("\n");
}

/** The markdown rows of one table. */
function tableLines(metrics: readonly Metric[], setups: Setups | undefined): string[] {
  const yes = (met: boolean | undefined) => met === undefined ? "-" : met ? "yes" : "NO";
  const rows = setups === undefined
    ? [
      ["Metric", "flash-im", "Raw baseline", "Ratio", "Target", "Met"],
      ["---", "---:", "---", "---:", "---", ":---:"],
    ]
    : [
      [
        "Metric",
        `flash-im, ${setups.primary}`,
        `flash-im, ${setups.alternate}`,
        `${setups.alternate} / ${setups.primary}`,
        "Raw baseline",
        `Ratio (${setups.primary} / raw)`,
        "Target",
        `Met (${setups.primary} / ${setups.alternate})`,
      ],
      ["---", "---:", "---:", "---:", "---", "---:", "---", ":---:"],
    ];
  for (const m of metrics) {
    const alt = m.alternate;
    rows.push([
      m.label,
      `${formatNumber(m.value)} ${m.unit}`,
      ...(setups === undefined ? [] : [
        alt ? `${formatNumber(alt.value)} ${m.unit}` : "-",
        alt && Number.isFinite(alt.ratio) ? `${alt.ratio.toFixed(2)}x` : "-",
      ]),
      m.baseline ? `${formatNumber(m.baseline.value)} ${m.unit} (${m.baseline.label})` : "-",
      m.ratio === undefined ? "-" : `${m.ratio.toFixed(2)}x`,
      m.target?.text ?? "-",
      setups === undefined || m.met === undefined ? yes(m.met) : `${yes(m.met)} / ${yes(alt?.met)}`,
    ]);
  }
  return rows.map((r) => `| ${r.join(" | ")} |`);
}
