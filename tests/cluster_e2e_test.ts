/**
 * A cluster end to end: real node processes joined over a real nats-server, sharing one
 * Postgres schema and one Redis prefix. Clients spread over the nodes; conversations live
 * on whichever node placement gives them. Chat works across three nodes both ways, and a
 * node killed with SIGKILL under load loses nothing that was acknowledged.
 */

import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import {
  ConnectionClosedError,
  ContentType,
  FlashConnection,
  type Frame,
  RequestTimeoutError,
  type SendAck,
} from "../client/mod.ts";
import { directConversationId, PresenceStatus, u64, u64ToBigInt } from "../protocol/mod.ts";
import { clusterLocator, deleteMembershipRegistry, virtualRef } from "../runtime/mod.ts";
import { openStores, type Stores } from "../services/mod.ts";
import { dropSchemaAndKeys, TEST_BACKENDS, TEST_POSTGRES_URL, TEST_REDIS_URL } from "./backends.ts";
import { postJson, removeDataDir, startServer, type TestServer, userTokens } from "./harness.ts";
import { canRunNats, startThrowawayNats } from "./throwaway.ts";

const NATS_URL = Deno.env.get("FLASH_TEST_NATS_URL") ?? "nats://127.0.0.1:4222";
// The cluster always runs on Postgres and Redis: once per suite run is enough.
const ignore = TEST_BACKENDS === "real" || !(await natsReachable());

/** Membership timing for tests: a dead node is noticed in 1.5 s. */
const TIMING = [
  "--cluster-heartbeat-ms",
  "200",
  "--cluster-suspect-ms",
  "700",
  "--cluster-dead-ms",
  "1500",
];

async function natsReachable(): Promise<boolean> {
  try {
    const nc = await connect({ servers: NATS_URL, timeout: 1000, reconnect: false });
    await nc.close();
    return true;
  } catch {
    return false;
  }
}

async function until<T>(
  attempt: () => T | undefined | Promise<T | undefined>,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const value = await attempt();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface ClusterNode {
  readonly server: TestServer;
  /** Its incarnation id, from its banner. */
  readonly id: string;
}

/** Nodes of one test cluster: own NATS cluster name, schema, Redis prefix and keys. */
class TestCluster implements AsyncDisposable {
  readonly name = `e2e-${crypto.randomUUID().slice(0, 8)}`;
  readonly schema = `cluster_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  readonly prefix = `${this.schema}:`;
  readonly nodes: ClusterNode[] = [];
  readonly natsUrl: string;
  #keysDir: string | undefined;

  constructor(natsUrl = NATS_URL) {
    this.natsUrl = natsUrl;
  }

  async start(extra: readonly string[] = []): Promise<ClusterNode> {
    this.#keysDir ??= await Deno.makeTempDir({ prefix: "flash-im-cluster-keys-" });
    const server = await startServer({
      workers: 1,
      args: [
        "--postgres",
        TEST_POSTGRES_URL,
        "--pg-schema",
        this.schema,
        "--redis",
        TEST_REDIS_URL,
        "--redis-prefix",
        this.prefix,
        "--nats",
        this.natsUrl,
        "--cluster",
        this.name,
        "--keys-dir",
        this.#keysDir,
        ...TIMING,
        "--rate-limit",
        "5000",
        "--rate-burst",
        "2000",
        "--log-level",
        "info",
        ...extra,
      ],
    });
    const id = /node (\S+) running/.exec(server.banner)?.[1];
    assert.ok(id, `no node id in: ${server.banner}`);
    const node = { server, id };
    this.nodes.push(node);
    return node;
  }

  /** Waits until every live node applied a view of exactly `ids`. */
  async converged(ids: readonly string[], live = this.nodes): Promise<void> {
    const want = [...ids].sort().join(",");
    await until(
      () => live.every((node) => lastView(node.server) === want),
      `views of [${want}]`,
    );
  }

  stores(): Promise<Stores> {
    return openStores({
      dataDir: "unused",
      postgres: { url: TEST_POSTGRES_URL, schema: this.schema, poolSize: 2 },
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const node of this.nodes) await node.server[Symbol.asyncDispose]();
    if (this.#keysDir) await removeDataDir(this.#keysDir);
    await dropSchemaAndKeys(TEST_POSTGRES_URL, TEST_REDIS_URL, this.schema, this.prefix);
    // The membership registry stays on the (shared) NATS server unless removed.
    const nc = await connect({ servers: this.natsUrl, timeout: 2000, reconnect: false })
      .catch(() => undefined); // a throwaway server already stopped: nothing to remove
    if (nc === undefined) return;
    try {
      await deleteMembershipRegistry(nc, this.name);
    } finally {
      await nc.close();
    }
  }
}

/** The members of the last view a node logged, sorted and joined. */
function lastView(server: TestServer): string | undefined {
  const lines = server.stderr().split("\n").filter((l) => l.includes('"Cluster view"'));
  const last = lines.at(-1);
  if (last === undefined) return undefined;
  try {
    return (JSON.parse(last).members as string[]).sort().join(",");
  } catch {
    return undefined;
  }
}

/** The node that owns a conversation under a view of `ids` (one worker each). */
function ownerOf(conversationId: string, ids: readonly string[]): string {
  const locate = clusterLocator(ids.map((node) => ({ node, workers: 1 })));
  return locate(virtualRef("conv", conversationId)).node;
}

function text(peerUserId: string, clientMsgId: string) {
  return { peerUserId, clientMsgId, content: { type: ContentType.TEXT, text: clientMsgId } };
}

interface Device {
  conn: FlashConnection;
  readonly notes: Frame[];
}

async function openDevice(
  server: TestServer,
  token: string,
  deviceId: string,
  notes: Frame[] = [],
): Promise<Device> {
  const conn = new FlashConnection({
    url: `tcp://127.0.0.1:${server.tcpPort}`,
    token,
    deviceId,
    reconnect: false,
  });
  conn.on("notify", (frame) => notes.push(frame));
  await conn.connect();
  return { conn, notes };
}

