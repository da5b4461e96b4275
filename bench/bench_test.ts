import assert from "node:assert/strict";
import { join } from "node:path";
import { parseBenchArgs } from "./main.ts";
import {
  formatTable,
  machineInfo,
  median,
  metric,
  percentile,
  type SuiteResult,
} from "./report.ts";

const MAIN = new URL("./main.ts", import.meta.url).pathname;

async function bench(args: string[]): Promise<Deno.CommandOutput> {
  return await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
}

function assertPositive(value: unknown, what: string): void {
  assert.ok(
    typeof value === "number" && Number.isFinite(value) && value > 0,
    `${what} is ${value}, expected a positive finite number`,
  );
}

Deno.test("bench runtime --quick exits 0 and writes every metric as a positive number", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bench_test_" });
  try {
    const path = join(dir, "results.json");
    const output = await bench(["runtime", "--quick", "--json", path]);
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    assert.match(new TextDecoder().decode(output.stdout), /\| Metric \| flash-im \|/);
    const { suites } = JSON.parse(await Deno.readTextFile(path)) as { suites: SuiteResult[] };
    assert.deepEqual(suites.map((s) => s.suite), ["runtime"]);
    const names = suites[0]!.metrics.map((m) => m.name);
    assert.deepEqual(names, [
      "tell.throughput",
      "activation.cost",
      "ask.local.p50",
      "ask.local.p99",
      "mesh.throughput",
      "ask.remote.p50",
      "ask.remote.p99",
      "heap.per_actor",
    ]);
    for (const m of suites[0]!.metrics) {
      assertPositive(m.value, m.name);
      assert.ok(m.rounds.length > 0, `${m.name} has no rounds`);
      for (const r of m.rounds) assertPositive(r, `${m.name} round`);
      assertPositive(m.baseline?.value, `${m.name} baseline`);
      assertPositive(m.ratio, `${m.name} ratio`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bench exits 2 on an unknown suite and lists the known ones", async () => {
  const output = await bench(["nope"]);
  assert.equal(output.code, 2);
  assert.match(
    new TextDecoder().decode(output.stderr),
    /Unknown suite "nope"; known suites: runtime, connections/,
  );
});

Deno.test("parseBenchArgs() runs every suite by default and rejects unknown flags", () => {
  assert.deepEqual(parseBenchArgs([]).suites, ["runtime", "connections", "messages"]);
  assert.equal(parseBenchArgs(["runtime", "--quick"]).quick, true);
  assert.equal(parseBenchArgs(["--json", "x.json"]).json, "x.json");
  assert.throws(() => parseBenchArgs(["--fast"]), /fast/);
});

Deno.test("median() and percentile() take the middle and nearest-rank values", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  assert.throws(() => median([]), RangeError);
  const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(sorted, 50), 50);
  assert.equal(percentile(sorted, 99), 99);
  assert.equal(percentile([7], 99), 7);
  assert.throws(() => percentile(sorted, 101), RangeError);
});

Deno.test("metric() takes medians, the ratio to the baseline and checks the target", () => {
  const m = metric({
    name: "x",
    label: "x",
    unit: "msgs/s",
    better: "higher",
    rounds: [10, 30, 20],
    baseline: { label: "raw", rounds: [40, 40, 40] },
    target: { on: "ratio", op: ">=", limit: 0.5, text: ">= 50%" },
  });
  assert.equal(m.value, 20);
  assert.equal(m.baseline?.value, 40);
  assert.equal(m.ratio, 0.5);
  assert.equal(m.met, true);
});

Deno.test("parseBenchArgs() takes --postgres and --redis URLs for the messages suite only", () => {
  const args = parseBenchArgs([
    "messages",
    "--postgres",
    "postgres://h/db",
    "--redis",
    "redis://h",
  ]);
  assert.deepEqual(args.flags, { postgres: "postgres://h/db", redis: "redis://h" });
  assert.throws(() => parseBenchArgs(["messages", "--postgres", "not a url"]), RangeError);
  assert.throws(() => parseBenchArgs(["runtime", "--redis", "redis://h"]), /messages/);
});

Deno.test("metric() and formatTable() put an alternate setup beside the primary, with its ratio", () => {
  const m = metric({
    name: "x",
    label: "Acked",
    unit: "msgs/s",
    better: "higher",
    rounds: [100],
    baseline: { label: "raw", rounds: [400] },
    target: { on: "value", op: ">=", limit: 60, text: ">= 60" },
    alternate: [50],
  });
  assert.deepEqual(m.alternate, { value: 50, rounds: [50], ratio: 0.5, met: false });
  const result: SuiteResult = {
    suite: "s",
    startedAt: new Date(0).toISOString(),
    durationMs: 1,
    quick: true,
    machine: machineInfo(),
    params: {},
    metrics: [m],
    notes: [],
    setups: { primary: "embedded", alternate: "real" },
  };
  const table = formatTable(result);
  assert.match(table, /\| Metric \| flash-im, embedded \| flash-im, real \| real \/ embedded \|/);
  assert.match(
    table,
    /\| Acked \| 100 msgs\/s \| 50\.0 msgs\/s \| 0\.50x \| 400 msgs\/s \(raw\) \| 0\.25x \| >= 60 \| yes \/ NO \|/,
  );
  assert.match(
    formatTable({ ...result, setups: undefined }),
    /\| Metric \| flash-im \| Raw baseline \|/,
  );
});
