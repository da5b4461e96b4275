import assert from "node:assert/strict";
import { join } from "node:path";
import type { MessagesResult } from "./messages.ts";

const MAIN = new URL("./main.ts", import.meta.url).pathname;

function assertPositive(value: unknown, what: string): void {
  assert.ok(
    typeof value === "number" && Number.isFinite(value) && value > 0,
    `${what} is ${value}, expected a positive finite number`,
  );
}

// Correctness only (exit code, finite metrics, nothing lost), never performance.
Deno.test("bench messages --quick exits 0 with positive metrics and no lost messages", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bench_msg_test_" });
  try {
    const path = join(dir, "results.json");
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", MAIN, "messages", "--quick", "--json", path],
      // The embedded node only, whatever the caller's environment names.
      env: { FLASH_BENCH_POSTGRES_URL: "", FLASH_BENCH_REDIS_URL: "" },
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(180_000),
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    assert.match(new TextDecoder().decode(output.stdout), /\| Metric \| flash-im \|/);
    const { suites } = JSON.parse(await Deno.readTextFile(path)) as {
      suites: MessagesResult[];
    };
    assert.deepEqual(suites.map((s) => s.suite), ["messages"]);
    const result = suites[0]!;
    assert.ok(result.metrics.length > 0);
    for (const m of result.metrics) {
      assertPositive(m.value, m.name);
      // Rows per commit are flash-im's own: the raw relay stores nothing.
      if (m.name.includes(".batch_")) continue;
      assertPositive(m.baseline?.value, `${m.name} baseline`);
      assertPositive(m.ratio, `${m.name} ratio`);
    }
    // The node's GET /metrics answered with the write histogram, from every worker.
    const batches = result.flash.batches;
    assert.ok(batches, "no rows-per-commit figures");
    assert.equal(batches.workersSeen, result.params.workers);
    for (const phase of [batches.saturate, batches.rate]) {
      assertPositive(phase.writes, "writes");
      assert.ok(phase.items >= phase.writes && phase.p90 >= phase.p50 && phase.p50 >= 1);
    }
    assert.equal(result.real, undefined, "a real-backend node ran without being asked for");
    for (const [server, run] of Object.entries({ flash: result.flash, raw: result.raw })) {
      for (const [name, phase] of Object.entries({ saturate: run.saturate, rate: run.rate })) {
        const what = `${server} ${name}`;
        assertPositive(phase.acked, `${what} acked`);
        assert.equal(phase.failed, 0, `${what}: ${JSON.stringify(phase.errors)}`);
        assert.equal(phase.delivered, phase.acked, `${what}: delivered != acked after drain`);
        assert.equal(phase.lost, 0, `${what} lost`);
      }
      assertPositive(run.rate.latency?.count, `${server} latency samples`);
    }
    assert.equal(result.lost, 0);
    assert.equal(result.failed, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
