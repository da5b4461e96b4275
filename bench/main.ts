/**
 * `deno task bench [suite...] [--quick] [--json PATH] [suite flags]`: runs benchmark suites
 * (all of them without a name), prints a markdown table per suite on stdout (progress on
 * stderr) and writes the results as JSON, by default to `.bench/<suite>-<timestamp>.json`.
 *
 * A suite is registered by name in {@link SUITES}, loaded only when it runs. Flags of one
 * suite only (`--n`, `--steps`, ...) are listed in {@link SUITE_FLAGS} and checked here.
 *
 * Exit codes: 0 done, 1 a suite failed, 2 bad usage (unknown suite or flag).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { formatTable, type Suite, type SuiteFlags, type SuiteResult, timestamp } from "./report.ts";
import { checkClusterFlags } from "./_cluster_plan.ts";

/** The suites by name, in the order a full run takes them. */
export const SUITES: Readonly<Record<string, () => Promise<Suite>>> = {
  runtime: async () => (await import("./runtime.ts")).runtimeSuite,
  connections: async () => (await import("./connections.ts")).connectionsSuite,
  messages: async () => (await import("./messages.ts")).messagesSuite,
};

/** The shape of a suite flag's value. */
type FlagKind = "int" | "ints" | "seconds" | "url";

/** Flags of some suites only: the suites they belong to, the value's shape, the help line. */
export const SUITE_FLAGS: Readonly<
  Record<keyof SuiteFlags, { suite: string | readonly string[]; kind: FlagKind; help: string }>
> = {
  n: { suite: "connections", kind: "int", help: "connections to open (default 10000)" },
  steps: {
    suite: "connections",
    kind: "ints",
    help: "several connection counts, e.g. 2000,5000,10000 (draws an SVG chart)",
  },
  hold: { suite: "connections", kind: "seconds", help: "seconds to hold them (default 5)" },
  generators: {
    suite: "connections",
    kind: "int",
    help: "generator processes (default ceil(N / 5000); at most 15000 sockets each)",
  },
  workers: { suite: "connections", kind: "int", help: "node worker threads (default: cores)" },
  concurrency: {
    suite: "connections",
    kind: "int",
    help: "connects in flight per generator (default 200)",
  },
  postgres: {
    suite: ["messages", "connections"],
    kind: "url",
    help: "also run a node on this PostgreSQL (env FLASH_BENCH_POSTGRES_URL; needs --redis); " +
      "with --nodes the cluster's too",
  },
  redis: {
    suite: ["messages", "connections"],
    kind: "url",
    help: "... and this Redis (env FLASH_BENCH_REDIS_URL); fresh schema/prefix, dropped after",
  },
  nodes: {
    suite: ["connections", "messages"],
    kind: "int",
    help: "also run a cluster of K nodes on this machine (see below)",
  },
  nats: {
    suite: ["connections", "messages"],
    kind: "url",
    help: "the cluster's NATS (default nats://127.0.0.1:4222)",
  },
};

const USAGE = `Usage: deno task bench [suite...] [--quick] [--json PATH] [suite flags]

  suite         one or more of: ${Object.keys(SUITES).join(", ")} (default: all)
  --quick       small sizes, for a smoke run
  --json PATH   write the results to PATH (default: .bench/<suite>-<timestamp>.json)
  --help        show this help
${
  Object.entries(SUITE_FLAGS).map(([flag, f]) =>
    `  ${`--${flag}`.padEnd(14)}${[f.suite].flat().join(", ")}: ${f.help}`
  ).join("\n")
}

  messages runs the node on the embedded store; with --postgres and --redis (or both env
  variables) a second node on those servers runs too and the table compares the two.
  Without --nodes the local default servers are never tried on their own.

  --nodes K starts K cluster nodes (one process each) on one fresh Postgres schema, Redis
  prefix and NATS cluster name, all dropped after; Postgres/Redis from --postgres/--redis
  (which connections then accepts too), else the env variables, else the local defaults
  postgres://postgres@127.0.0.1:5432/postgres and redis://127.0.0.1:6379. connections
  spreads its clients round robin over the nodes (e.g. --nodes 6 --workers 1 --n 100000:
  one process holds at most its open-files limit); messages picks pairs whose sender,
  recipient and conversation owner sit on three different nodes. Both print the cluster
  beside the single node in a second table.`;

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");

