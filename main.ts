/**
 * flash-im's entry point: the only place that reads flags and environment and wires the
 * layers together. `deno task start` runs one node on the embedded default.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { jsonLogger, NodeHost } from "./runtime/mod.ts";

/** Start-up configuration, validated before anything starts. */
export interface NodeConfig {
  readonly workers: number;
  readonly logLevel: "debug" | "info" | "warn" | "error";
}

const USAGE = `Usage: deno task start [--workers N] [--log-level debug|info|warn|error]

  --workers N     worker threads (default: number of cores; env FLASH_WORKERS)
  --log-level L   minimum log level (default: info; env FLASH_LOG_LEVEL)
  --help          show this help`;

/**
 * Parses flags (falling back to environment variables) into a validated config.
 *
 * @throws {RangeError} with a message naming the bad value.
 */
export function parseConfig(args: string[], env: (name: string) => string | undefined): NodeConfig {
  const { values } = parseArgs({
    args,
    options: {
      workers: { type: "string" },
      "log-level": { type: "string" },
      help: { type: "boolean" },
    },
    strict: true,
  });
  if (values.help) throw new HelpRequested();
  const workersText = values.workers ?? env("FLASH_WORKERS");
  const workers = workersText === undefined ? navigator.hardwareConcurrency : Number(workersText);
  if (!(Number.isInteger(workers) && workers >= 1 && workers <= 256)) {
    throw new RangeError(`Invalid --workers: ${workersText} is not an integer in 1..256`);
  }
  const logLevel = values["log-level"] ?? env("FLASH_LOG_LEVEL") ?? "info";
  if (!["debug", "info", "warn", "error"].includes(logLevel)) {
    throw new RangeError(`Invalid --log-level: ${logLevel} is not one of debug, info, warn, error`);
  }
  return { workers, logLevel: logLevel as NodeConfig["logLevel"] };
}

class HelpRequested extends Error {
  override name = "HelpRequested";
}

async function main(): Promise<void> {
  let config: NodeConfig;
  try {
    config = parseConfig(Deno.args, (name) => Deno.env.get(name));
  } catch (error) {
    if (error instanceof HelpRequested) {
      console.log(USAGE);
      Deno.exit(0);
    }
    console.error(`flash-im: ${error instanceof Error ? error.message : error}\n\n${USAGE}`);
    Deno.exit(2);
  }
  const logger = jsonLogger((line) => console.error(line), { minLevel: config.logLevel });
  const host = await NodeHost.start({
    app: new URL("./worker.ts", import.meta.url),
    workers: config.workers,
    config,
    logger,
    log: (line) => console.error(line),
    onFatal: (error) => {
      console.error(`flash-im: fatal: ${error.message}`);
      Deno.exit(1);
    },
  });
  const stop = async (signal: string) => {
    logger.log("info", "Shutting down", { signal });
    await host.shutdown({ timeoutMs: 10_000 });
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
  Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
  // Printed only once the signal handlers are in place: "running" means stoppable.
  console.log(`flash-im node ${host.node} running with ${host.workers} workers (Ctrl-C stops it)`);
}

if (import.meta.main) await main();
