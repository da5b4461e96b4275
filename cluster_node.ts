/**
 * A node in cluster mode: it joins the membership over NATS before its workers start (so
 * they place actors by the cluster view from their first message), applies every new
 * view to its workers, leaves gracefully on SIGTERM, and fences itself when the
 * membership says it must: its workers (and every actor and connection on them) go, and
 * it rejoins under a new incarnation.
 *
 * @module
 */

import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { NodeConfig } from "./config.ts";
import {
  type ClusterView,
  DEFAULT_STABILIZE_MS,
  type Logger,
  Membership,
  NodeHost,
  type PlacementView,
} from "./runtime/mod.ts";

/** How long a fenced node waits before it tries to join again (NATS may still be away). */
const REJOIN_DELAY_MS = 1000;

/** One incarnation: a node id, its membership and its workers. */
interface Incarnation {
  readonly node: string;
  readonly membership: Membership;
  readonly host: NodeHost;
}

/** A fresh incarnation id: host, pid and a random part (a rejoin is a new member). */
export function newNodeId(): string {
  const host = Deno.hostname().replace(/[^A-Za-z0-9-]/g, "-").slice(0, 40) || "host";
  return `${host}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}`;
}

/**
 * The view's nodes as placement wants them. Nodes apply a view up to about a heartbeat
 * plus the stabilization delay apart: a message for an actor a worker does not own (yet)
 * waits that long for the worker's own view before it is passed on.
 */
function placementView(view: ClusterView, config: NodeConfig): PlacementView {
  return {
    version: view.version,
    nodes: view.members.map(({ node, workers }) => ({ node, workers })),
    holdMs: config.clusterHeartbeatMs + DEFAULT_STABILIZE_MS,
  };
}

/**
 * Runs a cluster node until SIGINT/SIGTERM (then exits 0 after a graceful leave).
 * `started` is called with each incarnation's node id once its workers run.
 */
export async function runClusterNode(
  config: NodeConfig,
  logger: Logger,
  started: (node: string, workers: number) => void,
): Promise<void> {
  const nc = await connectNats(config);
  let current: Incarnation | undefined;
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log("info", "Leaving the cluster", { signal, node: current?.node });
    if (current !== undefined) await leave(current, logger);
    await nc.drain().catch(() => {});
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", () => void stop("SIGINT"));
  Deno.addSignalListener("SIGTERM", () => void stop("SIGTERM"));
  while (!stopping) {
    const fenced = Promise.withResolvers<string>();
    try {
      current = await startIncarnation(config, nc, logger, fenced.resolve);
    } catch (error) {
      logger.log("error", "Cannot join the cluster; trying again", { error });
      await new Promise((resolve) => setTimeout(resolve, REJOIN_DELAY_MS));
      continue;
    }
    if (stopping) break;
    started(current.node, current.host.workers);
    const reason = await fenced.promise;
    if (stopping) break;
    logger.log("error", "Node fenced itself: dropping its actors and connections to rejoin", {
      node: current.node,
      reason,
    });
    const gone = current;
    current = undefined;
    await gone.membership.close().catch(() => {});
    await gone.host.shutdown({ timeoutMs: 500 });
    await new Promise((resolve) => setTimeout(resolve, REJOIN_DELAY_MS));
  }
}

async function connectNats(config: NodeConfig): Promise<NatsConnection> {
  try {
    return await connect({
      servers: config.natsUrl!,
      name: "flash-im main",
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
  } catch (error) {
    throw new Error(
      `Cannot connect to NATS at ${config.natsUrl}: ${(error as Error).message ?? error}`,
      { cause: error },
    );
  }
}

async function startIncarnation(
  config: NodeConfig,
  nc: NatsConnection,
  logger: Logger,
  onFenced: (reason: string) => void,
): Promise<Incarnation> {
  const node = newNodeId();
  let host: NodeHost | undefined;
  let latest: PlacementView | undefined;
  const membership = await Membership.join({
    nc,
    cluster: config.cluster,
    self: { node, workers: config.workers, since: Date.now() },
    heartbeatMs: config.clusterHeartbeatMs,
    suspectMs: config.clusterSuspectMs,
    deadMs: config.clusterDeadMs,
    logger,
    onView: (view) => {
      latest = placementView(view, config);
      logger.log("info", "Cluster view", {
        node,
        version: view.version,
        members: view.members.map((m) => m.node),
      });
      host?.setView(latest);
    },
    onFenced,
  });
  try {
    host = await NodeHost.start({
      app: new URL("./worker.ts", import.meta.url),
      node,
      workers: config.workers,
      config,
      logger,
      log: (line) => console.error(line),
      view: latest ?? placementView(membership.view, config),
      onFatal: (error) => {
        console.error(`flash-im: fatal: ${error.message}`);
        Deno.exit(1);
      },
    });
  } catch (error) {
    await membership.leave().catch(() => {});
    throw error;
  }
  // A view that arrived while the workers started.
  if (latest !== undefined) host.setView(latest);
  return { node, membership, host };
}

/**
 * Graceful leave: peers drop this node at once and take its shards; this node places by
 * the view without itself (what its clients still send is forwarded to the new owners)
 * while its workers drain clients with the shutdown close code.
 */
async function leave(incarnation: Incarnation, logger: Logger): Promise<void> {
  const { node, membership, host } = incarnation;
  const before = host.view;
  await membership.leave().catch((error) => {
    logger.log("warn", "Leaving the membership failed; peers will time this node out", {
      error,
    });
  });
  const rest = before?.nodes.filter((n) => n.node !== node) ?? [];
  if (before !== undefined && rest.length > 0) {
    host.setView({ version: before.version + 1, nodes: rest });
  }
  await host.shutdown({ timeoutMs: 10_000 });
}
