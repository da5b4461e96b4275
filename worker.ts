/**
 * The application every worker of a node runs: opens the store (SQLite or Postgres) and the
 * shared ephemeral state (in-memory or Redis), builds the auth service, registers the actor
 * kinds and starts the gateways (TCP, TLS, WebSocket and HTTP on ports shared by all
 * workers). Returns the teardown the node runs on graceful shutdown.
 *
 * @module
 */

import type { NodeConfig } from "./config.ts";
import {
  chatHandler,
  chatNotifyHandler,
  CONVERSATION_KIND,
  conversationFactory,
  LIMITS_KIND,
  limitsBucket,
  limitsFactory,
  STORE_WRITER,
  type StoreMessage,
  USER_KIND,
  userFactory,
  type UserMessage,
  WriteBatcher,
} from "./actors/mod.ts";
import { firstHttpHandler, Gateway, httpApi, httpChatApi, httpMetrics } from "./gateway/mod.ts";
import {
  type ActorSystem,
  type BoundRef,
  LocalServiceBus,
  NatsServiceBus,
  NatsTransport,
  remotePort,
  servePort,
  type ServiceBus,
  virtualRef,
  type WorkerContext,
} from "./runtime/mod.ts";
import { connect } from "@nats-io/transport-node";
import {
  type AppendResult,
  AuthService,
  isBackendUnavailable,
  knownPgDriverDefect,
  loadOrCreateSigningKeys,
  MemoryDedupeCache,
  MemoryRateLimiter,
  type MessageStore,
  openEphemeral,
  openStores,
  perMinute,
  PG_CALL_DEADLINE_MS,
  PresenceRegistrar,
} from "./services/mod.ts";

/**
 * Uncaught errors a worker outlives: only the Postgres driver's known write-after-close
 * throw. Dying for it would drop every connection of the worker and the requests its
 * actors held, during the very outage the rest of the worker rides out.
 */
export function survivable(error: unknown): string | undefined {
  return knownPgDriverDefect(error);
}

