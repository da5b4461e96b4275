/**
 * K flash-im nodes on this machine forming one cluster (`--nodes K`), for the
 * `connections` and `messages` suites.
 *
 * A {@link ClusterSpace} is one run's shared state: a fresh Postgres schema and Redis prefix
 * (`bench_<unix>_<random>`, see `_real_backends.ts`) and a keys dir; disposing it drops the
 * schema and keys and removes the dir. A {@link BenchCluster} is K node processes on a
 * space under a fresh cluster name (one per start, so no stale member of an earlier
 * cluster shows up in its views); disposing it kills them and destroys the cluster's
 * NATS KV bucket (`flashim_<cluster>_members`).
 *
 * Nodes run with slow membership timing (heartbeat 1 s, suspect 10 s, dead 30 s): on two
 * cores under a connect burst a node's heartbeats can be late, and a node that fences
 * itself drops every connection it holds.
 *
 * @module
 */

import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import {
  clusterLocator,
  deleteMembershipRegistry,
  type Location,
  virtualRef,
} from "../runtime/mod.ts";
import { directConversationId } from "../protocol/mod.ts";
import { startServer, type TestServer } from "../tests/harness.ts";
import { NODE_FLAGS } from "./_conn_servers.ts";
import {
  CLUSTER_DEFAULTS,
  type ClusterFlags,
  type PairPlacement,
  parseBanner,
} from "./_cluster_plan.ts";
import {
  dropNamespace,
  type Namespace,
  newNamespace,
  nodeBackendArgs,
  type RealBackends,
  realBackendsFrom,
} from "./_real_backends.ts";
import { sleep } from "./_proc.ts";

/** What a `--nodes` run needs: how many nodes and where the shared servers are. */
export interface ClusterSetup {
  readonly nodes: number;
  readonly natsUrl: string;
  readonly backends: RealBackends;
}

/**
 * The cluster asked for by `--nodes`, or `undefined` without it. Postgres and Redis come
 * from `--postgres` / `--redis`, else their env fallbacks, else the local defaults
 * ({@link CLUSTER_DEFAULTS}); NATS from `--nats`, else the local default.
 *
 * @throws {TypeError} when only one of Postgres and Redis is named.
 */
export function clusterSetupFrom(
  flags: ClusterFlags,
  env?: (name: string) => string | undefined,
): ClusterSetup | undefined {
  if (flags.nodes === undefined) return undefined;
  return {
    nodes: flags.nodes,
    natsUrl: flags.nats ?? CLUSTER_DEFAULTS.nats,
    backends: realBackendsFrom(flags, env) ??
      { postgresUrl: CLUSTER_DEFAULTS.postgres, redisUrl: CLUSTER_DEFAULTS.redis },
  };
}

/** Membership timing for bench nodes (see the module doc). */
const TIMING = [
  "--cluster-heartbeat-ms",
  "1000",
  "--cluster-suspect-ms",
  "10000",
  "--cluster-dead-ms",
  "30000",
];

/** How long a cluster may take to agree on its members. */
const CONVERGE_MS = 30_000;

/** One run's schema, Redis prefix and keys dir, shared by every node started on it. */
export class ClusterSpace implements AsyncDisposable {
  readonly setup: ClusterSetup;
  readonly namespace: Namespace;
  /** Holds the nodes' data dirs; `keys/` inside it holds the shared signing keys. */
  readonly dir: string;
  readonly #log: (line: string) => void;
  #clusters = 0;
  #disposed = false;

  private constructor(setup: ClusterSetup, dir: string, log: (line: string) => void) {
    this.setup = setup;
    this.namespace = newNamespace();
    this.dir = dir;
    this.#log = log;
  }

  /** A fresh space under `parent` (a temp dir the caller removes). */
  static async create(
    setup: ClusterSetup,
    parent: string,
    log: (line: string) => void,
  ): Promise<ClusterSpace> {
    const dir = await Deno.makeTempDir({ dir: parent, prefix: "cluster-" });
    const space = new ClusterSpace(setup, dir, log);
    log(`cluster: schema ${space.namespace.schema}, Redis prefix ${space.namespace.prefix}`);
    return space;
  }

  /** The shared signing keys; a node started with `dataDir` = {@link dir} makes them. */
  get keysDir(): string {
    return join(this.dir, "keys");
  }

  /** Flags that put a node on this space (store, Redis, keys). */
  nodeArgs(): string[] {
    return [...nodeBackendArgs(this.setup.backends, this.namespace), "--keys-dir", this.keysDir];
  }

  /**
   * A lone node (no NATS) on this space, with data dir {@link dir}: it creates the keys,
   * and `writeTokens` (which reads `<dataDir>/keys`) can mint tokens every node accepts.
   */
  async startLone(workers: number): Promise<TestServer> {
    return await startServer({
      workers,
      dataDir: this.dir,
      args: [...NODE_FLAGS, ...this.nodeArgs()],
    });
  }

