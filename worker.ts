/**
 * The application every worker of a node runs: opens the embedded store, builds the auth
 * service and starts the gateways (TCP, TLS, WebSocket and HTTP on ports shared by all
 * workers). Returns the teardown the node runs on graceful shutdown.
 *
 * @module
 */

import { join } from "node:path";
import type { NodeConfig } from "./config.ts";
import {
  chatHandler,
  chatNotifyHandler,
  CONVERSATION_KIND,
  conversationFactory,
  STORE_KIND,
  STORE_WRITER,
  type StoreMessage,
  storeWriterFactory,
  USER_KIND,
  userFactory,
  type UserMessage,
  WriteBatcher,
} from "./actors/mod.ts";
import { firstHttpHandler, Gateway, httpApi, httpChatApi } from "./gateway/mod.ts";
import { type ActorSystem, type BoundRef, virtualRef, type WorkerContext } from "./runtime/mod.ts";
import {
  type AppendResult,
  AuthService,
  loadOrCreateSigningKeys,
  openSqlite,
  SQLITE_MIGRATIONS,
  SqliteFriendStore,
  SqliteMessageStore,
  SqliteRefreshTokenStore,
  SqliteUserStore,
} from "./services/mod.ts";

/** Called once per worker (again after a respawn). */
export async function setup(
  system: ActorSystem,
  context: WorkerContext,
): Promise<() => Promise<void>> {
  const config = context.config as NodeConfig;
  const db = openSqlite(join(config.dataDir, "flash-im.db"), SQLITE_MIGRATIONS);
  const keys = await loadOrCreateSigningKeys(join(config.dataDir, "keys"));
  const auth = new AuthService({
    users: new SqliteUserStore(db),
    refreshTokens: new SqliteRefreshTokenStore(db),
    keys,
    accessTtlSec: config.accessTtlSec,
  });
  const tls = config.tlsCert && config.tlsKey
    ? {
      port: config.tlsPort,
      cert: await Deno.readTextFile(config.tlsCert),
      key: await Deno.readTextFile(config.tlsKey),
    }
    : undefined;
  const messages = new SqliteMessageStore(db);
  const friends = new SqliteFriendStore(db);
  system.register(USER_KIND, {
    virtual: true,
    idleMs: 600_000,
    create: userFactory({ friends, offlineGraceMs: config.presenceGraceMs }),
  });
  // Group commit: this worker's conversations share one write per event-loop turn, sent
  // to the node's store writer (a timed-out write is a failure the store makes safe).
  const batcher = new WriteBatcher((items, now) =>
    system.ask<AppendResult[], StoreMessage>(STORE_WRITER, { type: "append", items, now }, {
      timeoutMs: 10_000,
    })
  );
  // Every worker can host the store writer; placement activates it on one of them.
  system.register(STORE_KIND, {
    virtual: true,
    capacity: 65_536,
    create: storeWriterFactory(messages),
  });
  system.register(CONVERSATION_KIND, {
    virtual: true,
    idleMs: 300_000,
    capacity: 4096,
    create: conversationFactory({
      store: messages,
      logger: context.logger,
      writer: STORE_WRITER,
      batcher,
    }),
  });
  const handleRequest = chatHandler({
    friends,
    messages,
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
    onAuthenticated: (entry) =>
      system.tell<UserMessage>(virtualRef(USER_KIND, entry.identity!.userId), {
        type: "attach",
        conn: entry.ref as BoundRef,
        deviceId: entry.identity!.deviceId,
      }),
    onClosed: (entry) =>
      system.tell<UserMessage>(virtualRef(USER_KIND, entry.identity!.userId), {
        type: "detach",
        conn: entry.ref as BoundRef,
      }),
    http: firstHttpHandler(
      httpApi({ auth, keys }),
      httpChatApi({
        auth,
        users: new SqliteUserStore(db),
        friends,
        messages,
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
  await gateway.start();
  context.logger.log("debug", "Worker started", { generation: context.generation });
  return async () => {
    await gateway.stop();
    db.close();
  };
}
