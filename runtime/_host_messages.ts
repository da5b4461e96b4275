/**
 * Control messages between a node's main thread and its workers (mesh batches travel
 * on the same ports, tagged `t: "m"`).
 *
 * @module
 */

import type { PlacementView } from "./cluster_placement.ts";
import type { MetricsSnapshot } from "./metrics.ts";

/** Main thread -> worker. */
export type ToWorker =
  | {
    readonly t: "init";
    readonly node: string;
    readonly worker: number;
    readonly workers: number;
    readonly generation: number;
    readonly app: string;
    readonly config: unknown;
    readonly shards: number | undefined;
    /** Kinds placed on the main thread (see `NodeHostOptions.mainKinds`). */
    readonly mainKinds: readonly string[];
    readonly cloneLocal: boolean;
    readonly peers: readonly (readonly [number, MessagePort])[];
    /** The cluster view to place actors by; absent on a lone node. */
    readonly view: PlacementView | undefined;
  }
  | { readonly t: "view"; readonly view: PlacementView }
  | { readonly t: "peer"; readonly worker: number; readonly port: MessagePort }
  | { readonly t: "metrics"; readonly id: number }
  | { readonly t: "shutdown"; readonly timeoutMs: number };

/** Worker -> main thread. */
export type FromWorker =
  | { readonly t: "ready" }
  | { readonly t: "log"; readonly line: string }
  | { readonly t: "fatal"; readonly message: string }
  | { readonly t: "metrics"; readonly id: number; readonly snapshot: MetricsSnapshot }
  | { readonly t: "closed" };
