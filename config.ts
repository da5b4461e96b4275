/**
 * Node configuration: flags, then environment variables, then defaults, validated before
 * anything starts. A bad value stops start-up with a message naming it.
 *
 * @module
 */

import { parseArgs } from "node:util";

/**
 * V8 flags a node runs with (`deno task start` passes them; tests and benchmarks start
 * nodes the same way). A 4 MiB cap on the young generation's semi-spaces: a gateway makes
 * many small short-lived objects per handshake and frame, and V8's default lets each
 * worker's young generation grow to several times that under a connection burst and keep
 * it. Measured with `deno task bench connections` (both servers run with the flag): server
 * RSS per idle authenticated connection 1.55-1.63x raw Deno without it, 1.36x with it, and
 * connect+auth throughput did not drop.
 */
export const NODE_V8_FLAGS = "--max-semi-space-size=4";

/** Everything a node needs to start; plain data (it is sent to every worker). */
export interface NodeConfig {
  readonly workers: number;
  readonly logLevel: "debug" | "info" | "warn" | "error";
  readonly host: string;
  readonly tcpPort: number;
  readonly httpPort: number;
  readonly tlsPort: number;
  readonly tlsCert: string | undefined;
  readonly tlsKey: string | undefined;
  readonly dataDir: string;
  readonly authTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly heartbeatMs: number;
  readonly maxFrameBytes: number;
  readonly rateLimit: number;
  readonly rateBurst: number;
  readonly outboundFrames: number;
  readonly outboundBytes: number;
  readonly accessTtlSec: number;
  readonly requireFriends: boolean;
  readonly presenceGraceMs: number;
  /** Seed demo users who are friends (see `seedDemo` in main.ts). */
  readonly demo: boolean;
  /** PostgreSQL URL: the real store instead of the embedded one. */
  readonly postgresUrl: string | undefined;
  /** Schema of flash-im's tables in Postgres. */
  readonly pgSchema: string;
  /** Connections per worker to Postgres. */
  readonly pgPool: number;
  /** Redis URL: shared presence, limits, dedupe and revocations instead of in-memory. */
  readonly redisUrl: string | undefined;
  /** Prefix of every Redis key flash-im writes. */
  readonly redisPrefix: string;
  /** Life of a session's entry in the shared presence directory without refresh. */
  readonly presenceTtlMs: number;
  /** Login attempts per account name per minute (also the burst). */
  readonly loginLimitAccount: number;
  /** Login attempts per client address per minute (also the burst). */
  readonly loginLimitAddress: number;
  /** NATS URL: join a cluster of nodes (needs Postgres; Redis recommended). */
  readonly natsUrl: string | undefined;
  /** Name of the cluster: nodes with the same NATS server and name form one. */
  readonly cluster: string;
  /** Membership heartbeat period. */
  readonly clusterHeartbeatMs: number;
  /** A node silent this long is suspected (still a member). */
  readonly clusterSuspectMs: number;
  /** A node silent this long is dead (its shards move); also this node's fencing lease. */
  readonly clusterDeadMs: number;
  /** Where the token signing keys are (every node of a cluster must share them). */
  readonly keysDir: string;
  /** The service actors this node serves (`auth`, `sync`, `persist`); a lone node serves all. */
  readonly services: readonly Service[];
}

/** Service actors a node can serve to the cluster. */
export const SERVICES = ["auth", "sync", "persist"] as const;
/** One of {@link SERVICES}. */
export type Service = typeof SERVICES[number];

interface Setting {
  readonly env: string;
  readonly help: string;
  readonly kind: "int" | "string" | "level" | "bool";
  readonly min?: number;
  readonly max?: number;
  readonly fallback: () => string | number | undefined;
}

