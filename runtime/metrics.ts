/**
 * Counters the runtime keeps for operators. Plain numbers, cheap to bump on the hot path,
 * readable at any time and mergeable across workers.
 *
 * @module
 */

/** Names of the runtime's monotonically increasing counters. */
export const COUNTERS = [
  "messagesDelivered",
  "messagesProcessed",
  "messagesSentRemote",
  "messagesForwarded",
  "notOwner",
  "deadLetters",
  "overflowRejected",
  "overflowDropped",
  "overflowCallback",
  "failures",
  "restarts",
  "stoppedByIntensity",
  "escalations",
  "activations",
  "passivations",
  "evictions",
  "asksTimedOut",
] as const;
/** A counter name. */
export type CounterName = typeof COUNTERS[number];

/** A snapshot of counters plus gauges. */
export type MetricsSnapshot = Record<CounterName, number> & {
  /** Actors currently resident (virtual and bound). */
  residents: number;
  /** Messages waiting in mailboxes. */
  queued: number;
};

/** Mutable counters owned by one actor system. */
export class RuntimeMetrics {
  readonly counts: Record<CounterName, number>;

  constructor() {
    this.counts = Object.fromEntries(COUNTERS.map((n) => [n, 0])) as Record<CounterName, number>;
  }

  /** Adds `n` (default 1) to a counter. */
  inc(name: CounterName, n = 1): void {
    this.counts[name] += n;
  }
}

/** Sums snapshots (e.g. from every worker of a node). */
export function mergeMetrics(snapshots: readonly MetricsSnapshot[]): MetricsSnapshot {
  const total = { residents: 0, queued: 0 } as MetricsSnapshot;
  for (const name of COUNTERS) total[name] = 0;
  for (const s of snapshots) {
    for (const name of COUNTERS) total[name] += s[name];
    total.residents += s.residents;
    total.queued += s.queued;
  }
  return total;
}