async function befriend(stores: Stores, a: string, b: string): Promise<void> {
  await stores.friends.request(a, b, Date.now());
  assert.deepEqual(await stores.friends.accept(b, a, Date.now()), { ok: true });
}

Deno.test({
  name: "cluster e2e: three nodes chat across nodes both ways, with acks and receipts",
  ignore,
  async fn() {
    await using cluster = new TestCluster();
    const nodes = [await cluster.start(), await cluster.start(), await cluster.start()];
    const ids = nodes.map((n) => n.id);
    await cluster.converged(ids);
    const [first, second, third] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    // Users until a pair's conversation lives on the third node (neither user's own).
    const users = [];
    for (let i = 0; i < 8; i++) users.push(await userTokens(first.server, `user${i}`));
    let pair: [typeof users[0], typeof users[0]] | undefined;
    for (const a of users) {
      for (const b of users) {
        if (a.userId < b.userId) {
          const conversation = directConversationId(a.userId, b.userId);
          if (ownerOf(conversation, ids) === third.id) pair ??= [a, b];
        }
      }
    }
    assert.ok(pair, "some pair's conversation lives on the third node");
    const [alice, bob] = pair;
    const conversationId = directConversationId(alice.userId, bob.userId);
    const stores = await cluster.stores();
    try {
      await befriend(stores, alice.userId, bob.userId);
    } finally {
      await stores.close();
    }
    // Alice on the first node, Bob on the second: tokens from the first work everywhere.
    const alices = await openDevice(first.server, alice.accessToken, "alice-phone");
    const bobs = await openDevice(second.server, bob.accessToken, "bob-phone");
    try {
      const ack = await alices.conn.sendMessage(text(bob.userId, "a-1"));
      assert.equal(u64ToBigInt(ack.seq), 1n);
      assert.equal(ack.conversationId, conversationId);
      const note = await until(
        () => bobs.notes.find((f) => f.body === "messageNotify"),
        "bob's notification",
      );
      assert.equal(note.messageNotify!.message!.clientMsgId, "a-1");
      // Receipts travel back across the nodes too.
      const ok = await bobs.conn.request({ readReceipt: { conversationId, upToSeq: u64(1) } });
      assert.equal(ok.body, "ok");
      const receipt = await until(
        () => alices.notes.find((f) => f.body === "receiptNotify")?.receiptNotify ?? undefined,
        "a receipt at alice",
      );
      assert.equal(receipt.userId, bob.userId);
      assert.equal(u64ToBigInt(receipt.upToSeq), 1n);
      const reply = await bobs.conn.sendMessage(text(alice.userId, "b-1"));
      assert.equal(u64ToBigInt(reply.seq), 2n);
      await until(
        () => alices.notes.some((f) => f.messageNotify?.message?.clientMsgId === "b-1"),
        "alice's notification",
      );
      // A retry through another node is the same message.
      const again = await openDevice(third.server, alice.accessToken, "alice-tablet");
      const duplicate = await again.conn.sendMessage(text(bob.userId, "a-1"));
      assert.equal(duplicate.duplicate, true);
      assert.equal(u64ToBigInt(duplicate.seq), 1n);
      await again.conn.close();
    } finally {
      await alices.conn.close();
      await bobs.conn.close();
    }
  },
});

