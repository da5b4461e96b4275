import assert from "node:assert/strict";
import { FenceMonitor } from "./fence_monitor.ts";

Deno.test("FenceMonitor.check() stays quiet while healthy", () => {
  const monitor = new FenceMonitor({ leaseMs: 500, checkEveryMs: 25, now: 0 });
  for (let t = 25; t <= 5000; t += 25) {
    if (t % 100 === 0) monitor.ownHeartbeat(t);
    assert.equal(monitor.check(t), undefined);
  }
});

Deno.test("FenceMonitor.check() reports an event-loop stall", () => {
  const monitor = new FenceMonitor({ leaseMs: 500, checkEveryMs: 25, now: 0 });
  monitor.ownHeartbeat(500);
  assert.equal(monitor.check(500), undefined);
  assert.match(monitor.check(1026)!, /^Event loop stalled for 501 ms/);
});

Deno.test("FenceMonitor.check() reports a disconnect longer than the lease", () => {
  const monitor = new FenceMonitor({ leaseMs: 500, checkEveryMs: 25, now: 0 });
  monitor.disconnected(100);
  monitor.disconnected(200);
  for (let t = 25; t <= 600; t += 25) {
    monitor.ownHeartbeat(t);
    assert.equal(monitor.check(t), undefined);
  }
  monitor.ownHeartbeat(625);
  assert.match(monitor.check(625)!, /^NATS disconnected for 525 ms/);
});

Deno.test("FenceMonitor.check() forgets a disconnect after the reconnect", () => {
  const monitor = new FenceMonitor({ leaseMs: 500, checkEveryMs: 25, now: 0 });
  monitor.disconnected(0);
  for (let t = 25; t <= 1000; t += 25) {
    if (t === 400) monitor.reconnected(t);
    monitor.ownHeartbeat(t);
    assert.equal(monitor.check(t), undefined);
  }
});

Deno.test("FenceMonitor.check() reports own heartbeats that stopped coming back", () => {
  const monitor = new FenceMonitor({ leaseMs: 500, checkEveryMs: 25, now: 0 });
  monitor.ownHeartbeat(100);
  for (let t = 25; t <= 600; t += 25) assert.equal(monitor.check(t), undefined);
  assert.match(monitor.check(625)!, /^Own heartbeats not received back for 525 ms/);
});

Deno.test("FenceMonitor() rejects non-positive durations", () => {
  assert.throws(() => new FenceMonitor({ leaseMs: 0, checkEveryMs: 1, now: 0 }), RangeError);
  assert.throws(() => new FenceMonitor({ leaseMs: 1, checkEveryMs: NaN, now: 0 }), RangeError);
});

Deno.test("FenceMonitor.check() names the lost link when own heartbeats stopped first", () => {
  const monitor = new FenceMonitor({ leaseMs: 500, checkEveryMs: 25, now: 0 });
  monitor.ownHeartbeat(100);
  monitor.disconnected(180);
  for (let t = 25; t <= 600; t += 25) assert.equal(monitor.check(t), undefined);
  assert.match(
    monitor.check(625)!,
    /^NATS disconnected for 445 ms, own heartbeats not received back for 525 ms/,
  );
});