/** What the command line asked for. */
export interface BenchArgs {
  readonly suites: readonly string[];
  readonly quick: boolean;
  readonly json: string | undefined;
  readonly help: boolean;
  readonly flags: SuiteFlags;
}

function parseFlag(flag: string, kind: FlagKind, text: string): unknown {
  if (kind === "url") {
    if (!URL.canParse(text)) throw new RangeError(`Invalid --${flag}: ${text} is not a URL`);
    return text;
  }
  const int = (part: string) => {
    const n = Number(part);
    if (part.trim() === "" || !Number.isSafeInteger(n) || n < 1) {
      throw new RangeError(`Invalid --${flag}: ${part} is not an integer >= 1`);
    }
    return n;
  };
  if (kind === "int") return int(text);
  if (kind === "ints") {
    const values = text.split(",").map(int);
    if (values.some((v, i) => i > 0 && v <= values[i - 1]!)) {
      throw new RangeError(`Invalid --${flag}: ${text} is not in increasing order`);
    }
    return values;
  }
  const seconds = Number(text);
  if (text.trim() === "" || !(seconds >= 0 && seconds <= 3600)) {
    throw new RangeError(`Invalid --${flag}: ${text} is not a number of seconds in 0..3600`);
  }
  return seconds;
}

/**
 * Parses the command line.
 *
 * @throws {TypeError} on an unknown flag or suite (the message lists the known suites).
 */
export function parseBenchArgs(args: readonly string[]): BenchArgs {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: {
      quick: { type: "boolean", default: false },
      json: { type: "string" },
      help: { type: "boolean", default: false },
      ...Object.fromEntries(
        Object.keys(SUITE_FLAGS).map((flag) => [flag, { type: "string" as const }]),
      ),
    },
    allowPositionals: true,
  });
  const known = Object.keys(SUITES);
  const unknown = positionals.filter((name) => !Object.hasOwn(SUITES, name));
  if (unknown.length > 0) {
    throw new TypeError(
      `Unknown suite ${unknown.map((n) => JSON.stringify(n)).join(", ")}; ` +
        `known suites: ${known.join(", ")}`,
    );
  }
  const suites = positionals.length > 0 ? [...new Set(positionals)] : known;
  const flags: Record<string, unknown> = {};
  for (const [flag, spec] of Object.entries(SUITE_FLAGS)) {
    const text = (values as Record<string, unknown>)[flag];
    if (typeof text !== "string") continue;
    const owners = [spec.suite].flat();
    if (!owners.some((suite) => suites.includes(suite))) {
      throw new TypeError(
        `Flag --${flag} applies to suite ${owners.join(" or ")}, which is not run`,
      );
    }
    flags[flag] = parseFlag(flag, spec.kind, text);
  }
  if (flags.n !== undefined && flags.steps !== undefined) {
    throw new TypeError("Give --n or --steps, not both");
  }
  checkClusterFlags(flags, suites);
  return {
    suites,
    quick: values.quick as boolean,
    json: values.json as string | undefined,
    help: values.help as boolean,
    flags: flags as SuiteFlags,
  };
}

async function writeJson(path: string, data: unknown): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  await Deno.writeTextFile(path, JSON.stringify(data, null, 2) + "\n");
}

async function main(args: readonly string[]): Promise<number> {
  let parsed: BenchArgs;
  try {
    parsed = parseBenchArgs(args);
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : error}\n\n${USAGE}`);
    return 2;
  }
  if (parsed.help) {
    console.log(USAGE);
    return 0;
  }
  const results: SuiteResult[] = [];
  for (const name of parsed.suites) {
    const suite = await SUITES[name]!();
    console.error(`[bench] ${suite.name}: ${suite.description}`);
    let result: SuiteResult;
    try {
      result = await suite.run({
        quick: parsed.quick,
        flags: parsed.flags,
        progress: (line) => console.error(`[bench] ${suite.name}: ${line}`),
      });
    } catch (error) {
      console.error(`[bench] suite ${name} failed:`, error);
      return 1;
    }
    results.push(result);
    console.log(formatTable(result) + "\n");
    if (parsed.json === undefined) {
      const path = join(REPO, ".bench", `${name}-${timestamp(new Date(result.startedAt))}.json`);
      await writeJson(path, result);
      console.error(`[bench] ${name}: results written to ${path}`);
    }
  }
  if (parsed.json !== undefined) {
    await writeJson(parsed.json, { suites: results });
    console.error(`[bench] results written to ${parsed.json}`);
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
