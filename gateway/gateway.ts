/**
 * The gateway of one worker: the TCP and TLS listeners and the HTTP server (WebSocket and
 * JSON API), all shared by every worker of the node through `reusePort`; the registry of
 * this worker's connections; and the sweep that enforces auth deadlines, heartbeats and
 * idle timeouts without one timer per connection.
 *
 * @module
 */

import {
  CloseCode,
  DEFAULT_AUTH_TIMEOUT_MS,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_FRAME,
  ErrorCode,
  FrameKind,
  u64,
} from "../protocol/mod.ts";
import { type ActorSystem, type Logger, TimerWheel } from "../runtime/mod.ts";
import { acceptLoop } from "./accept_loop.ts";
import {
  type ConnectionDeps,
  type ConnectionEntry,
  type ConnectionInit,
  type ConnectionLimits,
  type ConnectionMessage,
  createConnection,
  type NotifyHandler,
  type RequestHandler,
  type TokenVerifier,
} from "./connection.ts";
import {
  type FrameSocket,
  type FrameSocketOptions,
  StreamFrameSocket,
  WebSocketFrameSocket,
} from "./frame_socket.ts";
import type { OutboundLimits } from "./outbound.ts";

/** Where the gateway listens. Ports are shared by all workers (`reusePort`). */
export interface ListenOptions {
  readonly hostname: string;
  readonly tcpPort: number;
  readonly httpPort: number;
  /** TLS listener, when a certificate and key are configured. */
  readonly tls?: { readonly port: number; readonly cert: string; readonly key: string };
}

/** Options of a {@link Gateway}. */
export interface GatewayOptions {
  readonly listen: ListenOptions;
  readonly limits?: Partial<ConnectionLimits>;
  readonly outbound?: OutboundLimits;
  readonly readBufferBytes?: number;
  readonly verifier: TokenVerifier;
  readonly logger: Logger;
  readonly handleRequest?: RequestHandler;
  readonly handleNotify?: NotifyHandler;
  /**
   * Whether a handler's failure is a backend outage (answered `Unavailable` / HTTP 503, a
   * temporary error) rather than a bug (`Internal` / 500). Default: never.
   */
  readonly unavailable?: (error: unknown) => boolean;
  /** Told when a connection has authenticated and when it has closed (sessions, presence). */
  readonly onAuthenticated?: (entry: ConnectionEntry) => void;
  readonly onClosed?: (entry: ConnectionEntry) => void;
  /** Extra HTTP routes (the JSON API); `undefined` means not found. */
  readonly http?: (
    request: Request,
    client: HttpClient,
  ) => Promise<Response | undefined> | Response | undefined;
  /**
   * Sweep granularity for deadlines and heartbeats. Default: a quarter of the shortest
   * timeout, between 50 ms and 1 s (a deadline fires at most two sweeps late).
   */
  readonly sweepMs?: number;
}

/** Defaults of {@link ConnectionLimits}. */
export const DEFAULT_LIMITS: ConnectionLimits = {
  authTimeoutMs: DEFAULT_AUTH_TIMEOUT_MS,
  idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS,
  heartbeatIntervalMs: DEFAULT_HEARTBEAT_INTERVAL_MS,
  maxFrameSize: DEFAULT_MAX_FRAME,
  ratePerSec: 200,
  rateBurst: 400,
  floodStrikes: 20,
};

/** Counters of one gateway. */
export interface GatewayStats {
  accepted: number;
  open: number;
  authenticated: number;
  acceptFailures: number;
}

/**
 * Runs this worker's listeners and connections.
 *
 * @example
 * ```ts
 * const gateway = new Gateway(system, { listen, verifier: auth, logger });
 * await gateway.start();
 * // ...
 * await gateway.stop();
 * ```
 */
export class Gateway {
  readonly limits: ConnectionLimits;
  readonly stats: GatewayStats = { accepted: 0, open: 0, authenticated: 0, acceptFailures: 0 };
  readonly #system: ActorSystem;
  readonly #options: GatewayOptions;
  /** Keyed by the entry itself: no per-connection key string. */
  readonly #connections = new Set<ConnectionEntry>();
  readonly #wheel: TimerWheel<ConnectionEntry>;
  readonly #abort = new AbortController();
  readonly #deps: ConnectionDeps;
  readonly #socketOptions: FrameSocketOptions;
  #listeners: (Deno.Listener | Deno.TlsListener)[] = [];
  #loops: Promise<unknown>[] = [];
  #http: Deno.HttpServer | undefined;
  #sweepTimer: ReturnType<typeof setInterval> | undefined;
  #pingSeq = 0;
  readonly #sweepMs: number;
  #stopping = false;

