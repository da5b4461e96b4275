/**
 * flash-im's entry point: the only place that reads flags and environment and wires the
 * layers together. `deno task start` runs one node on the embedded default.
 *
 * @module
 */

import { HelpRequested, type NodeConfig, parseConfig, usage } from "./config.ts";
import { jsonLogger, NodeHost } from "./runtime/mod.ts";
import { STORE_KIND, storeWriterFactory } from "./actors/mod.ts";
import { runClusterNode } from "./cluster_node.ts";
import {
  type FriendStore,
  hashPassword,
  loadOrCreateSigningKeys,
  openEphemeral,
  openStores,
  perMinute,
  type StoreOptions,
  type UserStore,
} from "./services/mod.ts";

/** The demo accounts `--demo true` seeds: friends with each other. */
export const DEMO_USERS = ["alice", "bob", "carol"] as const;
/** Their password (demo only: never use seeded accounts outside a local try-out). */
export const DEMO_PASSWORD = "demo-password";

/** Creates the demo users (if missing) and makes them friends with each other. Idempotent. */
export async function seedDemo(stores: { users: UserStore; friends: FriendStore }): Promise<void> {
  const { users, friends } = stores;
  const ids: string[] = [];
  for (const name of DEMO_USERS) {
    const existing = await users.byUsername(name);
    if (existing) ids.push(existing.id);
    else {
      const created = await users.create(name, await hashPassword(DEMO_PASSWORD));
      if (!created.ok) throw new Error(`Cannot seed demo user ${name}: ${created.reason}`);
      ids.push(created.user.id);
    }
  }
  const now = Date.now();
  for (let i = 0; i < ids.length; i++) {
    for (let j = i + 1; j < ids.length; j++) {
      if (await friends.areFriends(ids[i]!, ids[j]!)) continue;
      await friends.request(ids[i]!, ids[j]!, now);
      await friends.accept(ids[j]!, ids[i]!, now);
    }
  }
}

/** Where a node's durable store is, from its config. */
export function storeOptions(config: NodeConfig): StoreOptions {
  return {
    dataDir: config.dataDir,
    postgres: config.postgresUrl === undefined
      ? undefined
      : { url: config.postgresUrl, schema: config.pgSchema, poolSize: 1 },
  };
}

/** Refuses a port another process holds (even one that also uses `reusePort`). */
function checkPortFree(hostname: string, port: number, name: string): void {
  try {
    Deno.listen({ hostname, port }).close();
  } catch (error) {
    throw new Error(`Cannot listen on ${hostname}:${port} (${name}): ${(error as Error).message}`);
  }
}

/** Prepares what the workers share: data directory, schema, signing key, TLS files. */
async function prepare(config: NodeConfig): Promise<void> {
  await Deno.mkdir(config.dataDir, { recursive: true });
  // Migrate once here (workers open the store without migrating or waiting for it), and so
  // an unreachable Postgres or Redis stops the start with a clear message.
  const stores = await openStores(storeOptions(config));
  try {
    if (config.demo) await seedDemo(stores);
  } finally {
    await stores.close();
  }
  if (config.redisUrl !== undefined) {
    const ephemeral = await openEphemeral({
      nodeKey: config.dataDir,
      redis: { url: config.redisUrl, prefix: config.redisPrefix },
      loginLimits: { perAccount: perMinute(1), perAddress: perMinute(1) },
    });
    await ephemeral.close();
  }
  await loadOrCreateSigningKeys(config.keysDir);
  for (const file of [config.tlsCert, config.tlsKey]) {
    if (file === undefined) continue;
    try {
      await Deno.readTextFile(file);
    } catch (error) {
      throw new Error(`Cannot read TLS file ${file}: ${(error as Error).message}`);
    }
  }
  checkPortFree(config.host, config.tcpPort, "TCP");
  checkPortFree(config.host, config.httpPort, "HTTP");
  if (config.tlsCert) checkPortFree(config.host, config.tlsPort, "TLS");
}

/** The lines `deno task start` prints once the node is up. */
export function listenLines(config: NodeConfig): string[] {
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  return [
    `  tcp   ${host}:${config.tcpPort}`,
    ...(config.tlsCert ? [`  tls   ${host}:${config.tlsPort}`] : []),
    `  ws    ws://${host}:${config.httpPort}/ws`,
    `  http  http://${host}:${config.httpPort}`,
  ];
}

async function main(): Promise<void> {
  let config: NodeConfig;
  try {
    config = parseConfig(Deno.args, (name) => Deno.env.get(name));
  } catch (error) {
    if (error instanceof HelpRequested) {
      console.log(usage());
      Deno.exit(0);
    }
    console.error(`flash-im: ${error instanceof Error ? error.message : error}\n\n${usage()}`);
    Deno.exit(2);
  }
  try {
    await prepare(config);
  } catch (error) {
    console.error(`flash-im: ${error instanceof Error ? error.message : error}`);
    Deno.exit(1);
  }
  const logger = jsonLogger((line) => console.error(line), { minLevel: config.logLevel });
  if (config.natsUrl !== undefined) {
    await runClusterNode(config, logger, (node, workers) => {
      console.log(
        [
          `flash-im node ${node} running with ${workers} workers in cluster ${config.cluster} (Ctrl-C leaves)`,
          ...listenLines(config),
        ].join("\n"),
      );
    }).catch((error) => {
      console.error(`flash-im: ${error instanceof Error ? error.message : error}`);
      Deno.exit(1);
    });
    return;
  }
  // The embedded store's single writer runs on the main thread: its synchronous SQLite
  // transactions would otherwise stall the sockets of the worker hosting it.
  const stores = config.postgresUrl === undefined
    ? await openStores(storeOptions(config))
    : undefined;
  const host = await NodeHost.start({
    app: new URL("./worker.ts", import.meta.url),
    workers: config.workers,
    config,
    mainKinds: stores === undefined ? [] : [STORE_KIND],
    setupMain: (system) => {
      if (stores === undefined) return;
      system.register(STORE_KIND, {
        virtual: true,
        capacity: 65_536,
        create: storeWriterFactory(stores.messages),
      });
    },
    logger,
    log: (line) => console.error(line),
    onFatal: (error) => {
      console.error(`flash-im: fatal: ${error.message}`);
      Deno.exit(1);
    },
  });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log("info", "Shutting down", { signal });
    await host.shutdown({ timeoutMs: 10_000 });
    await stores?.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
  Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
  // Printed only once the signal handlers are in place: "running" means stoppable.
  console.log(
    [
      `flash-im node ${host.node} running with ${host.workers} workers (Ctrl-C stops it)`,
      ...listenLines(config),
      ...(config.demo
        ? [`  demo  users ${DEMO_USERS.join(", ")} (friends), password "${DEMO_PASSWORD}"`]
        : []),
    ].join("\n"),
  );
}

if (import.meta.main) await main();
