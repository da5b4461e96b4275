/**
 * Membership against real NATS: the shared server at 127.0.0.1:4222 (a random
 * cluster name per test) and, for outages, a throwaway `nats-server` on a
 * free port. Short timings keep the file fast; every wait has a bound.
 */
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import type { ClusterMember, ClusterView } from "./cluster_view.ts";
import { jsonLogger } from "./logger.ts";
import { Membership, type MembershipOptions, type MembershipTuning } from "./membership.ts";

const SHARED_NATS = "127.0.0.1:4222";
const FAST = { heartbeatMs: 100, suspectMs: 300, deadMs: 500, stabilizeMs: 100 } as const;
/** deadMs + stabilizeMs + a tick, with generous slack for a loaded CI box. */
const DROP_BOUND_MS = 500 + 100 + 1_500;

interface TestNode {
  readonly name: string;
  readonly self: ClusterMember;
  readonly nc: NatsConnection;
  readonly views: ClusterView[];
  readonly fenced: string[];
  readonly logs: string[];
  membership: Membership;
}

/** Nodes of one test cluster; closes everything and drops the bucket on dispose. */
class TestCluster implements AsyncDisposable {
  readonly name = `t${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  readonly nodes: TestNode[] = [];
  #extra: NatsConnection[] = [];

  constructor(readonly servers = SHARED_NATS) {}

  async connect(): Promise<NatsConnection> {
    const nc = await connect({
      servers: this.servers,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 50,
      reconnectJitter: 0,
    });
    this.#extra.push(nc);
    return nc;
  }

  async join(
    name: string,
    options: Partial<MembershipOptions & MembershipTuning> = {},
  ): Promise<TestNode> {
    const nc = await this.connect();
    const self = {
      node: `${name}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}`,
      workers: 2,
      since: Date.now(),
    };
    const views: ClusterView[] = [];
    const fenced: string[] = [];
    const logs: string[] = [];
    const membership = await Membership.join({
      nc,
      cluster: this.name,
      self,
      ...FAST,
      logger: jsonLogger((line) => logs.push(line), { minLevel: "debug" }),
      onView: (view) => views.push(view),
      onFenced: (reason) => fenced.push(reason),
      ...options,
    });
    const node = { name, self, nc, views, fenced, logs, membership };
    this.nodes.push(node);
    return node;
  }

  /** The registry entry of `node`: its operation, or undefined when missing. */
  async entry(node: string): Promise<string | undefined> {
    // The newest connection: after a server restart the test opens a fresh one.
    const nc = this.#extra.findLast((c) => !c.isClosed())!;
    const kv = await new Kvm(nc).open(`flashim_${this.name}_members`);
    return (await kv.get(node))?.operation;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const node of this.nodes) await node.membership.close();
    const nc = this.#extra.find((c) => !c.isClosed() && !c.isDraining());
    if (nc && this.servers === SHARED_NATS) {
      try {
        await (await new Kvm(nc).open(`flashim_${this.name}_members`)).destroy();
      } catch {
        // Already gone.
      }
    }
    for (const c of this.#extra) if (!c.isClosed()) await c.close();
  }
}

async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
): Promise<number> {
  const started = performance.now();
  while (!(await condition())) {
    if (performance.now() - started > timeoutMs) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return performance.now() - started;
}

function nodesOf(view: ClusterView): string[] {
  return view.members.map((m) => m.node);
}

function sortedIds(nodes: readonly TestNode[]): string[] {
  return nodes.map((n) => n.self.node).sort();
}

/** Every node in `nodes` has the view made of exactly `nodes`. */
function converged(nodes: readonly TestNode[]): boolean {
  const want = JSON.stringify(sortedIds(nodes));
  const id = nodes[0].membership.view.id;
  return nodes.every((n) =>
    JSON.stringify(nodesOf(n.membership.view)) === want && n.membership.view.id === id
  );
}

Deno.test("Membership.join() gives three members the same view", async () => {
  await using cluster = new TestCluster();
  const a = await cluster.join("a");
  assert.deepEqual(nodesOf(a.membership.view), [a.self.node]);
  assert.equal(a.views[0], a.membership.view);
  const b = await cluster.join("b");
  const c = await cluster.join("c");
  // A joiner's first view already holds the live peers.
  assert.deepEqual(nodesOf(c.views[0]), sortedIds([a, b, c]));
  await waitFor("three converged views", () => converged([a, b, c]));
  for (const node of [a, b, c]) {
    assert.deepEqual(node.fenced, []);
    assert.ok(node.views.every((v, i) => v.version === i + 1));
    assert.deepEqual(
      node.membership.view.members.find((m) => m.node === node.self.node),
      node.self,
    );
  }
});

Deno.test("Membership drops a member whose heartbeats stop and deletes its entry", async () => {
  await using cluster = new TestCluster();
  const [a, b, c] = [await cluster.join("a"), await cluster.join("b"), await cluster.join("c")];
  await waitFor("three converged views", () => converged([a, b, c]));
  await b.membership.close();
  let suspected = false;
  const elapsed = await waitFor("b dropped", () => {
    suspected ||= a.membership.suspects().has(b.self.node);
    return converged([a, c]);
  }, DROP_BOUND_MS);
  assert.ok(suspected, "b was a suspect before it was dropped");
  assert.ok(elapsed >= FAST.suspectMs, `dropped after ${elapsed} ms, before it was even suspect`);
  await waitFor("b's entry deleted", async () => (await cluster.entry(b.self.node)) !== "PUT");
  assert.deepEqual(await cluster.entry(a.self.node), "PUT");
  assert.deepEqual([...a.fenced, ...c.fenced], []);
});

Deno.test("Membership.leave() drops the member well before deadMs", async () => {
  await using cluster = new TestCluster();
  // A long deadMs makes "well before" unambiguous.
  const slow = { suspectMs: 2_000, deadMs: 5_000 };
  const [a, b, c] = [
    await cluster.join("a", slow),
    await cluster.join("b", slow),
    await cluster.join("c", slow),
  ];
  await waitFor("three converged views", () => converged([a, b, c]));
  await b.membership.leave();
  const elapsed = await waitFor("b dropped", () => converged([a, c]), 2_000);
  assert.ok(elapsed < 2_000, `left after ${elapsed} ms`);
  assert.notEqual(await cluster.entry(b.self.node), "PUT");
  assert.deepEqual([...a.fenced, ...b.fenced, ...c.fenced], []);
  await b.membership.leave(); // idempotent
});

/** Joins "a" (the cleanup leader: it sorts first) and "b" with `tuning`; then "b" leaves. */
async function leaveWith(
  cluster: TestCluster,
  tuning: MembershipTuning,
): Promise<[TestNode, TestNode]> {
  const [a, b] = [await cluster.join("a", tuning), await cluster.join("b", tuning)];
  await waitFor("two converged views", () => converged([a, b]));
  await b.membership.leave();
  return [a, b];
}

function purges(node: TestNode): number {
  return node.logs.filter((line) => line.includes("Purged registry delete markers")).length;
}

Deno.test("Membership's cleanup leader purges the delete markers of departed members", async () => {
  await using cluster = new TestCluster();
  const [a, b] = await leaveWith(cluster, { purgeEveryMs: 100, purgeOlderMs: 0 });
  await waitFor("b's delete marker purged", async () => !(await cluster.entry(b.self.node)));
  assert.equal(await cluster.entry(a.self.node), "PUT");
  assert.ok(purges(a) > 0);
  assert.deepEqual([...a.fenced, ...b.fenced], []);
});

Deno.test("Membership keeps delete markers younger than purgeOlderMs", async () => {
  await using cluster = new TestCluster();
  const [a, b] = await leaveWith(cluster, { purgeEveryMs: 100, purgeOlderMs: 60_000 });
  const before = purges(a);
  await waitFor("a purge after the leave", () => purges(a) > before);
  assert.equal(await cluster.entry(b.self.node), "DEL");
  assert.deepEqual([...a.fenced, ...b.fenced], []);
});

Deno.test("Membership fences a member whose NATS connection closed", async () => {
  await using cluster = new TestCluster();
  const [a, b] = [await cluster.join("a"), await cluster.join("b")];
  await waitFor("two converged views", () => converged([a, b]));
  await b.nc.close();
  await waitFor("b fenced", () => b.fenced.length > 0, 2_000);
  assert.equal(b.fenced.length, 1);
  assert.match(b.fenced[0], /NATS connection closed/);
  await waitFor("b dropped", () => converged([a]), DROP_BOUND_MS);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(b.fenced.length, 1, "onFenced is called once");
  assert.deepEqual(a.fenced, []);
});

Deno.test("Membership fences a member whose registry entry a peer deleted", async () => {
  await using cluster = new TestCluster();
  const [a, b] = [await cluster.join("a"), await cluster.join("b")];
  const kv = await new Kvm(await cluster.connect()).open(`flashim_${cluster.name}_members`);
  await kv.delete(b.self.node);
  await waitFor("b fenced", () => b.fenced.length > 0, 2_000);
  assert.match(b.fenced[0], /deleted by a peer/);
  await waitFor("b dropped", () => converged([a]), DROP_BOUND_MS);
});

Deno.test("Membership fences a member after an event-loop stall", async () => {
  await using cluster = new TestCluster();
  const a = await cluster.join("a");
  const until = performance.now() + FAST.deadMs + 200;
  while (performance.now() < until) {
    // Busy wait: nothing else runs on this thread meanwhile.
  }
  await waitFor("a fenced", () => a.fenced.length > 0, 2_000);
  assert.match(a.fenced[0], /Event loop stalled/);
});

Deno.test("Membership adds a fourth member to every view", async () => {
  await using cluster = new TestCluster();
  const first = [await cluster.join("a"), await cluster.join("b"), await cluster.join("c")];
  await waitFor("three converged views", () => converged(first));
  const versions = first.map((n) => n.membership.view.version);
  const d = await cluster.join("d");
  await waitFor("four converged views", () => converged([...first, d]));
  first.forEach((n, i) => assert.equal(n.membership.view.version, versions[i] + 1));
  assert.deepEqual(d.fenced, []);
});

Deno.test("Membership ignores garbage on the heartbeat subject", async () => {
  await using cluster = new TestCluster();
  const [a, b] = [await cluster.join("a"), await cluster.join("b")];
  await waitFor("two converged views", () => converged([a, b]));
  const before = a.membership.view;
  const nc = await cluster.connect();
  const subject = `flashim.${cluster.name}.hb`;
  const junk = [
    "not json",
    "",
    "null",
    "[1,2]",
    "42",
    JSON.stringify({ node: "x" }),
    JSON.stringify({ node: "x.y", workers: -1, since: 0, seq: 1 }),
    JSON.stringify({ node: "x y", workers: 1, since: 0, seq: 1 }),
    JSON.stringify({ node: "x", workers: 1, since: 0, seq: "1" }),
    JSON.stringify({ node: "x", workers: 1, since: 0, seq: 1, leaving: "yes" }),
    JSON.stringify({ ...b.self, seq: -1, leaving: true }),
    "{".repeat(10_000),
  ];
  for (let round = 0; round < 5; round++) {
    for (const text of junk) nc.publish(subject, text);
    // Well-formed but unregistered: heard, never a member.
    nc.publish(subject, JSON.stringify({ node: "ghost", workers: 1, since: 0, seq: round }));
    // Our own id from another process (other `since`): not a sign of life for a.
    nc.publish(subject, JSON.stringify({ ...a.self, since: 1, seq: round }));
    await nc.flush();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await new Promise((resolve) => setTimeout(resolve, FAST.deadMs + FAST.stabilizeMs + 100));
  for (const node of [a, b]) {
    assert.equal(node.membership.view, node === a ? before : node.membership.view);
    assert.deepEqual(node.fenced, []);
    const warnings = node.logs.filter((line) => line.includes("Ignoring bad heartbeat"));
    assert.equal(warnings.length, 1, "bad input is logged once per few seconds");
  }
  assert.ok(converged([a, b]));
  assert.equal(a.membership.view.version, before.version);
});

Deno.test("Membership.join() rejects bad options", async () => {
  const nc = await connect({ servers: SHARED_NATS });
  try {
    const base = {
      nc,
      cluster: "x",
      self: { node: "a", workers: 1, since: 0 },
      onView() {},
      onFenced() {},
    };
    await assert.rejects(Membership.join({ ...base, cluster: "" }), TypeError);
    await assert.rejects(
      Membership.join({ ...base, self: { ...base.self, node: "a b" } }),
      TypeError,
    );
    await assert.rejects(Membership.join({ ...base, heartbeatMs: 5_000 }), RangeError);
    await assert.rejects(Membership.join({ ...base, suspectMs: 9_000 }), RangeError);
  } finally {
    await nc.close();
  }
});

/** A throwaway JetStream nats-server on a free port that can be killed and restarted. */
class ThrowawayNats implements AsyncDisposable {
  readonly port: number;
  #dir = Deno.makeTempDirSync({ prefix: "flash-im-nats-" });
  #child: Deno.ChildProcess | undefined;

  constructor() {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.port = (listener.addr as Deno.NetAddr).port;
    listener.close();
  }

  get url(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.#child = new Deno.Command("nats-server", {
      args: ["-js", "-a", "127.0.0.1", "-p", String(this.port), "-sd", this.#dir],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitFor("nats-server listening", async () => {
      try {
        const nc = await connect({ servers: this.url, timeout: 500 });
        await nc.close();
        return true;
      } catch {
        return false;
      }
    }, 10_000);
  }

  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child) return;
    child.kill("SIGKILL");
    await child.status;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.kill();
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}

Deno.test("Membership converges again after the NATS server restarts empty", async () => {
  await using server = new ThrowawayNats();
  await server.start();
  await using cluster = new TestCluster(server.url);
  // A lease longer than the restart: nobody fences, nobody is dropped.
  const lease = { suspectMs: 2_000, deadMs: 4_000 };
  const nodes = [
    await cluster.join("a", lease),
    await cluster.join("b", lease),
    await cluster.join("c", lease),
  ];
  await waitFor("three converged views", () => converged(nodes));
  const view = nodes[0].membership.view;
  await server.kill();
  await server.start(); // memory storage: the bucket is gone
  await cluster.connect();
  await waitFor("entries registered again", async () => {
    for (const node of nodes) {
      if ((await cluster.entry(node.self.node).catch(() => undefined)) !== "PUT") return false;
    }
    return true;
  }, 8_000);
  await waitFor("three converged views", () => converged(nodes));
  assert.equal(nodes[0].membership.view.id, view.id);
  for (const node of nodes) assert.deepEqual(node.fenced, []);
  // The registry works again: a leave is seen by the others.
  await nodes[2].membership.leave();
  await waitFor("c dropped", () => converged(nodes.slice(0, 2)), 3_000);
});

Deno.test("Membership fences members whose NATS server is gone for longer than deadMs", async () => {
  await using server = new ThrowawayNats();
  await server.start();
  await using cluster = new TestCluster(server.url);
  const [a, b] = [await cluster.join("a"), await cluster.join("b")];
  await waitFor("two converged views", () => converged([a, b]));
  await server.kill();
  await waitFor("both fenced", () => a.fenced.length > 0 && b.fenced.length > 0, 3_000);
  for (const node of [a, b]) {
    assert.equal(node.fenced.length, 1);
    assert.match(node.fenced[0], /NATS disconnected/);
  }
});
