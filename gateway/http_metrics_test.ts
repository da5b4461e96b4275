import assert from "node:assert/strict";
import { formatHistogram, httpMetrics } from "./http_metrics.ts";

const values = { bounds: [1, 2, 4], counts: [3, 0, 2, 1], sum: 20, count: 6 };

Deno.test("formatHistogram() writes cumulative buckets, +Inf, sum and count with labels", () => {
  assert.equal(
    formatHistogram("x_items", "Items.", { worker: "1" }, values),
    [
      "# HELP x_items Items.",
      "# TYPE x_items histogram",
      'x_items_bucket{worker="1",le="1"} 3',
      'x_items_bucket{worker="1",le="2"} 3',
      'x_items_bucket{worker="1",le="4"} 5',
      'x_items_bucket{worker="1",le="+Inf"} 6',
      'x_items_sum{worker="1"} 20',
      'x_items_count{worker="1"} 6',
      "",
    ].join("\n"),
  );
  assert.match(formatHistogram("y", "h", {}, values), /^y_sum 20$/m);
  assert.match(formatHistogram("y", "h", { a: 'q"\\' }, values), /^y_count\{a="q\\"\\\\"\} 6$/m);
  assert.throws(() => formatHistogram("y", "h", {}, { ...values, counts: [1] }), RangeError);
});

Deno.test("httpMetrics() serves GET /metrics as Prometheus text and ignores other paths", async () => {
  let reads = 0;
  const handler = httpMetrics({
    labels: { worker: "0" },
    histograms: [{ name: "x_items", help: "Items.", read: () => (reads++, values) }],
  });
  const response = await handler(new Request("http://h/metrics"));
  assert.equal(response?.status, 200);
  assert.match(response!.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
  assert.match(await response!.text(), /^x_items_count\{worker="0"\} 6$/m);
  assert.equal(reads, 1);
  assert.equal(await handler(new Request("http://h/v1/me")), undefined);
  const post = await handler(new Request("http://h/metrics", { method: "POST" }));
  assert.equal(post?.status, 405);
  await post?.body?.cancel();
});