/** Called once per worker (again after a respawn). */
export async function setup(
  system: ActorSystem,
  context: WorkerContext,
): Promise<() => Promise<void>> {
  const config = context.config as NodeConfig;
  // The main thread has migrated the store and seen both servers answer. A worker does not
  // wait for them: one respawned during an outage comes up at once and refuses what needs
  // a server as unavailable (like its siblings) until the server is back.
  const stores = await openStores({
    dataDir: config.dataDir,
    postgres: config.postgresUrl === undefined ? undefined : {
      url: config.postgresUrl,
      schema: config.pgSchema,
      poolSize: config.pgPool,
      migrate: false,
    },
  });
  const loginBuckets = {
    perAccount: perMinute(config.loginLimitAccount),
    perAddress: perMinute(config.loginLimitAddress),
  };
  const ephemeral = await openEphemeral({
    nodeKey: config.dataDir,
    redis: config.redisUrl === undefined
      ? undefined
      : { url: config.redisUrl, prefix: config.redisPrefix },
    loginLimits: loginBuckets,
    waitForServer: false,
    onError: (error) => context.logger.log("warn", "Redis connection trouble", { error }),
  });
  // Without Redis, the node's workers share their login buckets through one actor.
  system.register(LIMITS_KIND, {
    virtual: true,
    capacity: 4096,
    create: limitsFactory(() =>
      new Map(
        Object.entries(loginBuckets).map(([name, bucket]) => [name, new MemoryRateLimiter(bucket)]),
      )
    ),
  });
  const keys = await loadOrCreateSigningKeys(config.keysDir);
  const revocations = ephemeral.revocations;
  const auth = new AuthService({
    users: stores.users,
    refreshTokens: stores.refreshTokens,
    keys,
    accessTtlSec: config.accessTtlSec,
    loginLimits: ephemeral.loginLimits ?? {
      perAccount: limitsBucket(system, "perAccount", loginBuckets.perAccount),
      perAddress: limitsBucket(system, "perAddress", loginBuckets.perAddress),
    },
    revocations: {
      revoke: ({ sessionId, untilMs }) => revocations.revoke(sessionId, untilMs),
      // Fails open: while Redis is down, access tokens (minutes long) are checked by
      // signature and expiry only, rather than every connect and API call failing. The
      // refresh tokens' revocation is durable in the store and still holds.
      isRevoked: (sessionId) =>
        revocations.isRevoked(sessionId).catch((error) => {
          context.logger.log("warn", "Revocation check failed; token accepted", { error });
          return false;
        }),
    },
  });
  const tls = config.tlsCert && config.tlsKey
    ? {
      port: config.tlsPort,
      cert: await Deno.readTextFile(config.tlsCert),
      key: await Deno.readTextFile(config.tlsKey),
    }
    : undefined;
  const { friends } = stores;
  const cluster = config.natsUrl === undefined ? undefined : await connectCluster(context);
  // Service actors: this node serves the services it runs (to every node, in a cluster);
  // calls go to any node that serves them, to this one in-process when it does.
  const bus: ServiceBus = cluster?.bus ?? new LocalServiceBus({ maxConcurrent: 4096 });
  const served: (() => Promise<void>)[] = [];
  if (config.services.includes("auth")) {
    served.push(await servePort(bus, "auth", auth, AUTH_METHODS));
  }
  if (config.services.includes("sync")) {
    served.push(await servePort(bus, "sync", stores.messages, SYNC_METHODS));
  }
  if (config.services.includes("persist")) {
    served.push(await servePort(bus, "persist", stores.messages, PERSIST_METHODS));
  }
  const authService = {
    ...remotePort<AuthService, typeof AUTH_METHODS[number]>(bus, "auth", AUTH_METHODS),
    // Tokens are checked where they arrive: every node has the keys.
    verifyAccessToken: (token: string) => auth.verifyAccessToken(token),
  };
  const sync = remotePort<MessageStore, typeof SYNC_METHODS[number]>(bus, "sync", SYNC_METHODS);
  // Writes: conversations persist through whichever node runs the persist service (this one,
  // in-process, when it does), bounded like a store call.
  const messages = remotePort<MessageStore, typeof PERSIST_METHODS[number]>(
    bus,
    "persist",
    PERSIST_METHODS,
    { timeoutMs: PG_CALL_DEADLINE_MS },
  );
  system.register(USER_KIND, {
    virtual: true,
    idleMs: 600_000,
    create: userFactory({ friends, offlineGraceMs: config.presenceGraceMs }),
  });
  // Group commit: this worker's conversations share one write per event-loop turn. SQLite
  // has one writer at a time, so the node's store writer (on the main thread, see main.ts)
  // takes every worker's batches (a timed-out write is a failure the store makes safe).
  // Postgres takes concurrent batches: each worker writes through its own pool.
  const embedded = stores.backend === "sqlite";
  const batcher = new WriteBatcher(
    embedded
      ? (items, now) =>
        system.ask<AppendResult[], StoreMessage>(STORE_WRITER, { type: "append", items, now }, {
          timeoutMs: 10_000,
        })
      : (items, now) => messages.appendBatch(items, now),
    // One write per pooled connection (one per worker for the single SQLite writer): what
    // arrives meanwhile waits and goes out as one larger (cheaper per message) transaction
    // instead of queueing at the writer (a SQLite commit costs about as much as two rows).
    { maxInFlight: embedded ? 1 : config.pgPool },
  );
  system.register(CONVERSATION_KIND, {
    virtual: true,
    idleMs: 300_000,
    capacity: 4096,
    create: conversationFactory({
      store: messages,
      logger: context.logger,
      writer: embedded ? STORE_WRITER : undefined,
      batcher,
      // Resent messages are answered from here when their conversation was passivated,
      // restarted or moved since (the store dedupes too, at the cost of a write attempt).
      dedupe: {
        cache: ephemeral.dedupe ?? new MemoryDedupeCache({ maxEntries: MEMORY_DEDUPE_ENTRIES }),
        ttlMs: DEDUPE_TTL_MS,
      },
    }),
  });
  // Every kind is registered: messages from other nodes can arrive from now on.
  await cluster?.listen(system);
  const handleRequest = chatHandler({
    friends,
    // A send creates its conversation here; reads are the sync service's.
    messages: { ...sync, ensureDirect: (a, b, now) => messages.ensureDirect(a, b, now) },
    requireFriends: config.requireFriends,
  });
  const gateway = new Gateway(system, {
    listen: { hostname: config.host, tcpPort: config.tcpPort, httpPort: config.httpPort, tls },
    limits: {
      authTimeoutMs: config.authTimeoutMs,
      idleTimeoutMs: config.idleTimeoutMs,
      heartbeatIntervalMs: config.heartbeatMs,
      maxFrameSize: config.maxFrameBytes,
      ratePerSec: config.rateLimit,
      rateBurst: config.rateBurst,
    },
    outbound: { maxFrames: config.outboundFrames, maxBytes: config.outboundBytes },
    verifier: auth,
    logger: context.logger,
    handleRequest,
    handleNotify: chatNotifyHandler({ friends }),
    unavailable: isBackendUnavailable,
    onAuthenticated: (entry) => {
      const { userId, deviceId, connectionId } = entry.identity!;
      system.tell<UserMessage>(virtualRef(USER_KIND, userId), {
        type: "attach",
        conn: entry.ref as BoundRef,
        deviceId,
      });
      void registrar?.attach({ userId, sessionId: connectionId, deviceId });
    },
    onClosed: (entry) => {
      const { userId, connectionId } = entry.identity!;
      system.tell<UserMessage>(virtualRef(USER_KIND, userId), {
        type: "detach",
        conn: entry.ref as BoundRef,
      });
      void registrar?.detach(userId, connectionId);
    },
    http: firstHttpHandler(
      httpApi({ auth: authService, keys }),
      // This worker's series only: a scrape lands on any worker (see gateway/http_metrics.ts).
      httpMetrics({
        labels: { worker: String(context.worker) },
        histograms: [{
          name: "flashim_write_batch_items",
          help: "Messages per group-commit store write (appendBatch) of this worker.",
          read: () => batcher.batchItems.snapshot(),
        }],
      }),
      httpChatApi({
        auth,
        users: stores.users,
        friends,
        messages: sync,
        // Presence lives in the user actors: ask each friend's (an unreachable one counts
        // as offline rather than failing the list).
        online: (ids) =>
          Promise.all(
            ids.map((id) =>
              system.ask<boolean, UserMessage>(virtualRef(USER_KIND, id), { type: "online" }, {
                timeoutMs: 1000,
              }).catch(() => false)
            ),
          ),
      }),
    ),
  });
  // On Redis, every node can see where a user's sessions are; a dead node's entries expire.
  const registrar = ephemeral.presence === undefined ? undefined : new PresenceRegistrar({
    directory: ephemeral.presence,
    node: context.node,
    worker: context.worker,
    ttlMs: config.presenceTtlMs,
    onError: (error) => context.logger.log("warn", "Presence directory write failed", { error }),
  });
  registrar?.start();
  // A revoked session's connections on this worker close at once (every worker hears it).
  revocations.subscribe((sessionId) => gateway.closeSession(sessionId));
  // A new view: users whose actor moved attach their connections at the new owner, and
  // sessions on nodes that left (or died) stop counting as online.
  let before = context.view()?.nodes.map((n) => n.node) ?? [context.node];
  context.onView((view) => {
    const live = view.nodes.map((n) => n.node);
    // Only a departure (a death looks the same) can leave devices with stale presence.
    const lost = before.some((node) => !live.includes(node));
    before = live;
    for (const ref of system.residents(USER_KIND)) {
      system.tell<UserMessage>(ref, { type: "nodesChanged", live });
    }
    for (const entry of gateway.authenticated()) {
      const { userId, deviceId } = entry.identity!;
      system.tell<UserMessage>(virtualRef(USER_KIND, userId), {
        type: "attach",
        conn: entry.ref as BoundRef,
        deviceId,
        rehome: lost,
      });
    }
  });
  await gateway.start();
  context.logger.log("debug", "Worker started", {
    generation: context.generation,
    store: stores.backend,
    ephemeral: ephemeral.backend,
  });
  return async () => {
    await gateway.stop();
    for (const stop of served) await stop().catch(() => {});
    await bus.close();
    await cluster?.close();
    await registrar?.stop();
    await ephemeral.close();
    await stores.close();
  };
}

