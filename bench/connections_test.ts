import assert from "node:assert/strict";
import { join } from "node:path";
import { ConnectionClosedError } from "../client/mod.ts";
import { niceStep, rssChart } from "./_conn_chart.ts";
import { split } from "./_conn_fleet.ts";
import { failureReason } from "./conn_generator.ts";
import {
  connectionsParams,
  type ConnectionsResult,
  MAX_PER_GENERATOR,
  PER_DESTINATION,
  planStep,
} from "./connections.ts";
import { parseBenchArgs } from "./main.ts";

const MAIN = new URL("./main.ts", import.meta.url).pathname;

function assertPositive(value: unknown, what: string): void {
  assert.ok(
    typeof value === "number" && Number.isFinite(value) && value > 0,
    `${what} is ${value}, expected a positive finite number`,
  );
}

Deno.test("bench connections --quick exits 0 with positive metrics and no failures", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bench_conn_test_" });
  try {
    const path = join(dir, "results.json");
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", MAIN, "connections", "--quick", "--json", path],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(120_000),
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    assert.match(new TextDecoder().decode(output.stdout), /\| Metric \| flash-im \|/);
    const { suites } = JSON.parse(await Deno.readTextFile(path)) as {
      suites: ConnectionsResult[];
    };
    assert.deepEqual(suites.map((s) => s.suite), ["connections"]);
    const result = suites[0]!;
    assert.equal(result.failures, 0, JSON.stringify(result.steps, null, 2));
    assert.deepEqual(result.metrics.map((m) => m.name), [
      "connect.rate.n300",
      "connect.p50.n300",
      "connect.p99.n300",
      "server.cpu_per_conn.n300",
      "generator.cpu_per_conn.n300",
      "server.rss_per_conn.n300",
      "server.rss.n300",
      "generator.rss_per_conn.n300",
    ]);
    for (const m of result.metrics) {
      assertPositive(m.value, m.name);
      for (const r of m.rounds) assertPositive(r, `${m.name} round`);
      assertPositive(m.baseline?.value, `${m.name} baseline`);
      assertPositive(m.ratio, `${m.name} ratio`);
    }
    for (const step of result.steps) {
      for (const run of [step.flash, step.raw]) {
        assert.equal(run.ok, 300);
        assert.equal(run.failed, 0);
        assert.equal(run.openAfterHold, 300);
        assert.deepEqual(run.failures, {});
        assert.deepEqual(run.dropped, {});
        for (const key of ["connectRate", "serverRssBefore", "serverRssAfter"] as const) {
          assertPositive(run[key], `${run.mode} ${key}`);
        }
      }
    }
    assert.equal(result.chart, undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("planStep() spreads generators and destinations and refuses what cannot fit", () => {
  assert.deepEqual(planStep(10_000, undefined, 20_000), {
    n: 10_000,
    generators: 2,
    spread: PER_DESTINATION,
    host: "0.0.0.0",
  });
  assert.deepEqual(planStep(PER_DESTINATION, undefined, 20_000).spread, 0);
  assert.equal(planStep(300, undefined, 20_000).generators, 1);
  assert.equal(planStep(12_000, 4, 20_000).generators, 4);
  const big = planStep(60_000, undefined, 1_000_000);
  assert.equal(big.generators, 12);
  assert.equal(big.spread, PER_DESTINATION);
  assert.equal(big.host, "0.0.0.0");
  assert.throws(() => planStep(MAX_PER_GENERATOR + 1, 1, 1_000_000), RangeError);
  assert.throws(() => planStep(19_900, undefined, 20_000), /open-files limit is 20000/);
});

Deno.test("connectionsParams() applies quick defaults, then flags", () => {
  assert.deepEqual(connectionsParams({ quick: true }).steps, [300]);
  assert.deepEqual(connectionsParams({ quick: false }).steps, [10_000]);
  const p = connectionsParams({ quick: false, flags: { n: 2000, hold: 0.5, workers: 1 } });
  assert.deepEqual(p.steps, [2000]);
  assert.equal(p.holdSeconds, 0.5);
  assert.equal(p.workers, 1);
  assert.deepEqual(connectionsParams({ quick: true, flags: { steps: [1, 2] } }).steps, [1, 2]);
});

Deno.test("parseBenchArgs() checks the connections flags", () => {
  const args = parseBenchArgs(["connections", "--n", "2000", "--hold", "1.5"]);
  assert.deepEqual(args.flags, { n: 2000, hold: 1.5 });
  assert.deepEqual(parseBenchArgs(["--steps", "2000,5000"]).flags, { steps: [2000, 5000] });
  assert.throws(() => parseBenchArgs(["connections", "--steps", "5000,2000"]), /increasing/);
  assert.throws(() => parseBenchArgs(["connections", "--n", "0"]), /--n: 0/);
  assert.throws(() => parseBenchArgs(["connections", "--n", "1", "--steps", "2"]), /not both/);
  assert.throws(() => parseBenchArgs(["runtime", "--n", "5"]), /applies to suite connections/);
});

Deno.test("split() spreads a total over parts, larger ones first", () => {
  assert.deepEqual(split(10, 3), [4, 3, 3]);
  assert.deepEqual(split(10_000, 2), [5000, 5000]);
  assert.deepEqual(split(1, 2), [1, 0]);
});

Deno.test("failureReason() names the error class, its code and its cause", () => {
  const cause = new Deno.errors.ConnectionRefused("refused");
  const error = new ConnectionClosedError("Cannot connect", 1006, { cause });
  assert.equal(failureReason(error), "ConnectionClosedError(1006) <- ConnectionRefused");
  assert.equal(failureReason(new TypeError("x")), "TypeError");
  assert.equal(failureReason("boom"), "non-error: boom");
});

Deno.test("rssChart() draws one line and legend entry per series", () => {
  assert.equal(niceStep(15_000), 5000);
  assert.equal(niceStep(380), 100);
  const svg = rssChart([
    { label: "a <node>", color: "#00f", points: [{ x: 0, y: 2 ** 20 }, { x: 10, y: 2 ** 21 }] },
    { label: "b", color: "#999", points: [{ x: 0, y: 2 ** 20 }, { x: 10, y: 3 * 2 ** 20 }] },
  ], "t");
  assert.match(svg, /^<svg /);
  assert.equal(svg.match(/<polyline /g)?.length, 2);
  assert.match(svg, /a &lt;node&gt;/);
  assert.throws(() => rssChart([], "t"), RangeError);
});