/** Messages each sender sends in a load scenario. */
const PER_SENDER = 120;

/**
 * Sends `count` messages to `peer` one after another, each retried (same clientMsgId)
 * until acked: through a new connection to a live node when its own drops or stops
 * answering (a frozen node keeps its sockets open).
 */
async function reliableSender(options: {
  readonly from: { accessToken: string; userId: string };
  readonly peer: string;
  readonly tag: string;
  readonly count: number;
  readonly load: Load;
}): Promise<void> {
  const { from, peer, tag, count, load } = options;
  let device: Device | undefined;
  let next = Math.floor(Math.random() * 100);
  let silent = 0;
  const connectAnywhere = async (): Promise<Device> => {
    for (let attempt = 0;; attempt++) {
      const live = load.servers;
      const server = live[(next++) % live.length]!;
      try {
        return await openDevice(server, from.accessToken, `${tag}-device`);
      } catch (error) {
        if (attempt > 100) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  };
  try {
    for (let i = 0; i < count; i++) {
      const id = `${tag}-${i}`;
      const deadline = Date.now() + 45_000;
      while (!load.acked.has(id)) {
        if (Date.now() > deadline) throw new Error(`${id} not acked within 45 s`);
        if (device === undefined || device.conn.state !== "open" || silent >= 2) {
          await device?.conn.close().catch(() => {});
          device = undefined;
          silent = 0;
          device = await connectAnywhere();
        }
        try {
          const ack = await device.conn.sendMessage(text(peer, id), { timeoutMs: 2000 });
          load.acked.set(id, ack);
          load.ackedAt.set(id, Date.now());
          silent = 0;
        } catch (error) {
          // A dropped connection, a lost request (its node died or moved the conversation),
          // or a temporary refusal: the same clientMsgId again can only be stored once.
          if (error instanceof ConnectionClosedError) device = undefined;
          if (error instanceof RequestTimeoutError) silent++;
          load.retries++;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    }
  } finally {
    await device?.conn.close().catch(() => {});
  }
}

/** A running load: acks so far, and the nodes clients may connect to. */
interface Load {
  /** Nodes clients (re)connect to; a disruption updates it. */
  servers: TestServer[];
  readonly acked: Map<string, SendAck>;
  /** When each message was acked (ms since epoch). */
  readonly ackedAt: Map<string, number>;
  /** Sends that failed and were tried again. */
  retries: number;
  /** Sender tags (`p<i>a`, `p<i>b`) of the conversations on each node, by node id. */
  readonly tagsOn: (node: string) => string[];
}

/**
 * Four pairs of friends chat both ways across `cluster` (clients spread over its nodes);
 * once a third of the messages are acked, `disrupt` runs. Then every sender finishes and
 * the history is checked: every acked message stored exactly once at its acked seq,
 * gap-free per conversation, each sender's messages in send order, and readable by the
 * recipient.
 */
async function underLoad(
  cluster: TestCluster,
  disrupt: (load: Load) => Promise<void>,
): Promise<Load> {
  const ids = cluster.nodes.map((n) => n.id);
  const users = [];
  for (let i = 0; i < 8; i++) {
    users.push(await userTokens(cluster.nodes[0]!.server, `load${i}`));
  }
  const pairs: [typeof users[0], typeof users[0]][] = [];
  for (let i = 0; i < users.length; i += 2) pairs.push([users[i]!, users[i + 1]!]);
  const conversations = pairs.map(([a, b]) => directConversationId(a.userId, b.userId));
  const stores = await cluster.stores();
  try {
    for (const [a, b] of pairs) await befriend(stores, a.userId, b.userId);
    const load: Load = {
      servers: cluster.nodes.map((n) => n.server),
      acked: new Map(),
      ackedAt: new Map(),
      retries: 0,
      tagsOn: (node) =>
        conversations.flatMap((c, p) => ownerOf(c, ids) === node ? [`p${p}a`, `p${p}b`] : []),
    };
    const senders = pairs.flatMap(([a, b], p) => [
      reliableSender({ from: a, peer: b.userId, tag: `p${p}a`, count: PER_SENDER, load }),
      reliableSender({ from: b, peer: a.userId, tag: `p${p}b`, count: PER_SENDER, load }),
    ]);
    const total = pairs.length * 2 * PER_SENDER;
    try {
      await until(() => load.acked.size >= total / 3, "a third of the messages acked", 60_000);
      await disrupt(load);
    } finally {
      await Promise.allSettled(senders);
    }
    await Promise.all(senders);
    assert.equal(load.acked.size, total);
    for (const [p, conversationId] of conversations.entries()) {
      const stored = [];
      let after = 0n;
      while (true) {
        const page = await stores.messages.page(conversationId, { afterSeq: after, limit: 500 });
        stored.push(...page.messages);
        if (!page.hasMore) break;
        after = page.messages.at(-1)!.seq;
      }
      assert.deepEqual(
        stored.map((m) => m.seq),
        stored.map((_, i) => BigInt(i + 1)),
        `${conversationId} is gap-free`,
      );
      const byId = new Map(stored.map((m) => [m.clientMsgId, m]));
      assert.equal(byId.size, stored.length, `${conversationId}: no message twice`);
      assert.equal(stored.length, 2 * PER_SENDER, `${conversationId} holds what was acked`);
      for (const tag of [`p${p}a`, `p${p}b`]) {
        let last = 0n;
        for (let i = 0; i < PER_SENDER; i++) {
          const ack = load.acked.get(`${tag}-${i}`)!;
          const message = byId.get(`${tag}-${i}`);
          assert.ok(message, `acked ${tag}-${i} is stored`);
          assert.equal(message.seq, u64ToBigInt(ack.seq), `${tag}-${i} at its acked seq`);
          assert.ok(message.seq > last, `${tag}'s messages keep their send order`);
          last = message.seq;
        }
      }
    }
    // And the recipients get them: each reads its conversation from a live node.
    for (const [p, [a, b]] of pairs.entries()) {
      const reader = await openDevice(load.servers[0]!, b.accessToken, "reader");
      try {
        const seen = new Set<string>();
        let after = 0n;
        while (true) {
          const page = await reader.conn.pullMessages({
            conversationId: conversations[p]!,
            afterSeq: u64(after),
            limit: 200,
          });
          for (const m of page.messages ?? []) seen.add(m.clientMsgId ?? "");
          if (!page.hasMore) break;
          after = u64ToBigInt(page.messages!.at(-1)!.seq);
        }
        assert.equal(seen.size, 2 * PER_SENDER, `${b.userId} reads all from ${a.userId}`);
      } finally {
        await reader.conn.close();
      }
    }
    return load;
  } finally {
    await stores.close();
  }
}

/** Waits until each of `tags` got an ack after `since`; resolves with the wait. */
async function ackedAgain(load: Load, tags: readonly string[], since: number): Promise<number> {
  const ackedSince = (tag: string) =>
    [...load.ackedAt].some(([id, at]) => id.startsWith(`${tag}-`) && at > since);
  await until(() => tags.every(ackedSince), `acks of ${tags} after the disruption`);
  return Date.now() - since;
}

/** The node that owns the most of the load's conversations, and the others. */
function busiest(load: Load, nodes: readonly ClusterNode[]): [ClusterNode, ClusterNode[]] {
  const node = nodes.reduce((a, b) => load.tagsOn(b.id).length > load.tagsOn(a.id).length ? b : a);
  return [node, nodes.filter((n) => n !== node)];
}

async function threeNodes(cluster: TestCluster): Promise<ClusterNode[]> {
  const nodes = [await cluster.start(), await cluster.start(), await cluster.start()];
  await cluster.converged(nodes.map((n) => n.id));
  return nodes;
}

Deno.test({
  name: "cluster e2e: kill -9 one node under load loses no acknowledged message",
  ignore,
  async fn() {
    await using cluster = new TestCluster();
    const nodes = await threeNodes(cluster);
    await underLoad(cluster, async (load) => {
      const [victim, survivors] = busiest(load, nodes);
      const tags = load.tagsOn(victim.id);
      assert.ok(tags.length > 0, "the victim owns a conversation");
      const killedAt = Date.now();
      await victim.server.stop("SIGKILL");
      load.servers = survivors.map((n) => n.server);
      await cluster.converged(survivors.map((n) => n.id), survivors);
      const takeoverMs = await ackedAgain(load, tags, killedAt);
      // The survivors took over: the victim's conversations are acked again, promptly.
      assert.ok(takeoverMs < 10_000, `survivors took ${takeoverMs} ms to take over`);
      console.log(`kill -9: ${tags.length / 2} conversations back after ${takeoverMs} ms`);
    });
  },
});

Deno.test({
  name: "cluster e2e: a 4th node joins under load; shards move, nothing acked is lost",
  ignore,
  async fn() {
    await using cluster = new TestCluster();
    const nodes = await threeNodes(cluster);
    const before = nodes.map((n) => n.id);
    await underLoad(cluster, async (load) => {
      const joiner = await cluster.start();
      const after = [...before, joiner.id];
      await cluster.converged(after);
      load.servers = cluster.nodes.map((n) => n.server);
      // About a quarter of the shards moved, all of them to the joiner.
      const was = clusterLocator(before.map((node) => ({ node, workers: 1 })));
      const is = clusterLocator(after.map((node) => ({ node, workers: 1 })));
      let moved = 0;
      for (let i = 0; i < 4000; i++) {
        const ref = virtualRef("conv", `x${i}`);
        if (was(ref).node !== is(ref).node) {
          moved++;
          assert.equal(is(ref).node, joiner.id);
        }
      }
      assert.ok(moved > 600 && moved < 1400, `${moved} of 4000 actors moved`);
    });
  },
});

Deno.test({
  name: "cluster e2e: a node leaves gracefully (SIGTERM) under load: zero lost, zero duplicated",
  ignore,
  async fn() {
    await using cluster = new TestCluster();
    const nodes = await threeNodes(cluster);
    const load = await underLoad(cluster, async (load) => {
      const [leaver, stayers] = busiest(load, nodes);
      const tags = load.tagsOn(leaver.id);
      assert.ok(tags.length > 0, "the leaving node owns a conversation");
      load.servers = stayers.map((n) => n.server);
      const leftAt = Date.now();
      const status = await leaver.server.stop("SIGTERM");
      assert.equal(status.code, 0, `the leaving node exits 0: ${leaver.server.stderr()}`);
      await cluster.converged(stayers.map((n) => n.id), stayers);
      await ackedAgain(load, tags, leftAt);
    });
    // Exactly once in the store (checked above); and no sender saw a second copy either:
    // the leaving node answered what it had accepted before closing (new sends were
    // refused as ShuttingDown and retried elsewhere, stored once).
    const duplicates = [...load.acked.values()].filter((ack) => ack.duplicate).length;
    console.log(`graceful leave: ${load.retries} retried sends, ${duplicates} duplicate acks`);
    assert.equal(duplicates, 0, "no send was acked twice");
  },
});

Deno.test({
  name: "cluster e2e: a frozen node (SIGSTOP) fences itself on SIGCONT and rejoins",
  ignore,
  async fn() {
    await using cluster = new TestCluster();
    const nodes = await threeNodes(cluster);
    await underLoad(cluster, async (load) => {
      const [frozen, survivors] = busiest(load, nodes);
      const tags = load.tagsOn(frozen.id);
      assert.ok(tags.length > 0, "the frozen node owns a conversation");
      const stoppedAt = Date.now();
      frozen.server.process.kill("SIGSTOP");
      load.servers = survivors.map((n) => n.server);
      try {
        await cluster.converged(survivors.map((n) => n.id), survivors);
        await ackedAgain(load, tags, stoppedAt);
      } finally {
        frozen.server.process.kill("SIGCONT");
      }
      // It notices it was gone past its lease, drops everything and joins as a new member.
      await until(() => /fenced itself/.test(frozen.server.stderr()), "the fencing log");
      const rejoined = await until(() => {
        const members = lastView(survivors[0]!.server)?.split(",") ?? [];
        return members.length === 3
          ? members.find((m) => !nodes.some((n) => n.id === m))
          : undefined;
      }, "the frozen node back under a new incarnation");
      assert.notEqual(rejoined, frozen.id);
    });
  },
});

Deno.test({
  name: "cluster e2e: nats-server restarts under load; the cluster converges, nothing acked lost",
  ignore: ignore || !(await canRunNats()),
  async fn() {
    await using nats = await startThrowawayNats();
    await using cluster = new TestCluster(nats.url);
    const nodes = await threeNodes(cluster);
    await underLoad(cluster, async () => {
      await nats.stop();
      await new Promise((resolve) => setTimeout(resolve, 500));
      await nats.start();
      await cluster.converged(
        await until(() => {
          const members = lastView(nodes[0]!.server)?.split(",") ?? [];
          return members.length === 3 ? members : undefined;
        }, "three members again"),
      );
    });
  },
});

Deno.test({
  name: "cluster e2e: a dead node's users go offline for their friends within the bound",
  ignore,
  async fn() {
    await using cluster = new TestCluster();
    const grace = ["--presence-grace-ms", "300"];
    const nodes = [
      await cluster.start(grace),
      await cluster.start(grace),
      await cluster.start(grace),
    ];
    await cluster.converged(nodes.map((n) => n.id));
    const [home, doomed] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    const alice = await userTokens(home.server, "watcher");
    const friends: Awaited<ReturnType<typeof userTokens>>[] = [];
    for (let i = 0; i < 4; i++) friends.push(await userTokens(home.server, `watched${i}`));
    const stores = await cluster.stores();
    try {
      for (const friend of friends) await befriend(stores, alice.userId, friend.userId);
    } finally {
      await stores.close();
    }
    const alices = await openDevice(home.server, alice.accessToken, "watcher-phone");
    // Friends on the node that dies (their user actors live anywhere in the cluster).
    const devices = [];
    for (const friend of friends) {
      devices.push(await openDevice(doomed.server, friend.accessToken, "phone"));
    }
    const status = (userId: string) =>
      alices.notes.filter((f) => f.presenceNotify?.userId === userId).at(-1)?.presenceNotify
        ?.status;
    try {
      await until(
        () => friends.every((f) => status(f.userId) === PresenceStatus.ONLINE),
        "every friend online at alice",
      );
      const killedAt = Date.now();
      await doomed.server.stop("SIGKILL");
      await until(
        () => friends.every((f) => status(f.userId) === PresenceStatus.OFFLINE),
        "every friend offline at alice",
      );
      const offlineMs = Date.now() - killedAt;
      // Dead threshold 1.5 s, then the view, then the 0.3 s grace: well inside 10 s.
      assert.ok(offlineMs < 10_000, `offline after ${offlineMs} ms`);
      console.log(`presence: a dead node's users offline after ${offlineMs} ms`);
    } finally {
      await alices.conn.close();
      for (const device of devices) await device.conn.close().catch(() => {});
    }
  },
});

Deno.test({
  name:
    "cluster e2e: a node without services logs in, sends and syncs through the nodes serving them",
  ignore,
  async fn() {
    await using cluster = new TestCluster();
    const serving = await cluster.start();
    const bare = await cluster.start(["--services", "none"]);
    await cluster.converged([serving.id, bare.id]);
    // Register and log in over the bare node's HTTP API: the auth service runs elsewhere.
    const users: Awaited<ReturnType<typeof userTokens>>[] = [];
    for (let i = 0; i < 6; i++) users.push(await userTokens(bare.server, `remote${i}`));
    // A pair whose conversation lives on the bare node: its writes go to the persist service.
    const ids = [serving.id, bare.id];
    const pairs = users.flatMap((a) => users.map((b) => [a, b] as const))
      .filter(([a, b]) => a.userId < b.userId);
    const pair = pairs.find(([a, b]) =>
      ownerOf(directConversationId(a.userId, b.userId), ids) === bare.id
    );
    assert.ok(pair, "some conversation lives on the bare node");
    const [alice, bob] = pair;
    const stores = await cluster.stores();
    try {
      await befriend(stores, alice.userId, bob.userId);
    } finally {
      await stores.close();
    }
    const alices = await openDevice(bare.server, alice.accessToken, "phone");
    try {
      await alices.conn.sendMessage(text(bob.userId, "s-1"));
      // Catch-up reads go to the sync service.
      const page = await alices.conn.pullMessages({
        conversationId: directConversationId(alice.userId, bob.userId),
        limit: 10,
      });
      assert.deepEqual(page.messages?.map((m) => m.clientMsgId), ["s-1"]);
      // With no node serving auth, logins fail at once as temporarily unavailable.
      await serving.server.stop("SIGKILL");
      await cluster.converged([bare.id], [bare]);
      const started = Date.now();
      const refused = await postJson(bare.server, "/v1/auth/login", {
        username: `remote${users.indexOf(alice)}`,
        password: "correct horse battery",
        deviceId: "tablet",
      });
      assert.equal(refused.status, 503, JSON.stringify(refused.body));
      assert.equal((refused.body as { error: { code: string } }).error.code, "unavailable");
      assert.ok(Date.now() - started < 2000, "refused without waiting for a timeout");
    } finally {
      await alices.conn.close();
    }
  },
});
