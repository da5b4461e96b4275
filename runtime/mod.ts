/**
 * flash-im's actor runtime: typed actors with bounded mailboxes, supervision, virtual
 * actors with activation and passivation, placement, and a node of Deno workers joined
 * by a `MessagePort` mesh. It knows nothing about instant messaging.
 *
 * @example
 * ```ts
 * import { ActorSystem, virtualRef } from "./mod.ts";
 * const system = new ActorSystem();
 * system.register<{ add: number }>("counter", {
 *   virtual: true,
 *   create: () => {
 *     let total = 0;
 *     return { receive: (m) => (total += m.add) };
 *   },
 * });
 * const total = await system.ask<number>(virtualRef("counter", "a"), { add: 2 }, { timeoutMs: 1000 });
 * ```
 *
 * @module
 */

export type {
  Actor,
  ActorContext,
  AskOptions,
  KindOptions,
  OverflowInfo,
  OverflowPolicy,
  StopReason,
  Undelivered,
} from "./actor.ts";
export { Delivery } from "./actor.ts";
export { ActorSystem, type ActorSystemOptions, type Escalation } from "./actor_system.ts";
export {
  DEFAULT_RESTART_POLICY,
  type RestartDecision,
  type RestartPolicy,
  restartPolicy,
  RestartTracker,
} from "./backoff.ts";
export { type Clock, FakeClock, systemClock, type TimerHandle } from "./clock.ts";
export { clusterLocator, type PlacementNode, type PlacementView } from "./cluster_placement.ts";
export {
  type ClusterMember,
  type ClusterView,
  clusterViewId,
  DEFAULT_STABILIZE_MS,
} from "./cluster_view.ts";
export {
  DEFAULT_HEARTBEAT_MS,
  deleteMembershipRegistry,
  Membership,
  type MembershipOptions,
} from "./membership.ts";
export {
  type ServiceBus,
  type ServiceCallOptions,
  type ServiceHandler,
  serviceSubject,
} from "./service_bus.ts";
export { LocalServiceBus, type LocalServiceBusOptions } from "./service_bus_local.ts";
export {
  NatsServiceBus,
  type NatsServiceBusOptions,
  type NatsServiceBusStats,
} from "./service_bus_nats.ts";
export { remotePort, servePort } from "./service_port.ts";
export {
  NatsTransport,
  type NatsTransportOptions,
  type NatsTransportStats,
  workerSubject,
} from "./nats_transport.ts";
export type { Envelope, Reply, ReplyTo, WireMessage } from "./envelope.ts";
export {
  ActorFailedError,
  AskTimeoutError,
  DeadLetterError,
  type ErrorData,
  fromErrorData,
  MailboxFullError,
  NotOwnerError,
  ServiceBusyError,
  ServiceTimeoutError,
  ServiceUnavailableError,
  ShutdownError,
  toErrorData,
} from "./errors.ts";
export { jsonLogger, type LogFields, type Logger, LogLevel, nullLogger } from "./logger.ts";
export { Mailbox } from "./mailbox.ts";
export { type CounterName, COUNTERS, mergeMetrics, type MetricsSnapshot } from "./metrics.ts";
export { NodeHost, type NodeHostOptions, type WorkerApp, type WorkerContext } from "./node_host.ts";
export {
  DEFAULT_SHARDS,
  fnv1a32,
  type Member,
  Placement,
  rendezvous,
  shardOf,
} from "./placement.ts";
export {
  type ActorRef,
  type BoundRef,
  isBound,
  type Location,
  refEquals,
  refKey,
  type VirtualRef,
  virtualRef,
} from "./ref.ts";
export { TimerWheel } from "./timer_wheel.ts";
export { routeByNode, type Transport, type TransportSink } from "./transport.ts";
export { type PortLike, WorkerMesh } from "./worker_mesh.ts";
