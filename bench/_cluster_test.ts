import assert from "node:assert/strict";
import { clusterLocator, virtualRef } from "../runtime/mod.ts";
import { directConversationId } from "../protocol/mod.ts";
import { clusterSetupFrom } from "./_cluster.ts";
import {
  checkClusterFlags,
  CLUSTER_DEFAULTS,
  crossNodePairs,
  type PairPlacement,
  parseBanner,
  planClusterStep,
} from "./_cluster_plan.ts";
import { parseBenchArgs } from "./main.ts";

Deno.test("parseBenchArgs() takes --nodes and --nats for connections and messages", () => {
  assert.deepEqual(parseBenchArgs(["connections", "--nodes", "6"]).flags, { nodes: 6 });
  assert.deepEqual(
    parseBenchArgs(["messages", "--nodes", "3", "--nats", "nats://h:4222"]).flags,
    { nodes: 3, nats: "nats://h:4222" },
  );
  assert.deepEqual(
    parseBenchArgs(["connections", "--nodes", "2", "--postgres", "postgres://h/db"]).flags,
    { nodes: 2, postgres: "postgres://h/db" },
  );
  assert.throws(() => parseBenchArgs(["runtime", "--nodes", "3"]), /connections or messages/);
  assert.throws(() => parseBenchArgs(["messages", "--nodes", "0"]), /--nodes: 0/);
  assert.throws(() => parseBenchArgs(["messages", "--nats", "nope"]), RangeError);
  assert.throws(() => parseBenchArgs(["messages", "--nats", "nats://h"]), /needs --nodes/);
  assert.throws(
    () => parseBenchArgs(["connections", "--redis", "redis://h"]),
    /connections only with --nodes/,
  );
});

Deno.test("checkClusterFlags() lets messages take --postgres without --nodes", () => {
  checkClusterFlags({ postgres: "postgres://h" }, ["messages"]);
  checkClusterFlags({ postgres: "postgres://h" }, ["connections", "messages"]);
  checkClusterFlags({ nodes: 2, nats: "nats://h" }, ["connections"]);
  assert.throws(() => checkClusterFlags({ redis: "redis://h" }, ["connections"]), TypeError);
});

Deno.test("clusterSetupFrom() is off without --nodes, else takes flags, env, then defaults", () => {
  const env = (values: Record<string, string>) => (name: string) => values[name];
  assert.equal(
    clusterSetupFrom({ postgres: "postgres://x", redis: "redis://x" }, env({})),
    undefined,
  );
  assert.deepEqual(clusterSetupFrom({ nodes: 3 }, env({})), {
    nodes: 3,
    natsUrl: CLUSTER_DEFAULTS.nats,
    backends: { postgresUrl: CLUSTER_DEFAULTS.postgres, redisUrl: CLUSTER_DEFAULTS.redis },
  });
  assert.deepEqual(
    clusterSetupFrom(
      { nodes: 2, nats: "nats://n", redis: "redis://flag" },
      env({ FLASH_BENCH_POSTGRES_URL: "postgres://env", FLASH_BENCH_REDIS_URL: "redis://env" }),
    ),
    {
      nodes: 2,
      natsUrl: "nats://n",
      backends: { postgresUrl: "postgres://env", redisUrl: "redis://flag" },
    },
  );
  assert.throws(() => clusterSetupFrom({ nodes: 2, postgres: "postgres://x" }, env({})), /--redis/);
});

Deno.test("parseBanner() reads a cluster node's id and workers, and refuses a lone node's", () => {
  assert.deepEqual(
    parseBanner(
      "flash-im node vm.123.ab12cd34 running with 2 workers in cluster c1 (Ctrl-C leaves)\n",
    ),
    { node: "vm.123.ab12cd34", workers: 2 },
  );
  assert.throws(
    () => parseBanner("flash-im node vm.1.x running with 2 workers (Ctrl-C stops it)"),
    TypeError,
  );
});

/** A placement from tables: users' homes, and owners by the pair (either order). */
function tablePlacement(
  homes: Record<string, string>,
  owners: Record<string, string>,
): PairPlacement {
  return {
    homeOf: (user) => homes[user]!,
    ownerOf: (a, b) => owners[[a, b].sort().join("-")]!,
  };
}

Deno.test("crossNodePairs() pairs users whose nodes and conversation owner all differ", () => {
  const placement = tablePlacement(
    { u1: "A", u2: "A", u3: "B", u4: "C" },
    { "u1-u2": "B", "u1-u3": "B", "u1-u4": "B", "u2-u3": "C", "u2-u4": "B", "u3-u4": "A" },
  );
  // u1-u2 share a node, u1-u3's owner is u3's node: u2-u3 (A, B, owner C) fits first,
  // then u1-u4 (A, C, owner B).
  assert.deepEqual(crossNodePairs(["u1", "u2", "u3", "u4"], 2, 3, placement), [
    ["u2", "u3"],
    ["u1", "u4"],
  ]);
  // Stops at `count`, and returns fewer when no more fit.
  assert.deepEqual(crossNodePairs(["u1", "u2", "u3", "u4"], 1, 3, placement), [["u2", "u3"]]);
  assert.deepEqual(crossNodePairs(["u1", "u2", "u3"], 5, 3, placement), [["u2", "u3"]]);
  // Two nodes: only the users' nodes must differ; one node: any pair.
  assert.deepEqual(crossNodePairs(["u1", "u2", "u3"], 1, 2, placement), [["u1", "u3"]]);
  assert.deepEqual(crossNodePairs(["u1", "u2"], 1, 1, placement), [["u1", "u2"]]);
  assert.throws(() => crossNodePairs(["u1"], 0, 3, placement), RangeError);
  assert.throws(() => crossNodePairs(["u1"], 1, 1.5, placement), RangeError);
});

Deno.test("crossNodePairs() over clusterLocator finds pairs that cross three nodes", () => {
  const nodes = [
    { node: "a.1.x", workers: 1 },
    { node: "b.2.y", workers: 1 },
    { node: "c.3.z", workers: 2 },
  ];
  const locate = clusterLocator(nodes);
  const placement: PairPlacement = {
    homeOf: (user) => locate(virtualRef("user", user)).node,
    ownerOf: (a, b) => locate(virtualRef("conv", directConversationId(a, b))).node,
  };
  const users = Array.from({ length: 200 }, (_, i) => String(1000 + i));
  const pairs = crossNodePairs(users, 20, nodes.length, placement);
  assert.equal(pairs.length, 20);
  assert.equal(new Set(pairs.flat()).size, 40, "pairs are disjoint");
  for (const [a, b] of pairs) {
    const where = [placement.homeOf(a), placement.homeOf(b), placement.ownerOf(a, b)];
    assert.equal(new Set(where).size, 3, `${a}-${b}: ${where}`);
  }
});

Deno.test("planClusterStep() spreads connections over nodes within each one's file limit", () => {
  assert.deepEqual(planClusterStep(100_000, 6, 20_000, 300), {
    n: 100_000,
    nodes: 6,
    perNode: 16_667,
  });
  assert.deepEqual(planClusterStep(10, 3, 20_000, 300).perNode, 4);
  assert.throws(() => planClusterStep(100_000, 5, 20_000, 300), /give more --nodes/);
});