const SETTINGS: Record<string, Setting> = {
  workers: {
    env: "FLASH_WORKERS",
    help: "worker threads (default: number of cores)",
    kind: "int",
    min: 1,
    max: 256,
    fallback: () => navigator.hardwareConcurrency,
  },
  "log-level": {
    env: "FLASH_LOG_LEVEL",
    help: "debug | info | warn | error (default info)",
    kind: "level",
    fallback: () => "info",
  },
  host: {
    env: "FLASH_HOST",
    help: "address to listen on (default 127.0.0.1; 0.0.0.0 for all)",
    kind: "string",
    fallback: () => "127.0.0.1",
  },
  "tcp-port": {
    env: "FLASH_TCP_PORT",
    help: "TCP port (default 5200)",
    kind: "int",
    min: 1,
    max: 65535,
    fallback: () => 5200,
  },
  "http-port": {
    env: "FLASH_HTTP_PORT",
    help: "HTTP API and WebSocket (/ws) port (default 5280)",
    kind: "int",
    min: 1,
    max: 65535,
    fallback: () => 5280,
  },
  "tls-port": {
    env: "FLASH_TLS_PORT",
    help: "TLS port, used with --tls-cert/--tls-key (default 5243)",
    kind: "int",
    min: 1,
    max: 65535,
    fallback: () => 5243,
  },
  "tls-cert": {
    env: "FLASH_TLS_CERT",
    help: "PEM certificate file: enables TLS",
    kind: "string",
    fallback: () => undefined,
  },
  "tls-key": {
    env: "FLASH_TLS_KEY",
    help: "PEM private key file",
    kind: "string",
    fallback: () => undefined,
  },
  "data-dir": {
    env: "FLASH_DATA_DIR",
    help: "embedded store and keys (default ./data)",
    kind: "string",
    fallback: () => "data",
  },
  "auth-timeout-ms": {
    env: "FLASH_AUTH_TIMEOUT_MS",
    help: "time for a new connection to authenticate (default 10000)",
    kind: "int",
    min: 100,
    max: 600_000,
    fallback: () => 10_000,
  },
  "idle-timeout-ms": {
    env: "FLASH_IDLE_TIMEOUT_MS",
    help: "close connections silent this long (default 90000)",
    kind: "int",
    min: 200,
    max: 3_600_000,
    fallback: () => 90_000,
  },
  "heartbeat-ms": {
    env: "FLASH_HEARTBEAT_MS",
    help: "server PING after this much silence; told to clients (default 30000)",
    kind: "int",
    min: 100,
    max: 3_600_000,
    fallback: () => 30_000,
  },
  "max-frame-bytes": {
    env: "FLASH_MAX_FRAME_BYTES",
    help: "largest frame accepted (default 65536)",
    kind: "int",
    min: 1024,
    max: 16 * 1024 * 1024,
    fallback: () => 65_536,
  },
  "rate-limit": {
    env: "FLASH_RATE_LIMIT",
    help: "requests per second per connection (default 200)",
    kind: "int",
    min: 1,
    max: 1_000_000,
    fallback: () => 200,
  },
  "rate-burst": {
    env: "FLASH_RATE_BURST",
    help: "request burst per connection (default 400)",
    kind: "int",
    min: 1,
    max: 1_000_000,
    fallback: () => 400,
  },
  "outbound-frames": {
    env: "FLASH_OUTBOUND_FRAMES",
    help: "frames queued to a client before it counts as slow (default 1024)",
    kind: "int",
    min: 8,
    max: 1_000_000,
    fallback: () => 1024,
  },
  "outbound-bytes": {
    env: "FLASH_OUTBOUND_BYTES",
    help: "bytes queued to a client before it counts as slow (default 262144)",
    kind: "int",
    min: 65_536,
    max: 1 << 30,
    fallback: () => 262_144,
  },
  "require-friends": {
    env: "FLASH_REQUIRE_FRIENDS",
    help: "1:1 messages only between friends: true | false (default true)",
    kind: "bool",
    fallback: () => "true",
  },
  demo: {
    env: "FLASH_DEMO",
    help: "seed demo users alice, bob and carol (friends; password demo-password): true | false",
    kind: "bool",
    fallback: () => "false",
  },
  "presence-grace-ms": {
    env: "FLASH_PRESENCE_GRACE_MS",
    help:
      "how long a user's last device may be gone before friends see them offline (default 5000)",
    kind: "int",
    min: 0,
    max: 600_000,
    fallback: () => 5000,
  },
  postgres: {
    env: "FLASH_POSTGRES_URL",
    help: "PostgreSQL URL (postgres://user@host:5432/db): the real store (default embedded)",
    kind: "string",
    fallback: () => undefined,
  },
  "pg-schema": {
    env: "FLASH_PG_SCHEMA",
    help: "Postgres schema for flash-im's tables (default flash_im)",
    kind: "string",
    fallback: () => "flash_im",
  },
  "pg-pool": {
    env: "FLASH_PG_POOL",
    help: "Postgres connections per worker (default 4)",
    kind: "int",
    min: 1,
    max: 200,
    fallback: () => 4,
  },
  redis: {
    env: "FLASH_REDIS_URL",
    help: "Redis URL (redis://host:6379/0): shared ephemeral state (default in-memory)",
    kind: "string",
    fallback: () => undefined,
  },
  "redis-prefix": {
    env: "FLASH_REDIS_PREFIX",
    help: "prefix of flash-im's Redis keys (default flash-im:)",
    kind: "string",
    fallback: () => "flash-im:",
  },
  "presence-ttl-ms": {
    env: "FLASH_PRESENCE_TTL_MS",
    help: "with Redis: a session's presence entry lives this long unless refreshed (default 30000)",
    kind: "int",
    min: 300,
    max: 3_600_000,
    fallback: () => 30_000,
  },
  "login-limit-account": {
    env: "FLASH_LOGIN_LIMIT_ACCOUNT",
    help: "login attempts per account per minute (default 10)",
    kind: "int",
    min: 1,
    max: 1_000_000,
    fallback: () => 10,
  },
  "login-limit-address": {
    env: "FLASH_LOGIN_LIMIT_ADDRESS",
    help: "login attempts per client address per minute (default 300)",
    kind: "int",
    min: 1,
    max: 1_000_000,
    fallback: () => 300,
  },
  nats: {
    env: "FLASH_NATS_URL",
    help: "NATS URL (nats://host:4222): join a cluster (needs --postgres) (default: lone node)",
    kind: "string",
    fallback: () => undefined,
  },
  cluster: {
    env: "FLASH_CLUSTER",
    help: "cluster name: nodes on the same NATS with the same name form one (default flash-im)",
    kind: "string",
    fallback: () => "flash-im",
  },
  "cluster-heartbeat-ms": {
    env: "FLASH_CLUSTER_HEARTBEAT_MS",
    help: "membership heartbeat period (default 1000)",
    kind: "int",
    min: 20,
    max: 60_000,
    fallback: () => 1000,
  },
  "cluster-suspect-ms": {
    env: "FLASH_CLUSTER_SUSPECT_MS",
    help: "a node silent this long is suspected (default 3000)",
    kind: "int",
    min: 50,
    max: 600_000,
    fallback: () => 3000,
  },
  "cluster-dead-ms": {
    env: "FLASH_CLUSTER_DEAD_MS",
    help: "a node silent this long is dead; also the self-fencing lease (default 5000)",
    kind: "int",
    min: 100,
    max: 600_000,
    fallback: () => 5000,
  },
  services: {
    env: "FLASH_SERVICES",
    help:
      "service actors this node serves, comma-separated: auth, sync, persist, or none (default all)",
    kind: "string",
    fallback: () => SERVICES.join(","),
  },
  "keys-dir": {
    env: "FLASH_KEYS_DIR",
    help: "token signing keys (share them across a cluster) (default <data-dir>/keys)",
    kind: "string",
    fallback: () => undefined,
  },
  "access-ttl-sec": {
    env: "FLASH_ACCESS_TTL_SEC",
    help: "access token lifetime (default 900)",
    kind: "int",
    min: 10,
    max: 86_400,
    fallback: () => 900,
  },
};

