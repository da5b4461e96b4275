import assert from "node:assert/strict";
import {
  type ClusterMember,
  clusterViewId,
  memberProblem,
  MembershipTable,
} from "./cluster_view.ts";

const A: ClusterMember = { node: "a", workers: 2, since: 1 };
const B: ClusterMember = { node: "b", workers: 4, since: 2 };
const C: ClusterMember = { node: "c", workers: 1, since: 3 };

const TIMINGS = { suspectMs: 300, deadMs: 500, stabilizeMs: 100 };

function nodes(table: MembershipTable): string[] {
  return table.view!.members.map((m) => m.node);
}

/** A table for `self` that has published its first view at time 0. */
function started(self: ClusterMember = A): MembershipTable {
  const table = new MembershipTable({ self, ...TIMINGS });
  table.publish(0);
  return table;
}

/** Registers and hears `member` at `at`. */
function join(table: MembershipTable, member: ClusterMember, at: number): void {
  table.registered(member, at);
  table.heartbeat(member.node, at);
}

Deno.test("clusterViewId() ignores order and since, not nodes or workers", () => {
  const id = clusterViewId([A, B]);
  assert.match(id, /^[0-9a-f]{16}$/);
  assert.equal(clusterViewId([B, A]), id);
  assert.equal(clusterViewId([{ ...A, since: 99 }, B]), id);
  assert.notEqual(clusterViewId([{ ...A, workers: 3 }, B]), id);
  assert.notEqual(clusterViewId([A, C]), id);
  assert.notEqual(clusterViewId([A]), id);
});

Deno.test("MembershipTable() rejects a bad self or bad durations", () => {
  assert.throws(() => new MembershipTable({ self: { ...A, node: "a b" } }), TypeError);
  assert.throws(() => new MembershipTable({ self: { ...A, workers: 0 } }), TypeError);
  assert.throws(() => new MembershipTable({ self: A, deadMs: -1 }), RangeError);
  assert.throws(() => new MembershipTable({ self: A, stabilizeMs: NaN }), RangeError);
  assert.throws(() => new MembershipTable({ self: A, suspectMs: 600, deadMs: 500 }), RangeError);
  assert.throws(() => new MembershipTable({ self: A, suspectMs: 0 }), RangeError);
});

Deno.test("MembershipTable.publish() starts at version 1 with self", () => {
  const table = new MembershipTable({ self: A, ...TIMINGS });
  assert.equal(table.view, undefined);
  assert.equal(table.tick(1000).view, undefined);
  const view = table.publish(0);
  assert.equal(view.version, 1);
  assert.deepEqual(view.members, [A]);
  assert.equal(view.id, clusterViewId([A]));
  assert.ok(Object.isFrozen(view) && Object.isFrozen(view.members));
});

Deno.test("MembershipTable.tick() adds a registered, heard node after stabilizeMs", () => {
  const table = started();
  join(table, B, 10);
  assert.equal(table.tick(50).view, undefined);
  assert.equal(table.tick(109).view, undefined);
  const view = table.tick(110).view!;
  assert.equal(view.version, 2);
  assert.deepEqual(view.members, [A, B]);
  assert.equal(table.tick(120).view, undefined);
});

Deno.test("MembershipTable needs both a registration and a heartbeat", () => {
  const table = started();
  table.registered(B, 0);
  table.heartbeat("c", 0);
  assert.equal(table.tick(400).view, undefined);
  assert.deepEqual(table.unheard(), ["b"]);
  table.heartbeat("b", 400);
  table.registered(C, 400);
  assert.deepEqual(table.unheard(), []);
  // c's heartbeat at 0 is still within deadMs at 400.
  assert.deepEqual(table.tick(500).view!.members, [A, B, C]);
});

Deno.test("MembershipTable.tick() does not publish a change that reverted in time", () => {
  const table = started();
  join(table, B, 0);
  table.tick(100);
  table.unregistered("b", 200);
  table.tick(250);
  table.registered(B, 260);
  assert.equal(table.tick(400).view, undefined);
  assert.deepEqual(nodes(table), ["a", "b"]);
});

Deno.test("MembershipTable.tick() restarts stabilization on every further change", () => {
  const table = started();
  join(table, B, 0);
  table.tick(50);
  join(table, C, 90);
  assert.equal(table.tick(150).view, undefined);
  const view = table.tick(190).view!;
  assert.deepEqual(view.members, [A, B, C]);
  assert.equal(view.version, 2);
});

