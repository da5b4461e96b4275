/**
 * `deno task bench [suite...] [--quick] [--json PATH]`: runs benchmark suites (all of them
 * without a name), prints a markdown table per suite on stdout (progress on stderr) and
 * writes the results as JSON, by default to `.bench/<suite>-<timestamp>.json`.
 *
 * A suite is registered by name in {@link SUITES}, loaded only when it runs.
 *
 * Exit codes: 0 done, 1 a suite failed, 2 bad usage (unknown suite or flag).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { formatTable, type Suite, type SuiteResult } from "./report.ts";

/** The suites by name, in the order a full run takes them. */
export const SUITES: Readonly<Record<string, () => Promise<Suite>>> = {
  runtime: async () => (await import("./runtime.ts")).runtimeSuite,
};

const USAGE = `Usage: deno task bench [suite...] [--quick] [--json PATH]

  suite         one or more of: ${Object.keys(SUITES).join(", ")} (default: all)
  --quick       small sizes, for a smoke run
  --json PATH   write the results to PATH (default: .bench/<suite>-<timestamp>.json)
  --help        show this help`;

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");

/** What the command line asked for. */
export interface BenchArgs {
  readonly suites: readonly string[];
  readonly quick: boolean;
  readonly json: string | undefined;
  readonly help: boolean;
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
  return {
    suites: positionals.length > 0 ? [...new Set(positionals)] : known,
    quick: values.quick,
    json: values.json,
    help: values.help,
  };
}

function timestamp(date: Date): string {
  return date.toISOString().replace(/:/g, "-").replace(/\.\d+Z$/, "Z");
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