/** `--help` was asked for: print {@link usage} and exit 0. */
export class HelpRequested extends Error {
  override name = "HelpRequested";
}

/** The help text, one line per setting. */
export function usage(): string {
  const lines = Object.entries(SETTINGS).map(([flag, s]) =>
    `  --${flag.padEnd(16)} ${s.help} [env ${s.env}]`
  );
  return `Usage: deno task start [options]\n\n${lines.join("\n")}\n  --help             this text`;
}

/**
 * Parses flags (falling back to environment variables, then defaults) into a validated
 * config.
 *
 * @throws {RangeError} naming the bad value; {@link HelpRequested} for `--help`.
 */
export function parseConfig(args: string[], env: (name: string) => string | undefined): NodeConfig {
  const options = Object.fromEntries(
    Object.keys(SETTINGS).map((flag) => [flag, { type: "string" as const }]),
  );
  const { values } = parseArgs({
    args,
    options: { ...options, help: { type: "boolean" } },
    strict: true,
  });
  if (values.help) throw new HelpRequested();
  const read = (flag: string): string | number | undefined => {
    const setting = SETTINGS[flag]!;
    const given = (values as Record<string, string | undefined>)[flag] ?? env(setting.env);
    if (given === undefined) return setting.fallback();
    if (setting.kind === "string") {
      if (given.trim() === "") throw new RangeError(`Invalid --${flag}: it is empty`);
      return given;
    }
    if (setting.kind === "bool") {
      if (given !== "true" && given !== "false") {
        throw new RangeError(`Invalid --${flag}: ${given} is not true or false`);
      }
      return given;
    }
    if (setting.kind === "level") {
      if (!["debug", "info", "warn", "error"].includes(given)) {
        throw new RangeError(`Invalid --${flag}: ${given} is not one of debug, info, warn, error`);
      }
      return given;
    }
    const n = Number(given);
    if (!(Number.isInteger(n) && n >= setting.min! && n <= setting.max!)) {
      throw new RangeError(
        `Invalid --${flag}: ${given} is not an integer in ${setting.min}..${setting.max}`,
      );
    }
    return n;
  };
  const dataDir = read("data-dir") as string;
  const config: NodeConfig = {
    workers: read("workers") as number,
    logLevel: read("log-level") as NodeConfig["logLevel"],
    host: read("host") as string,
    tcpPort: read("tcp-port") as number,
    httpPort: read("http-port") as number,
    tlsPort: read("tls-port") as number,
    tlsCert: read("tls-cert") as string | undefined,
    tlsKey: read("tls-key") as string | undefined,
    dataDir,
    authTimeoutMs: read("auth-timeout-ms") as number,
    idleTimeoutMs: read("idle-timeout-ms") as number,
    heartbeatMs: read("heartbeat-ms") as number,
    maxFrameBytes: read("max-frame-bytes") as number,
    rateLimit: read("rate-limit") as number,
    rateBurst: read("rate-burst") as number,
    outboundFrames: read("outbound-frames") as number,
    outboundBytes: read("outbound-bytes") as number,
    accessTtlSec: read("access-ttl-sec") as number,
    requireFriends: read("require-friends") === "true",
    presenceGraceMs: read("presence-grace-ms") as number,
    demo: read("demo") === "true",
    postgresUrl: read("postgres") as string | undefined,
    pgSchema: read("pg-schema") as string,
    pgPool: read("pg-pool") as number,
    redisUrl: read("redis") as string | undefined,
    redisPrefix: read("redis-prefix") as string,
    presenceTtlMs: read("presence-ttl-ms") as number,
    loginLimitAccount: read("login-limit-account") as number,
    loginLimitAddress: read("login-limit-address") as number,
    natsUrl: read("nats") as string | undefined,
    cluster: read("cluster") as string,
    clusterHeartbeatMs: read("cluster-heartbeat-ms") as number,
    clusterSuspectMs: read("cluster-suspect-ms") as number,
    clusterDeadMs: read("cluster-dead-ms") as number,
    keysDir: (read("keys-dir") as string | undefined) ?? `${dataDir.replace(/\/+$/, "")}/keys`,
    services: parseServices(read("services") as string),
  };
  if (config.natsUrl === undefined && config.services.length < SERVICES.length) {
    throw new RangeError(
      `Invalid --services: a lone node must serve every service (${SERVICES.join(", ")})`,
    );
  }
  checkUrl(config.postgresUrl, "postgres", ["postgres:", "postgresql:"]);
  checkUrl(config.redisUrl, "redis", ["redis:", "rediss:"]);
  checkUrl(config.natsUrl, "nats", ["nats:", "tls:"]);
  if (config.natsUrl !== undefined && config.postgresUrl === undefined) {
    throw new RangeError(
      "Invalid --nats: a cluster needs a store every node shares; give --postgres too",
    );
  }
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(config.cluster)) {
    throw new RangeError(`Invalid --cluster: ${config.cluster} is not [A-Za-z0-9_-]{1,64}`);
  }
  if (
    !(config.clusterHeartbeatMs < config.clusterSuspectMs &&
      config.clusterSuspectMs < config.clusterDeadMs)
  ) {
    throw new RangeError(
      `Invalid cluster timing: need --cluster-heartbeat-ms (${config.clusterHeartbeatMs}) < ` +
        `--cluster-suspect-ms (${config.clusterSuspectMs}) < --cluster-dead-ms (${config.clusterDeadMs})`,
    );
  }
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(config.pgSchema)) {
    throw new RangeError(
      `Invalid --pg-schema: ${config.pgSchema} is not a lower-case identifier ([a-z_][a-z0-9_]*)`,
    );
  }
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    throw new RangeError("Invalid TLS settings: give both --tls-cert and --tls-key, or neither");
  }
  if (config.heartbeatMs >= config.idleTimeoutMs) {
    throw new RangeError(
      `Invalid --heartbeat-ms: ${config.heartbeatMs} must be below --idle-timeout-ms ${config.idleTimeoutMs}`,
    );
  }
  const ports = [config.tcpPort, config.httpPort, ...(config.tlsCert ? [config.tlsPort] : [])];
  if (new Set(ports).size !== ports.length) {
    throw new RangeError(
      `Invalid ports: TCP, HTTP and TLS ports must differ (${ports.join(", ")})`,
    );
  }
  return config;
}

function parseServices(text: string): Service[] {
  if (text === "none") return [];
  const names = text.split(",").map((name) => name.trim());
  for (const name of names) {
    if (!(SERVICES as readonly string[]).includes(name)) {
      throw new RangeError(
        `Invalid --services: ${name} is not one of ${SERVICES.join(", ")} (or none)`,
      );
    }
  }
  return [...new Set(names as Service[])];
}

function checkUrl(url: string | undefined, flag: string, protocols: readonly string[]): void {
  if (url === undefined) return;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RangeError(`Invalid --${flag}: ${url} is not a URL`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new RangeError(
      `Invalid --${flag}: ${parsed.protocol} is not one of ${protocols.join(", ")}`,
    );
  }
}
