/**
 * The application every worker of a node runs: opens the embedded store, builds the auth
 * service and starts the gateways (TCP, TLS, WebSocket and HTTP on ports shared by all
 * workers). Returns the teardown the node runs on graceful shutdown.
 *
 * @module
 */

import { join } from "node:path";
import type { NodeConfig } from "./config.ts";
import { Gateway, httpApi } from "./gateway/mod.ts";
import type { ActorSystem, WorkerContext } from "./runtime/mod.ts";
import {
  AuthService,
  loadOrCreateSigningKeys,
  openSqlite,
  SQLITE_MIGRATIONS,
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
    http: httpApi({ auth, keys }),
  });
  await gateway.start();
  context.logger.log("debug", "Worker started", { generation: context.generation });
  return async () => {
    await gateway.stop();
    db.close();
  };
}
