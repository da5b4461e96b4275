import assert from "node:assert/strict";
import { ContentType } from "../protocol/mod.ts";
import { device, startServer, userTokens } from "../tests/harness.ts";
import {
  BATCH_ITEMS_METRIC,
  batchStats,
  combineHistograms,
  type Histogram,
  histogramQuantile,
  parseHistograms,
  scrapeBatchItems,
} from "./_batch_metrics.ts";
import { realBackendsFrom } from "./_real_backends.ts";

const TEXT = `# HELP m Items.
# TYPE m histogram
m_bucket{worker="0",le="1"} 2
m_bucket{worker="0",le="2"} 2
m_bucket{worker="0",le="4"} 6
m_bucket{worker="0",le="+Inf"} 10
m_sum{worker="0"} 40
m_count{worker="0"} 10
m_bucket{worker="1",le="1"} 1
m_bucket{worker="1",le="2"} 1
m_bucket{worker="1",le="4"} 1
m_bucket{worker="1",le="+Inf"} 1
m_sum{worker="1"} 1
m_count{worker="1"} 1
other_count{worker="0"} 99
`;

Deno.test("parseHistograms() reads each worker's cumulative buckets, sum and count", () => {
  const byWorker = parseHistograms(TEXT, "m");
  assert.deepEqual([...byWorker.keys()], ["0", "1"]);
  assert.deepEqual(byWorker.get("0"), {
    bounds: [1, 2, 4, Infinity],
    cumulative: [2, 2, 6, 10],
    sum: 40,
    count: 10,
  });
  assert.throws(() => parseHistograms('m_bucket{le="1"} 1\nm_count 1\n', "m"), TypeError);
});

Deno.test("combineHistograms() adds or subtracts bucket by bucket", () => {
  const byWorker = parseHistograms(TEXT, "m");
  const total = combineHistograms(byWorker.get("0")!, byWorker.get("1")!);
  assert.deepEqual(total.cumulative, [3, 3, 7, 11]);
  assert.equal(total.sum, 41);
  assert.deepEqual(combineHistograms(total, byWorker.get("1")!, -1), byWorker.get("0"));
  const other: Histogram = { bounds: [1, Infinity], cumulative: [0, 0], sum: 0, count: 0 };
  assert.throws(() => combineHistograms(total, other), TypeError);
});

Deno.test("histogramQuantile() interpolates within the bucket, like histogram_quantile", () => {
  const h = parseHistograms(TEXT, "m").get("0")!;
  // Rank 1 of 10 lies in <= 1; rank 5 is 3/4 into (2, 4]; rank 9 in the overflow bucket.
  assert.equal(histogramQuantile(0.1, h), 1);
  assert.equal(histogramQuantile(0.5, h), 3.5);
  assert.equal(histogramQuantile(0.9, h), 4);
  const empty: Histogram = { bounds: [1, Infinity], cumulative: [0, 0], sum: 0, count: 0 };
  assert.ok(Number.isNaN(histogramQuantile(0.5, empty)));
  assert.deepEqual(batchStats(h), { writes: 10, items: 40, mean: 4, p50: 3.5, p90: 4 });
});

Deno.test("realBackendsFrom() takes flags over env, needs both, and is off without either", () => {
  const env = (values: Record<string, string>) => (name: string) => values[name];
  assert.equal(realBackendsFrom({}, env({})), undefined);
  assert.equal(
    realBackendsFrom({}, env({ FLASH_BENCH_POSTGRES_URL: "", FLASH_BENCH_REDIS_URL: "" })),
    undefined,
  );
  assert.deepEqual(
    realBackendsFrom(
      { postgres: "postgres://flag" },
      env({ FLASH_BENCH_POSTGRES_URL: "postgres://env", FLASH_BENCH_REDIS_URL: "redis://env" }),
    ),
    { postgresUrl: "postgres://flag", redisUrl: "redis://env" },
  );
  assert.throws(() => realBackendsFrom({ postgres: "postgres://x" }, env({})), /--redis/);
});

Deno.test("GET /metrics of a node counts its store writes after sends, on every worker", async () => {
  await using server = await startServer({ workers: 2, args: ["--require-friends", "false"] });
  const before = await scrapeBatchItems(server.http, 2);
  assert.equal(before.workersSeen, 2);
  const alice = await userTokens(server, "metrics_alice");
  const bob = await userTokens(server, "metrics_bob");
  const { conn } = await device(server, alice, "laptop");
  try {
    for (let i = 0; i < 5; i++) {
      await conn.sendMessage({
        peerUserId: bob.userId,
        clientMsgId: `m-${i}`,
        content: { type: ContentType.TEXT, text: `n${i}` },
      });
    }
  } finally {
    await conn.close();
  }
  const response = await fetch(`${server.http}/metrics`);
  assert.equal(response.status, 200);
  assert.match(await response.text(), new RegExp(`^# TYPE ${BATCH_ITEMS_METRIC} histogram$`, "m"));
  const after = await scrapeBatchItems(server.http, 2);
  const sends = combineHistograms(after.histogram, before.histogram, -1);
  // Sequential sends: one write each (the conversation's first load writes nothing).
  assert.equal(sends.sum, 5);
  assert.equal(sends.count, 5);
});
