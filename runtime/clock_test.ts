import assert from "node:assert/strict";
import { FakeClock, systemClock } from "./clock.ts";

Deno.test("systemClock.now() is monotonic", () => {
  const a = systemClock.now();
  const b = systemClock.now();
  assert.ok(b >= a);
});

Deno.test("systemClock.setTimeout() fires and can be cleared", async () => {
  const cleared = systemClock.setTimeout(() => assert.fail("cleared"), 1);
  systemClock.clearTimeout(cleared);
  // The clock's timers are unref'd: a ref'd guard keeps the test's loop alive.
  const guard = setTimeout(() => {}, 1_000);
  try {
    await new Promise<void>((resolve) => systemClock.setTimeout(resolve, 5));
  } finally {
    clearTimeout(guard);
  }
});

Deno.test("systemClock.setInterval() repeats until cleared", async () => {
  const guard = setTimeout(() => {}, 1_000);
  try {
    let count = 0;
    await new Promise<void>((resolve) => {
      const handle = systemClock.setInterval(() => {
        if (++count === 3) {
          systemClock.clearInterval(handle);
          resolve();
        }
      }, 1);
    });
    assert.equal(count, 3);
  } finally {
    clearTimeout(guard);
  }
});

Deno.test("FakeClock.now() starts at the given time", () => {
  assert.equal(new FakeClock().now(), 0);
  assert.equal(new FakeClock(1_000).now(), 1_000);
  assert.throws(() => new FakeClock(NaN), RangeError);
});

Deno.test("FakeClock.advance() fires timers in deadline order", () => {
  const clock = new FakeClock();
  const log: string[] = [];
  clock.setTimeout(() => log.push(`c@${clock.now()}`), 30);
  clock.setTimeout(() => log.push(`a@${clock.now()}`), 10);
  clock.setTimeout(() => log.push(`b@${clock.now()}`), 20);
  clock.advance(25);
  assert.deepEqual(log, ["a@10", "b@20"]);
  assert.equal(clock.now(), 25);
  assert.equal(clock.pending(), 1);
  clock.advance(5);
  assert.deepEqual(log, ["a@10", "b@20", "c@30"]);
  assert.equal(clock.pending(), 0);
});

Deno.test("FakeClock.advance() breaks ties by creation order", () => {
  const clock = new FakeClock();
  const log: number[] = [];
  for (let i = 0; i < 5; i++) clock.setTimeout(() => log.push(i), 10);
  clock.advance(10);
  assert.deepEqual(log, [0, 1, 2, 3, 4]);
});

Deno.test("FakeClock.advance() repeats intervals", () => {
  const clock = new FakeClock(100);
  const log: number[] = [];
  const handle = clock.setInterval(() => log.push(clock.now()), 10);
  clock.advance(35);
  assert.deepEqual(log, [110, 120, 130]);
  clock.clearInterval(handle);
  clock.advance(100);
  assert.deepEqual(log, [110, 120, 130]);
  assert.equal(clock.pending(), 0);
});

Deno.test("FakeClock.advance() fires timers scheduled by callbacks", () => {
  const clock = new FakeClock();
  const log: number[] = [];
  clock.setTimeout(() => {
    log.push(clock.now());
    clock.setTimeout(() => log.push(clock.now()), 5);
    clock.setTimeout(() => log.push(clock.now()), 50);
  }, 10);
  clock.advance(20);
  assert.deepEqual(log, [10, 15]);
  clock.advance(40);
  assert.deepEqual(log, [10, 15, 60]);
});

Deno.test("FakeClock.clearTimeout() cancels a pending timer", () => {
  const clock = new FakeClock();
  let fired = false;
  const handle = clock.setTimeout(() => fired = true, 10);
  assert.equal(clock.pending(), 1);
  clock.clearTimeout(handle);
  clock.clearTimeout(handle);
  clock.clearTimeout(12345);
  clock.advance(100);
  assert.equal(fired, false);
  assert.equal(clock.pending(), 0);
});

Deno.test("FakeClock.setTimeout() treats bad delays as zero", () => {
  const clock = new FakeClock();
  let count = 0;
  clock.setTimeout(() => count++, -5);
  clock.setTimeout(() => count++, NaN);
  clock.advance(0);
  assert.equal(count, 2);
});

Deno.test("FakeClock.advance() rejects bad input and re-entry", () => {
  const clock = new FakeClock();
  assert.throws(() => clock.advance(-1), RangeError);
  assert.throws(() => clock.advance(Infinity), RangeError);
  clock.setTimeout(() => clock.advance(1), 1);
  assert.throws(() => clock.advance(5), TypeError);
  // A failed advance leaves the clock usable.
  clock.advance(5);
  assert.equal(clock.now(), 6);
});

Deno.test("FakeClock.advanceAsync() lets async reactions run", async () => {
  const clock = new FakeClock();
  const sleep = (ms: number) => new Promise<void>((resolve) => clock.setTimeout(resolve, ms));
  const log: number[] = [];
  const task = (async () => {
    for (let i = 0; i < 3; i++) {
      await sleep(10);
      log.push(clock.now());
    }
  })();
  await clock.advanceAsync(100);
  await task;
  assert.deepEqual(log, [10, 20, 30]);
  assert.equal(clock.now(), 100);
});

Deno.test("FakeClock.advanceAsync() only fires timers within the window", async () => {
  const clock = new FakeClock();
  const sleep = (ms: number) => new Promise<void>((resolve) => clock.setTimeout(resolve, ms));
  const log: number[] = [];
  void (async () => {
    await sleep(10);
    log.push(clock.now());
    await sleep(10);
    log.push(clock.now());
  })();
  await clock.advanceAsync(15);
  assert.deepEqual(log, [10]);
  await clock.advanceAsync(5);
  assert.deepEqual(log, [10, 20]);
  assert.equal(clock.pending(), 0);
});

Deno.test("systemClock.setTimeout() does not keep the process alive", async () => {
  const script = `
    import { systemClock } from ${JSON.stringify(import.meta.resolve("./clock.ts"))};
    systemClock.setTimeout(() => Deno.exit(3), 30_000);
    systemClock.setInterval(() => Deno.exit(4), 30_000);
  `;
  const started = performance.now();
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-config", script],
    stdout: "null",
    stderr: "inherit",
    signal: AbortSignal.timeout(20_000),
  }).output();
  assert.equal(code, 0);
  assert.ok(performance.now() - started < 20_000);
});
