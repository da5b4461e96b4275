/**
 * Cluster membership as pure state: who is in the cluster, who is suspected,
 * who is dead, and when a changed member set becomes a new view. Time is
 * passed in; there is no I/O and no timer here. `membership.ts` is the shell
 * that feeds it from NATS heartbeats and the JetStream KV registry.
 *
 * A node is a member when it is registered (its KV entry exists) and a
 * heartbeat from it arrived within `deadMs`; this node itself is always a
 * member. A member silent for more than `suspectMs` is a suspect (still a
 * member); silent for more than `deadMs` it is dead and leaves the view. A
 * changed member set is published only after it stayed the same for
 * `stabilizeMs`, so a flapping node does not move shards back and forth.
 *
 * @module
 */

/** One member of the cluster: a node incarnation. */
export interface ClusterMember {
  /** Node incarnation id (host.pid.random): a restarted process is a new member. */
  readonly node: string;
  /** Worker count: the member's placement weight. */
  readonly workers: number;
  /** When it joined (ms since epoch, its own clock): informational. */
  readonly since: number;
}

/** The member set this node currently routes by. */
export interface ClusterView {
  /** Increases by one at every change this node applies (local counter). */
  readonly version: number;
  /** Same on every node that sees the same members: a hash of the sorted node ids and worker counts. */
  readonly id: string;
  /** Sorted by node id. */
  readonly members: readonly ClusterMember[];
}

/** Default suspicion delay: a member silent this long is a suspect. */
export const DEFAULT_SUSPECT_MS = 3_000;
/** Default death delay: a member silent this long leaves the view. */
export const DEFAULT_DEAD_MS = 5_000;
/** Default stabilization delay: a changed member set must hold this long. */
export const DEFAULT_STABILIZE_MS = 500;

/**
 * The id of a member set: FNV-1a 64 over the members sorted by node id with
 * their worker counts, as 16 hex digits. `since` is not part of it (it is
 * informational). The input order does not matter.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { clusterViewId } from "./cluster_view.ts";
 *
 * const a = { node: "a", workers: 2, since: 1 };
 * const b = { node: "b", workers: 4, since: 2 };
 * assert.equal(clusterViewId([a, b]), clusterViewId([b, { ...a, since: 9 }]));
 * ```
 */
export function clusterViewId(members: readonly ClusterMember[]): string {
  return fnv1a64(canonical(sortMembers(members)));
}

/** Options of a {@linkcode MembershipTable}; durations in ms, defaults as the constants above. */
export interface MembershipTableOptions {
  /** This node: always a member. */
  readonly self: ClusterMember;
  /** Silence after which a member is suspected; default {@linkcode DEFAULT_SUSPECT_MS} (at most `deadMs`). */
  readonly suspectMs?: number;
  /** Silence after which a member is dead; default {@linkcode DEFAULT_DEAD_MS}. */
  readonly deadMs?: number;
  /** How long a changed member set must hold; default {@linkcode DEFAULT_STABILIZE_MS}. */
  readonly stabilizeMs?: number;
}

/** What the host must do after {@linkcode MembershipTable.tick}. */
export interface MembershipStep {
  /** A new view to apply, when one is due. */
  readonly view?: ClusterView;
  /**
   * Dead nodes whose registry entries this node should delete: only the alive
   * member with the smallest node id gets any, each at most once per `deadMs`.
   */
  readonly expired: readonly string[];
}

interface NodeRecord {
  /** Set while the node is registered. */
  member?: ClusterMember;
  /** When the current registration was first seen (-Infinity when none). */
  registeredAt: number;
  heardAt?: number;
  /** Last heartbeat sequence number; older ones are ignored. */
  seq: number;
  /** Set once the node announced it leaves: it is never alive again. */
  departedAt?: number;
  /** When this node last asked for the entry to be deleted. */
  expiredAt?: number;
}

/**
 * The membership state machine of one node. Feed it registry events and
 * heartbeats with the time they were seen, call {@linkcode MembershipTable.tick}
 * periodically, and apply the views it returns. All times come from one
 * monotonic clock of this node.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MembershipTable } from "./cluster_view.ts";
 *
 * const self = { node: "a", workers: 2, since: 0 };
 * const table = new MembershipTable({ self, deadMs: 5_000, stabilizeMs: 500 });
 * table.publish(0); // the first view: just "a"
 * table.registered({ node: "b", workers: 2, since: 0 }, 10);
 * table.heartbeat("b", 10);
 * assert.equal(table.tick(100).view, undefined); // not stable yet
 * const view = table.tick(510).view!;
 * assert.deepEqual(view.members.map((m) => m.node), ["a", "b"]);
 * assert.equal(view.version, 2);
 * ```
 */