/** What the auth service serves: the account and token operations (checks stay local). */
const AUTH_METHODS = ["register", "login", "refresh", "logout"] as const;
/** What the sync service serves: the reads devices catch up with. */
const SYNC_METHODS = ["changesSince", "page", "load", "conversationsOf"] as const;
/** What the persist service serves: what conversations load and write. */
const PERSIST_METHODS = ["load", "appendBatch", "setWatermark", "ensureDirect"] as const;
/**
 * How long a stored message's ack stays in the idempotency cache: longer than the SDK keeps
 * retrying one send (5 retries by default, 20 at most, each waiting up to a 10 s timeout plus
 * a 5 s backoff), short enough that the cache holds only recent sends. Past it the store's
 * uniqueness still dedupes.
 */
const DEDUPE_TTL_MS = 10 * 60_000;
/** Bound of a worker's own idempotency cache (no Redis); least recently used acks go first. */
const MEMORY_DEDUPE_ENTRIES = 100_000;

/**
 * Cluster mode: this worker's own NATS connection, its service bus, and (once `listen` is
 * called) its subject, through which messages for actors on other nodes go and theirs for
 * actors here arrive.
 */
async function connectCluster(context: WorkerContext): Promise<{
  readonly bus: NatsServiceBus;
  listen(system: ActorSystem): Promise<void>;
  close(): Promise<void>;
}> {
  const config = context.config as NodeConfig;
  const nc = await connect({
    servers: config.natsUrl!,
    name: `flash-im ${context.node}/${context.worker}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
  });
  let transport: NatsTransport | undefined;
  return {
    bus: new NatsServiceBus({ nc, cluster: config.cluster, logger: context.logger }),
    async listen(system) {
      transport = NatsTransport.listen({
        nc,
        cluster: config.cluster,
        node: context.node,
        worker: context.worker,
        onError: (what, error) => context.logger.log("warn", what, { error }),
      }, system);
      // Until the server has the subscription, what other nodes publish to it is lost.
      await nc.flush();
      context.setRemoteTransport(transport);
    },
    close: async () => {
      context.setRemoteTransport(undefined);
      await transport?.close().catch(() => {});
      await nc.drain().catch(() => nc.close());
    },
  };
}
