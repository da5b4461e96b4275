/**
 * The accept loop shared by the TCP and TLS listeners.
 *
 * @module
 */

import type { Logger } from "../runtime/mod.ts";

/** What the loop needs of a listener (`Deno.Listener`, `Deno.TlsListener`). */
export interface Acceptor<C> {
  accept(): Promise<C>;
}

/** Options of {@link acceptLoop}. */
export interface AcceptLoopOptions {
  readonly logger: Logger;
  /** Aborting ends the loop (the caller closes the listener). */
  readonly signal: AbortSignal;
  /** First backoff after a failed accept; doubles up to `maxBackoffMs`. Default 10 ms. */
  readonly minBackoffMs?: number;
  /** Default 1000 ms. */
  readonly maxBackoffMs?: number;
  /** Label for logs, e.g. `tcp` or `tls`. */
  readonly name: string;
}

/**
 * Accepts connections until the signal aborts or the listener is closed. A failed accept
 * (EMFILE when the process is out of file descriptors, ENFILE, ECONNABORTED...) is
 * logged and retried after a growing pause: the server keeps serving the connections it
 * has and accepts again once descriptors free up.
 *
 * @returns how many accepts failed (for tests and metrics).
 */
export async function acceptLoop<C>(
  listener: Acceptor<C>,
  onConnection: (conn: C) => void,
  options: AcceptLoopOptions,
): Promise<{ failures: number }> {
  const min = options.minBackoffMs ?? 10;
  const max = options.maxBackoffMs ?? 1000;
  let backoff = min;
  let failures = 0;
  while (!options.signal.aborted) {
    let conn: C;
    try {
      conn = await listener.accept();
    } catch (error) {
      if (options.signal.aborted || error instanceof Deno.errors.BadResource) break;
      failures++;
      options.logger.log("warn", "Accept failed; backing off", {
        listener: options.name,
        error,
        backoffMs: backoff,
      });
      await new Promise((resolve) => setTimeout(resolve, backoff));
      backoff = Math.min(max, backoff * 2);
      continue;
    }
    backoff = min;
    try {
      onConnection(conn);
    } catch (error) {
      options.logger.log("error", "Connection handler threw", { listener: options.name, error });
    }
  }
  return { failures };
}
