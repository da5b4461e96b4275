/**
 * The project's one test command: `deno task test` (everything) or `deno task test:unit`.
 *
 * Runs `deno test --allow-all` serially (tests spawn workers and processes on small
 * machines), streams its output live, and ends with one plain line that CI parses:
 * `N passed, N failed` (plus `, N skipped` when tests were ignored). The exit code is
 * deno test's own; a run without deno's closing summary (a crash, a type error) prints
 * `0 passed, 1 failed` and exits non-zero.
 *
 * Usage: `deno run -A tools/test.ts [--unit] [-- <deno test args>]`, e.g.
 * `deno task test -- --filter Mailbox`.
 *
 * - default: every `*_test.ts` deno discovers (deno.json's excludes apply), then the e2e
 *   tests under `tests/` again with `FLASH_TEST_BACKENDS=real` (nodes on Postgres + Redis);
 * - `--unit`: only `*_test.ts` under the unit layers, without `*_integration_test.ts`
 *   (integration, e2e and chaos tests live under `tests/` or carry that suffix).
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** Folders whose tests are fast and need no services. */
const UNIT_DIRS = ["runtime", "protocol", "actors", "services", "gateway", "client", "tools"];
/** Folders never walked when collecting unit tests (mirrors deno.json's excludes). */
const SKIP_DIRS = new Set(["node_modules", "data", ".bench", "coverage", ".git"]);
/** How much of the output tail is kept to find the summary: it is deno's last line. */
const TAIL_CHARS = 16 * 1024;

/** Numbers taken from deno test's closing line. */
export interface Summary {
  passed: number;
  failed: number;
  ignored: number;
}

/**
 * Finds deno test's closing line (`ok | 6 passed (2 steps) | 0 failed | 1 ignored (1s)` or
 * `FAILED | ...`) in `output` and returns its counts, or `undefined` when there is none.
 */
export function parseSummary(output: string): Summary | undefined {
  // deno colours its output even when piped; strip SGR sequences before matching.
  // deno-lint-ignore no-control-regex
  const plain = output.replace(/\x1b\[[0-9;]*m/g, "");
  const lines = plain.split(/\r?\n/).filter((l) => /^(ok|FAILED) \| \d+ passed/.test(l));
  const last = lines.at(-1);
  if (last === undefined) return undefined;
  const count = (word: string) => Number(last.match(new RegExp(`(\\d+) ${word}`))?.[1] ?? 0);
  return { passed: count("passed"), failed: count("failed"), ignored: count("ignored") };
}

/** Formats the plain line CI reads. */
export function formatSummary(s: Summary): string {
  const line = `${s.passed} passed, ${s.failed} failed`;
  return s.ignored > 0 ? `${line}, ${s.ignored} skipped` : line;
}

async function collectUnitTests(root: string): Promise<string[]> {
  const found: string[] = [];
  async function walk(dir: string): Promise<void> {
    for await (const entry of Deno.readDir(join(root, dir))) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory && !SKIP_DIRS.has(entry.name)) await walk(path);
      const isTest = entry.name.endsWith("_test.ts");
      if (entry.isFile && isTest && !entry.name.endsWith("_integration_test.ts")) found.push(path);
    }
  }
  for (const dir of UNIT_DIRS) {
    const stat = await Deno.stat(join(root, dir)).catch(() => undefined);
    if (stat?.isDirectory) await walk(dir);
  }
  return found.sort();
}

async function main(args: string[]): Promise<number> {
  const dash = args.indexOf("--");
  const own = dash === -1 ? args : args.slice(0, dash);
  const extra = dash === -1 ? [] : args.slice(dash + 1);
  const unknown = own.filter((a) => a !== "--unit");
  if (unknown.length > 0) {
    console.error(`Unknown argument ${unknown[0]}: use --unit, and -- before deno test args`);
    return 2;
  }
  const root = fileURLToPath(new URL("..", import.meta.url));
  let paths: string[] = [];
  if (own.includes("--unit")) {
    paths = await collectUnitTests(root);
    if (paths.length === 0) {
      console.log("No unit test files found\n0 passed, 0 failed");
      return 0;
    }
  }

  const runs = [await run(root, [...extra, ...paths], {})];
  // The full run proves the e2e tests on the real backends too: same tests, other flags.
  if (!own.includes("--unit") && extra.length === 0) {
    console.log("\n=== e2e tests again, on Postgres + Redis (FLASH_TEST_BACKENDS=real) ===\n");
    runs.push(await run(root, ["tests/"], { FLASH_TEST_BACKENDS: "real" }));
  }
  const total = { passed: 0, failed: 0, ignored: 0 };
  for (const { summary } of runs) {
    const counts = summary ?? { passed: 0, failed: 1, ignored: 0 };
    total.passed += counts.passed;
    total.failed += counts.failed;
    total.ignored += counts.ignored;
  }
  console.log(`\n${formatSummary(total)}`);
  const failedRun = runs.find(({ code, summary }) => code !== 0 || summary === undefined);
  return failedRun === undefined ? 0 : failedRun.code || 1;
}

/** One `deno test` run, its output streamed; returns its exit code and closing counts. */
async function run(
  root: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; summary: Summary | undefined }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "--allow-all", ...args],
    cwd: root,
    env,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const out = Deno.stdout.writable.getWriter();
  const decoder = new TextDecoder();
  let tail = "";
  for await (const chunk of child.stdout) {
    await out.write(chunk);
    tail = (tail + decoder.decode(chunk, { stream: true })).slice(-TAIL_CHARS);
  }
  out.releaseLock();
  const { code } = await child.status;
  return { code, summary: parseSummary(tail) };
}

if (import.meta.main) Deno.exit(await main(Deno.args));