  /** Starts {@link ClusterSetup.nodes} nodes under a new cluster name and waits for them. */
  async startCluster(
    options: { readonly workers: number; readonly host?: string; readonly args?: string[] },
  ): Promise<BenchCluster> {
    const name = `${this.namespace.schema}_c${++this.#clusters}`;
    const cluster = new BenchCluster(name, this.setup.natsUrl);
    try {
      for (let i = 0; i < this.setup.nodes; i++) {
        // The first node alone first: it creates the KV bucket (and the keys, if needed).
        const dataDir = join(this.dir, `${name}-node-${i}`);
        await Deno.mkdir(dataDir, { recursive: true });
        const server = await startServer({
          workers: options.workers,
          dataDir,
          args: [
            "--host",
            options.host ?? "127.0.0.1",
            ...NODE_FLAGS,
            ...(options.args ?? []),
            ...this.nodeArgs(),
            "--nats",
            this.setup.natsUrl,
            "--cluster",
            name,
            ...TIMING,
          ],
        });
        cluster.add(server);
      }
      await cluster.converged();
    } catch (error) {
      await cluster[Symbol.asyncDispose]();
      throw error;
    }
    this.#log(
      `cluster ${name}: ${this.setup.nodes} nodes ${cluster.nodes.map((n) => n.id).join(", ")}`,
    );
    return cluster;
  }

  /** Drops the schema and Redis keys (nodes must be gone), removes the dir. Once. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    try {
      const keys = await dropNamespace(this.setup.backends, this.namespace);
      this.#log(`cluster: dropped schema ${this.namespace.schema} and ${keys} Redis keys`);
    } finally {
      await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    }
  }
}

/** A node of a {@link BenchCluster}. */
export interface BenchNode {
  readonly server: TestServer;
  readonly id: string;
  readonly workers: number;
}

/** K running nodes of one cluster. */
export class BenchCluster implements AsyncDisposable {
  readonly name: string;
  readonly nodes: BenchNode[] = [];
  readonly #natsUrl: string;
  #disposed = false;
  #locate: ((ref: ReturnType<typeof virtualRef>) => Location) | undefined;

  constructor(name: string, natsUrl: string) {
    this.name = name;
    this.#natsUrl = natsUrl;
  }

  /** Adds a started node (its banner names it). */
  add(server: TestServer): void {
    const banner = parseBanner(server.banner);
    this.nodes.push({ server, id: banner.node, workers: banner.workers });
    this.#locate = undefined;
  }

  get pids(): number[] {
    return this.nodes.map((n) => n.server.process.pid);
  }

  get ports(): number[] {
    return this.nodes.map((n) => n.server.tcpPort);
  }

  /** Where placement puts `kind/id` under the full view (as every node computes it). */
  locate(kind: string, id: string): Location {
    this.#locate ??= clusterLocator(this.nodes.map((n) => ({ node: n.id, workers: n.workers })));
    return this.#locate(virtualRef(kind, id));
  }

  /** The node of a user (its user actor; the bench connects its clients there too). */
  nodeOf(userId: string): BenchNode {
    const id = this.locate("user", userId).node;
    return this.nodes.find((n) => n.id === id)!;
  }

  /** {@link PairPlacement} for `crossNodePairs`. */
  placement(): PairPlacement {
    return {
      homeOf: (user) => this.locate("user", user).node,
      ownerOf: (a, b) => this.locate("conv", directConversationId(a, b)).node,
    };
  }

  /** Waits until every node's latest view holds exactly all nodes. */
  async converged(): Promise<void> {
    const want = this.nodes.map((n) => n.id).sort().join(",");
    const deadline = Date.now() + CONVERGE_MS;
    while (!this.nodes.every((n) => lastView(n.server) === want)) {
      if (Date.now() > deadline) {
        const views = this.nodes.map((n) => `${n.id}: [${lastView(n.server) ?? ""}]`);
        throw new Error(`Cluster ${this.name} did not converge on [${want}]: ${views.join("; ")}`);
      }
      await sleep(100);
    }
  }

  /** Warnings and errors the nodes logged so far, each line prefixed with its node index. */
  problems(): string[] {
    return this.nodes.flatMap((n, i) =>
      n.server.stderr().split("\n").filter((l) => /"level":"(warn|error)"/.test(l))
        .map((l) => `node ${i}: ${l}`)
    );
  }

  /** Kills the nodes, then destroys the cluster's membership bucket on NATS. Once. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await Promise.all(this.nodes.map((n) => n.server.stop("SIGKILL")));
    await destroyBucket(this.#natsUrl, this.name);
  }
}

/** The members of the last view a node logged, sorted and joined. */
function lastView(server: TestServer): string | undefined {
  const last = server.stderr().split("\n").findLast((l) => l.includes('"Cluster view"'));
  if (last === undefined) return undefined;
  try {
    return (JSON.parse(last).members as string[]).sort().join(",");
  } catch {
    return undefined;
  }
}

async function destroyBucket(natsUrl: string, cluster: string): Promise<void> {
  const nc = await connect({ servers: natsUrl, timeout: 5000, reconnect: false });
  try {
    await deleteMembershipRegistry(nc, cluster);
  } finally {
    await nc.close();
  }
}

/**
 * Disposes `resource` (then exits 130) on SIGINT/SIGTERM, until the returned handle is
 * disposed: the nodes are not children that die with the bench.
 */
export function disposeOnSignal(resource: AsyncDisposable): Disposable {
  const handler = () =>
    void Promise.resolve(resource[Symbol.asyncDispose]()).finally(() => Deno.exit(130));
  for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, handler);
  return {
    [Symbol.dispose]: () => {
      for (const signal of ["SIGINT", "SIGTERM"] as const) {
        Deno.removeSignalListener(signal, handler);
      }
    },
  };
}
