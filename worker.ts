/**
 * The application every worker of a node runs: registers the node's actor kinds and
 * starts its listeners. The gateways and IM actors join here as they land.
 *
 * @module
 */

import type { ActorSystem, WorkerContext } from "./runtime/mod.ts";

/** Called once per worker (again after a respawn). */
export function setup(_system: ActorSystem, context: WorkerContext): void {
  context.logger.log("info", "Worker started", { generation: context.generation });
}
