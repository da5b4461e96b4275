/**
 * A node whose workers always fail in setup: the host must give up past its restart
 * intensity and exit the process non-zero with a clear message on stderr.
 */
import { jsonLogger } from "../logger.ts";
import { NodeHost } from "../node_host.ts";

await NodeHost.start({
  app: new URL("./test_app.ts", import.meta.url),
  workers: 1,
  config: { failSetup: true },
  restart: { maxRestarts: 2, withinMs: 60_000, minBackoffMs: 10, maxBackoffMs: 20 },
  logger: jsonLogger((line) => console.error(line)),
});