Deno.test("MembershipTable.suspects() lists members silent for more than suspectMs", () => {
  const table = started();
  join(table, B, 0);
  join(table, C, 0);
  table.heartbeat("c", 200, 5);
  assert.deepEqual([...table.suspects(300)], []);
  assert.deepEqual([...table.suspects(301)], ["b"]);
  assert.deepEqual([...table.suspects(501)], ["c"]); // b is dead, not suspect
});

Deno.test("MembershipTable drops a dead node and asks only the smallest node to delete it", () => {
  const leader = started(A);
  const other = started(C);
  for (const table of [leader, other]) {
    join(table, B, 0);
    if (table === leader) join(table, C, 0);
    else join(table, A, 0);
    table.tick(100);
  }
  for (let t = 200; t <= 500; t += 100) {
    leader.heartbeat("c", t, t);
    other.heartbeat("a", t, t);
  }
  assert.deepEqual(leader.tick(500).expired, []);
  assert.deepEqual(leader.tick(501).expired, ["b"]);
  assert.deepEqual(other.tick(501).expired, []);
  const step = leader.tick(601);
  assert.deepEqual(step.expired, [], "asked once per deadMs");
  assert.deepEqual(step.view!.members.map((m) => m.node), ["a", "c"]);
  assert.deepEqual(other.tick(601).view!.members.map((m) => m.node), ["a", "c"]);
  assert.equal(leader.view!.id, other.view!.id);
  leader.heartbeat("c", 1000, 1000);
  assert.deepEqual(leader.tick(1100).expired, ["b"], "asked again while still registered");
  leader.unregistered("b", 1150);
  assert.ok(!leader.tick(2000).expired.includes("b"));
});

Deno.test("MembershipTable expires a registration that never heartbeats", () => {
  const table = started();
  table.registered(B, 100);
  assert.deepEqual(table.tick(600).expired, []);
  assert.deepEqual(table.tick(601).expired, ["b"]);
});

Deno.test("MembershipTable.left() drops a node at once and keeps it out", () => {
  const table = started();
  join(table, B, 0);
  table.tick(100);
  table.left("b", 200);
  assert.deepEqual(table.tick(300).view!.members, [A]);
  table.heartbeat("b", 310, 99);
  table.registered(B, 310);
  assert.equal(table.tick(450).view, undefined);
  assert.deepEqual(nodes(table), ["a"]);
});

Deno.test("MembershipTable.heartbeat() ignores replayed sequence numbers", () => {
  const table = started();
  table.registered(B, 0);
  table.heartbeat("b", 0, 5);
  table.tick(100);
  table.heartbeat("b", 400, 5);
  assert.deepEqual([...table.suspects(400)], ["b"]);
  table.heartbeat("b", 400, 6);
  assert.deepEqual([...table.suspects(400)], []);
});

Deno.test("MembershipTable keeps self whatever the events say", () => {
  const table = started();
  table.unregistered("a", 10);
  table.left("a", 10);
  table.heartbeat("a", 10);
  table.registered({ ...A, workers: 9 }, 10);
  assert.equal(table.tick(10_000).view, undefined);
  assert.deepEqual(table.view!.members, [A]);
});

Deno.test("MembershipTable forgets unregistered nodes after a while", () => {
  const table = started();
  for (let i = 0; i < 100; i++) table.heartbeat(`x${i}`, 0);
  table.tick(2000);
  table.registered({ node: "x1", workers: 1, since: 0 }, 2000);
  // x1's old heartbeat was forgotten: it is registered but unheard.
  assert.deepEqual(table.unheard(), ["x1"]);
});

Deno.test("memberProblem() accepts members and names what is wrong", () => {
  assert.equal(memberProblem(A), undefined);
  assert.equal(memberProblem({ node: "host-1.123.x_Y=", workers: 8, since: 0 }), undefined);
  assert.match(memberProblem(null)!, /not an object/);
  assert.match(memberProblem({ ...A, node: "a..b" })!, /node "a\.\.b"/);
  assert.match(memberProblem({ ...A, node: "a.*" })!, /node/);
  assert.match(memberProblem({ ...A, node: ".a" })!, /node/);
  assert.match(memberProblem({ ...A, node: "x".repeat(257) })!, /node/);
  assert.match(memberProblem({ ...A, workers: 1.5 })!, /workers 1\.5/);
  assert.match(memberProblem({ ...A, since: "now" })!, /since now/);
});

Deno.test("MembershipTable() caps the default suspectMs at deadMs", () => {
  const table = new MembershipTable({ self: A, deadMs: 1000, stabilizeMs: 0 });
  table.publish(0);
  join(table, B, 0);
  assert.deepEqual([...table.suspects(1000)], []);
  assert.deepEqual([...table.suspects(1001)], []); // dead, not suspect
  assert.ok(table.tick(1).view);
});
