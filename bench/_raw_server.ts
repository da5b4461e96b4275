/**
 * Start-up shared by the raw baseline servers the benches run as child processes.
 *
 * @module
 */

import { parseArgs } from "node:util";

/**
 * Listens on `--host`/`--port` (port 0: any), exits on SIGTERM/SIGINT or when the bench
 * closes our stdin (no orphan servers), and prints `listening <port>` for the bench.
 */
export function listenForBench(): Deno.TcpListener {
  const { values } = parseArgs({
    args: Deno.args,
    options: { host: { type: "string", default: "127.0.0.1" }, port: { type: "string" } },
    strict: true,
  });
  const listener = Deno.listen({ hostname: values.host, port: Number(values.port ?? 0) });
  const stop = () => Deno.exit(0);
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  void (async () => {
    const buffer = new Uint8Array(64);
    try {
      while ((await Deno.stdin.read(buffer)) !== null) { /* ignore */ }
    } catch { /* closed */ }
    Deno.exit(0);
  })();
  console.log(`listening ${listener.addr.port}`);
  return listener;
}
