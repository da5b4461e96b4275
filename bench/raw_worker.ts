/**
 * A bare worker for the raw baselines of the runtime suite: no actor system, only
 * `postMessage`. Roles, chosen by the first message:
 *
 * - `echo`: posts every message from the main thread straight back (ping-pong latency);
 * - `peer`: holds one end of a `MessageChannel` to another raw worker. On `send` it posts
 *   `n` small objects over the port in arrays of `batch`, then an end marker; on the end
 *   marker the receiving side reports how many objects it counted to the main thread.
 *
 * @module
 */

/** Main thread -> raw worker. */
export type RawCommand =
  | { readonly t: "echo" }
  | { readonly t: "peer"; readonly port: MessagePort }
  | { readonly t: "send"; readonly n: number; readonly batch: number }
  | { readonly t: "ping"; readonly seq: number };

/** Raw worker -> main thread. */
export type RawEvent =
  | { readonly t: "ready" }
  | { readonly t: "counted"; readonly n: number }
  | { readonly t: "ping"; readonly seq: number };

/** The same small body the runtime suite's source actor sends. */
export interface Hit {
  readonly type: "hit";
  readonly seq: number;
}

/** What crosses the peer port: a batch of hits or the end marker. */
type PeerData = readonly Hit[] | { readonly t: "end" };

// Typed by hand: a `lib="deno.worker"` reference would break other modules' types.
interface WorkerScope {
  postMessage(message: unknown): void;
  onmessage: ((event: MessageEvent) => void) | null;
}

function start(scope: WorkerScope): void {
  let port: MessagePort | undefined;
  let counted = 0;
  const post = (event: RawEvent) => scope.postMessage(event);
  scope.onmessage = (event) => {
    const command = event.data as RawCommand;
    switch (command.t) {
      case "echo":
        scope.onmessage = (e) => scope.postMessage(e.data);
        post({ t: "ready" });
        break;
      case "peer":
        port = command.port;
        port.onmessage = (e) => {
          const data = e.data as PeerData;
          if (Array.isArray(data)) {
            for (const hit of data as readonly Hit[]) if (hit.type === "hit") counted++;
          } else {
            post({ t: "counted", n: counted });
            counted = 0;
          }
        };
        post({ t: "ready" });
        break;
      case "send": {
        const { n, batch } = command;
        let out: Hit[] = [];
        for (let seq = 0; seq < n; seq++) {
          out.push({ type: "hit", seq });
          if (out.length === batch) {
            port!.postMessage(out);
            out = [];
          }
        }
        if (out.length > 0) port!.postMessage(out);
        port!.postMessage({ t: "end" });
        break;
      }
    }
  };
}

if ("WorkerGlobalScope" in globalThis) start(globalThis as unknown as WorkerScope);