export class MembershipTable {
  readonly #self: ClusterMember;
  readonly #suspectMs: number;
  readonly #deadMs: number;
  readonly #stabilizeMs: number;
  #records = new Map<string, NodeRecord>();
  #view: ClusterView | undefined;
  /** Canonical form of the alive set last observed, and since when it holds. */
  #candidate = "";
  #candidateSince = 0;
  /** Canonical form of the published view's members. */
  #published = "";

  /**
   * Creates a table where only `self` is known.
   *
   * @throws {TypeError} if `self` is not a valid member.
   * @throws {RangeError} if a duration is not finite and non-negative, or
   * not `0 < suspectMs <= deadMs`.
   */
  constructor(options: MembershipTableOptions) {
    const problem = memberProblem(options.self);
    if (problem) throw new TypeError(`Cannot create membership table: ${problem}`);
    this.#self = freezeMember(options.self);
    this.#deadMs = options.deadMs ?? DEFAULT_DEAD_MS;
    this.#suspectMs = options.suspectMs ?? Math.min(DEFAULT_SUSPECT_MS, this.#deadMs);
    this.#stabilizeMs = options.stabilizeMs ?? DEFAULT_STABILIZE_MS;
    for (const key of ["suspectMs", "deadMs", "stabilizeMs"] as const) {
      const value = key === "suspectMs"
        ? this.#suspectMs
        : key === "deadMs"
        ? this.#deadMs
        : this.#stabilizeMs;
      if (!Number.isFinite(value) || value < 0) {
        throw new RangeError(
          `Cannot create membership table: ${key} ${value} is not a finite non-negative number`,
        );
      }
    }
    if (!(this.#suspectMs > 0 && this.#suspectMs <= this.#deadMs)) {
      throw new RangeError(
        `Cannot create membership table: suspectMs ${this.#suspectMs} is not within 1..deadMs ${this.#deadMs}`,
      );
    }
  }

  /** The last published view; `undefined` before {@linkcode MembershipTable.publish}. */
  get view(): ClusterView | undefined {
    return this.#view;
  }

  /** A registry entry appeared or changed (KV put). Entries for `self` are ignored. */
  registered(member: ClusterMember, at: number): void {
    if (member.node === this.#self.node) return;
    const record = this.#record(member.node);
    const was = this.#alive(record, at);
    // A replayed entry (watch restart) keeps its first time: no endless grace.
    if (!record.member) record.registeredAt = at;
    record.member = freezeMember(member);
    this.#changed(was, record, at);
  }

  /** A registry entry was deleted or purged. Entries for `self` are ignored. */
  unregistered(node: string, at: number): void {
    if (node === this.#self.node) return;
    const record = this.#records.get(node);
    if (!record?.member) return;
    const was = this.#alive(record, at);
    record.member = undefined;
    record.registeredAt = -Infinity;
    record.expiredAt = undefined;
    this.#changed(was, record, at);
  }

  /**
   * A heartbeat from `node` arrived. A `seq` not above the last one seen is
   * ignored (a replay); heartbeats from `self` are ignored.
   */
  heartbeat(node: string, at: number, seq?: number): void {
    if (node === this.#self.node) return;
    const record = this.#record(node);
    if (seq !== undefined) {
      if (seq <= record.seq) return;
      record.seq = seq;
    }
    const was = this.#alive(record, at);
    record.heardAt = Math.max(record.heardAt ?? -Infinity, at);
    this.#changed(was, record, at);
  }

  /** `node` announced a graceful leave: it is dropped without waiting for `deadMs`. */
  left(node: string, at: number): void {
    if (node === this.#self.node) return;
    const record = this.#record(node);
    const was = this.#alive(record, at);
    record.departedAt ??= at;
    this.#changed(was, record, at);
  }

  /**
   * Publishes the current member set as the next view at once, skipping
   * stabilization (the first view, when this node joins).
   */
  publish(now: number): ClusterView {
    const members = this.members(now);
    this.#candidate = canonical(members);
    this.#candidateSince = now;
    this.#published = this.#candidate;
    this.#view = Object.freeze({
      version: (this.#view?.version ?? 0) + 1,
      id: fnv1a64(this.#candidate),
      members: Object.freeze(members),
    });
    return this.#view;
  }

  /**
   * Advances time: forgets long-gone nodes, publishes the member set as a new
   * view once it differs from the current view and held for `stabilizeMs`,
   * and lists the dead registry entries to delete. Publishes nothing before
   * the first {@linkcode MembershipTable.publish}.
   */
  tick(now: number): MembershipStep {
    this.#prune(now);
    this.#observe(now);
    let view: ClusterView | undefined;
    if (
      this.#view !== undefined &&
      this.#candidate !== this.#published &&
      now - this.#candidateSince >= this.#stabilizeMs
    ) {
      view = this.publish(now);
    }
    return view ? { view, expired: this.#expired(now) } : { expired: this.#expired(now) };
  }

  /** The members alive at `now` (self included), sorted by node id. */
  members(now: number): ClusterMember[] {
    const out = [this.#self];
    for (const record of this.#records.values()) {
      if (this.#alive(record, now)) out.push(record.member!);
    }
    return sortMembers(out);
  }

  /** Members silent for more than `suspectMs` but not yet dead. */
  suspects(now: number): ReadonlySet<string> {
    const out = new Set<string>();
    for (const [node, record] of this.#records) {
      if (this.#alive(record, now) && now - record.heardAt! > this.#suspectMs) out.add(node);
    }
    return out;
  }

  /** Registered nodes (self aside) not heard from yet: a joining node waits for them briefly. */
  unheard(): string[] {
    const out: string[] = [];
    for (const [node, record] of this.#records) {
      if (record.member && record.departedAt === undefined && record.heardAt === undefined) {
        out.push(node);
      }
    }
    return out;
  }

  #record(node: string): NodeRecord {
    let record = this.#records.get(node);
    if (!record) {
      record = { registeredAt: -Infinity, seq: -1 };
      this.#records.set(node, record);
    }
    return record;
  }

  #alive(record: NodeRecord, now: number): boolean {
    return record.member !== undefined && record.departedAt === undefined &&
      record.heardAt !== undefined && now - record.heardAt <= this.#deadMs;
  }

  #changed(was: boolean, record: NodeRecord, at: number): void {
    if (was !== this.#alive(record, at)) this.#observe(at);
  }

  #observe(now: number): void {
    const candidate = canonical(this.members(now));
    if (candidate !== this.#candidate) {
      this.#candidate = candidate;
      this.#candidateSince = now;
    }
  }

  /** The last sign of life of a record: registration, heartbeat or leave. */
  #lastSign(record: NodeRecord): number {
    return Math.max(
      record.registeredAt,
      record.heardAt ?? -Infinity,
      record.departedAt ?? -Infinity,
    );
  }

  #prune(now: number): void {
    for (const [node, record] of this.#records) {
      // Unregistered nodes are kept a while so a late heartbeat finds them departed.
      if (!record.member && now - this.#lastSign(record) > 2 * this.#deadMs) {
        this.#records.delete(node);
      }
    }
  }

  #expired(now: number): string[] {
    const leader = this.members(now)[0];
    if (leader.node !== this.#self.node) return [];
    const out: string[] = [];
    for (const [node, record] of this.#records) {
      if (
        record.member && !this.#alive(record, now) &&
        now - this.#lastSign(record) > this.#deadMs &&
        (record.expiredAt === undefined || now - record.expiredAt > this.#deadMs)
      ) {
        record.expiredAt = now;
        out.push(node);
      }
    }
    return out;
  }
}

/**
 * Why `value` is not a valid {@linkcode ClusterMember}, or `undefined`.
 * Node ids must be valid KV keys and subject-safe: `[-_=A-Za-z0-9]` tokens
 * joined by dots, at most 256 characters. Workers: a positive integer.
 */
export function memberProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return "member is not an object";
  const { node, workers, since } = value as Record<string, unknown>;
  if (typeof node !== "string" || node.length > 256 || !NODE_ID.test(node)) {
    return `node ${JSON.stringify(node)} is not a dot-separated id of [-_=A-Za-z0-9] tokens`;
  }
  if (!Number.isSafeInteger(workers) || (workers as number) < 1) {
    return `workers ${workers} of node ${node} is not a positive integer`;
  }
  if (typeof since !== "number" || !Number.isFinite(since)) {
    return `since ${since} of node ${node} is not a finite number`;
  }
  return undefined;
}

const NODE_ID = /^[-_=A-Za-z0-9]+(\.[-_=A-Za-z0-9]+)*$/;

function freezeMember(member: ClusterMember): ClusterMember {
  return Object.freeze({ node: member.node, workers: member.workers, since: member.since });
}

function sortMembers(members: readonly ClusterMember[]): ClusterMember[] {
  // Code-unit order, not locale order: every node must sort the same way.
  return [...members].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
}

function canonical(sorted: readonly ClusterMember[]): string {
  return JSON.stringify(sorted.map((m) => [m.node, m.workers]));
}

const FNV64_OFFSET = 0xcbf29ce484222325n;
const FNV64_PRIME = 0x100000001b3n;
const MASK64 = (1n << 64n) - 1n;

/** FNV-1a 64 over UTF-8; BigInt is slow but views change rarely. */
function fnv1a64(text: string): string {
  let hash = FNV64_OFFSET;
  for (const byte of new TextEncoder().encode(text)) {
    hash = ((hash ^ BigInt(byte)) * FNV64_PRIME) & MASK64;
  }
  return hash.toString(16).padStart(16, "0");
}
