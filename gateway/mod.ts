/**
 * flash-im's gateways: TCP, TLS and WebSocket listeners shared by a node's workers, the
 * connection actor (handshake, heartbeats, rate limits, bounded outbound queues) and the
 * HTTP JSON API.
 *
 * @example
 * ```ts
 * const gateway = new Gateway(system, {
 *   listen: { hostname: "127.0.0.1", tcpPort: 5200, httpPort: 5280 },
 *   verifier: auth,
 *   logger,
 *   http: httpApi({ auth, keys }),
 * });
 * await gateway.start();
 * ```
 *
 * @module
 */

export { acceptLoop, type AcceptLoopOptions, type Acceptor } from "./accept_loop.ts";
export { DEFERRED } from "./connection.ts";
export type {
  ConnectionEntry,
  ConnectionLimits,
  ConnectionMessage,
  Identity,
  NotifyHandler,
  RequestHandler,
  TokenRefusal,
  TokenVerifier,
} from "./connection.ts";
export { Backlog, type FrameSocket, type SocketEvents } from "./frame_socket.ts";
export {
  DEFAULT_LIMITS,
  Gateway,
  type GatewayOptions,
  type GatewayStats,
  type HttpClient,
  jsonError,
  type ListenOptions,
} from "./gateway.ts";
export { httpApi, type HttpApiDeps, MAX_JSON_BODY } from "./http_api.ts";
export {
  firstHttpHandler,
  httpChatApi,
  type HttpChatApiDeps,
  type HttpHandler,
} from "./http_chat_api.ts";
export {
  formatHistogram,
  type HistogramMetric,
  type HistogramValues,
  httpMetrics,
  type HttpMetricsOptions,
} from "./http_metrics.ts";
export { connWriter, Outbound, type OutboundLimits, type WriteAll } from "./outbound.ts";
export { TokenBucket } from "./token_bucket.ts";