  constructor(system: ActorSystem, options: GatewayOptions) {
    this.#system = system;
    this.#options = options;
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    validateLimits(this.limits);
    this.#sweepMs = options.sweepMs ?? defaultSweepMs(this.limits);
    this.#wheel = new TimerWheel({ tickMs: this.#sweepMs });
    const now = () => Date.now();
    this.#socketOptions = {
      maxFrameSize: this.limits.maxFrameSize,
      outbound: options.outbound,
      readBufferBytes: options.readBufferBytes,
      now,
    };
    this.#deps = {
      verifier: options.verifier,
      limits: this.limits,
      logger: options.logger,
      now,
      handleRequest: options.handleRequest,
      handleNotify: options.handleNotify,
      unavailable: options.unavailable,
      opened: (entry) => {
        this.#connections.add(entry);
        this.stats.open++;
        this.#wheel.schedule(entry, entry.acceptedAt + this.limits.authTimeoutMs);
      },
      authenticated: (entry) => {
        this.stats.authenticated++;
        options.onAuthenticated?.(entry);
      },
      closed: (entry) => {
        if (!this.#connections.delete(entry)) return;
        this.stats.open--;
        if (entry.identity !== undefined) options.onClosed?.(entry);
      },
    };
    system.register<ConnectionMessage>("conn", {
      temporary: true,
      capacity: 1024,
      create: createConnection,
    });
  }

  /** The connections of this worker (for kicks and tests). */
  connections(): IterableIterator<ConnectionEntry> {
    return this.#connections.values();
  }

  /**
   * Closes this worker's connections of login session `sessionId` with the `Revoked` close
   * code (after a logout or a detected refresh-token theft); resolves to how many. A scan:
   * revocations are rare, and an index per session would cost every connection.
   */
  closeSession(sessionId: string, reason = "session revoked"): number {
    let closed = 0;
    for (const entry of this.#connections) {
      if (entry.identity?.sessionId !== sessionId || entry.closed) continue;
      closed++;
      this.#system.tell(
        entry.ref,
        {
          type: "close",
          code: CloseCode.Revoked,
          errorCode: ErrorCode.AuthTokenRevoked,
          reason,
        } satisfies ConnectionMessage,
      );
    }
    return closed;
  }

  /** The connections that have authenticated and are not closed (a snapshot). */
  authenticated(): ConnectionEntry[] {
    return [...this.#connections].filter((entry) => entry.identity !== undefined && !entry.closed);
  }

  /** Opens the listeners. Rejects if a port cannot be bound. */
  start(): Promise<void> {
    const { listen } = this.#options;
    const signal = this.#abort.signal;
    const logger = this.#options.logger;
    const tcp = Deno.listen({ hostname: listen.hostname, port: listen.tcpPort, reusePort: true });
    this.#listeners.push(tcp);
    this.#loops.push(this.#accept(tcp, "tcp"));
    if (listen.tls) {
      const tls = Deno.listenTls(
        {
          hostname: listen.hostname,
          port: listen.tls.port,
          cert: listen.tls.cert,
          key: listen.tls.key,
          reusePort: true,
        } as Deno.ListenTlsOptions & Deno.TlsCertifiedKeyPem,
      );
      this.#listeners.push(tls);
      this.#loops.push(this.#accept(tls, "tls"));
    }
    this.#http = Deno.serve({
      hostname: listen.hostname,
      port: listen.httpPort,
      reusePort: true,
      signal,
      onListen: () => {},
      onError: (error) => {
        if (this.#options.unavailable?.(error)) {
          logger.log("warn", "HTTP request failed: a backend is unavailable", { error });
          const response = jsonError(
            503,
            "unavailable",
            "A server dependency (store or cache) is unavailable; retry shortly",
          );
          response.headers.set("retry-after", "1");
          return response;
        }
        logger.log("error", "HTTP handler failed", { error });
        return jsonError(500, "internal", "Internal server error");
      },
    }, (request, info) => this.#serveHttp(request, info));
    this.#sweepTimer = setInterval(() => this.sweep(), this.#sweepMs);
    return Promise.resolve();
  }

  /**
   * Stops accepting, tells every client the server is shutting down (close code
   * ServerShutdown), waits up to `drainMs` for queued frames to leave, and closes.
   */
  async stop(options: { drainMs?: number } = {}): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#abort.abort();
    for (const listener of this.#listeners) {
      try {
        listener.close();
      } catch {
        // Already closed.
      }
    }
    clearInterval(this.#sweepTimer);
    const drainMs = options.drainMs ?? 2000;
    // First let each connection answer what it accepted (refusing anything new), then
    // close whatever is left.
    const deadline = Date.now() + drainMs;
    for (const entry of this.#connections) {
      if (!entry.closed) {
        this.#system.tell(entry.ref, { type: "drain" } satisfies ConnectionMessage);
      }
    }
    while (Date.now() < deadline && [...this.#connections].some((entry) => !entry.closed)) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await Promise.all(
      [...this.#connections.values()].map((entry) =>
        this.#system.ask(
          entry.ref,
          {
            type: "close",
            code: CloseCode.ServerShutdown,
            errorCode: ErrorCode.ShuttingDown,
          } satisfies ConnectionMessage,
          { timeoutMs: drainMs + 1000 },
        ).catch(() => {})
      ),
    );
    await Promise.allSettled(this.#loops);
    await this.#http?.finished;
  }

  /** Enforces deadlines: auth timeout, server PINGs when quiet, idle timeout. */
  sweep(now = Date.now()): void {
    const limits = this.limits;
    for (const entry of this.#wheel.due(now)) {
      if (entry.closed || !this.#connections.has(entry)) continue;
      if (entry.identity === undefined) {
        if (now - entry.acceptedAt >= limits.authTimeoutMs) {
          this.#tellClose(entry, CloseCode.AuthTimeout, ErrorCode.AuthTimeout);
        } else this.#wheel.schedule(entry, entry.acceptedAt + limits.authTimeoutMs);
        continue;
      }
      const quiet = now - entry.socket.lastSeen;
      if (quiet >= limits.idleTimeoutMs) {
        this.#tellClose(entry, CloseCode.IdleTimeout, undefined);
        continue;
      }
      if (quiet >= limits.heartbeatIntervalMs && entry.pingId === 0) {
        entry.pingId = ++this.#pingSeq;
        entry.socket.send({ id: u64(entry.pingId), kind: FrameKind.PING });
      }
      const next = quiet >= limits.heartbeatIntervalMs
        ? entry.socket.lastSeen + limits.idleTimeoutMs
        : entry.socket.lastSeen + limits.heartbeatIntervalMs;
      this.#wheel.schedule(entry, Math.max(next, now + 1));
    }
  }

  #tellClose(entry: ConnectionEntry, code: CloseCode, errorCode: ErrorCode | undefined): void {
    this.#system.tell<ConnectionMessage>(entry.ref, { type: "close", code, errorCode });
  }

  #accept(listener: Deno.Listener | Deno.TlsListener, name: "tcp" | "tls"): Promise<unknown> {
    return acceptLoop(listener, (conn) => {
      this.stats.accepted++;
      // Small frames must leave at once, not wait for Nagle's algorithm.
      (conn as Partial<Deno.TcpConn>).setNoDelay?.(true);
      this.#open(new StreamFrameSocket(conn, name, this.#socketOptions), () => conn.close());
    }, { logger: this.#options.logger, signal: this.#abort.signal, name }).then((r) => {
      this.stats.acceptFailures += r.failures;
    });
  }

  #open(socket: FrameSocket, abandon: () => void): void {
    if (this.#stopping) {
      abandon();
      return;
    }
    try {
      this.#system.spawn("conn", { socket, deps: this.#deps } satisfies ConnectionInit);
    } catch (error) {
      this.#options.logger.log("error", "Cannot start connection actor", { error });
      abandon();
    }
  }

  async #serveHttp(request: Request, info: Deno.ServeHandlerInfo): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/ws") {
      if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        return jsonError(426, "upgrade_required", "GET /ws expects a WebSocket upgrade");
      }
      if (this.#stopping) return jsonError(503, "shutting_down", "Server is shutting down");
      // Deno's own WebSocket idle timer is off: the gateway's heartbeat sweep decides.
      // The peer address must be read before the upgrade: afterwards the request is gone.
      const addr = info.remoteAddr as Deno.NetAddr;
      const { socket: ws, response } = Deno.upgradeWebSocket(request, { idleTimeout: 0 });
      const socket = new WebSocketFrameSocket(
        ws,
        `${addr.hostname}:${addr.port}`,
        this.#socketOptions,
      );
      ws.addEventListener("open", () => {
        this.stats.accepted++;
        this.#open(socket, () => ws.close(CloseCode.ServerShutdown));
      }, { once: true });
      return response;
    }
    if (url.pathname === "/healthz") return Response.json({ status: "ok" });
    if (url.pathname === "/readyz") {
      return this.#stopping
        ? jsonError(503, "shutting_down", "Server is shutting down")
        : Response.json({ status: "ready" });
    }
    const client = { address: (info.remoteAddr as Deno.NetAddr).hostname };
    const routed = await this.#options.http?.(request, client);
    return routed ?? jsonError(404, "not_found", `No route for ${request.method} ${url.pathname}`);
  }
}

/** Who sent an HTTP request (the peer of the TCP connection). */
export interface HttpClient {
  /** The peer's IP address. */
  readonly address: string;
}

/** A JSON error response: `{ "error": { "code": ..., "message": ... } }`. */
export function jsonError(status: number, code: string, message: string): Response {
  return Response.json({ error: { code, message } }, { status });
}

function defaultSweepMs(limits: ConnectionLimits): number {
  const shortest = Math.min(limits.authTimeoutMs, limits.heartbeatIntervalMs, limits.idleTimeoutMs);
  return Math.max(50, Math.min(1000, Math.floor(shortest / 4)));
}

function validateLimits(limits: ConnectionLimits): void {
  for (const [name, value] of Object.entries(limits)) {
    if (!(typeof value === "number" && value > 0 && Number.isFinite(value))) {
      throw new RangeError(`Invalid gateway limit ${name}: ${value} is not a positive number`);
    }
  }
  if (limits.maxFrameSize < 64 || limits.maxFrameSize > 16 * 1024 * 1024) {
    throw new RangeError(
      `Invalid gateway limit maxFrameSize: ${limits.maxFrameSize} is not in 64..16 MiB`,
    );
  }
}
