import assert from "node:assert/strict";
import {
  DEFAULT_RESTART_POLICY,
  type RestartDecision,
  type RestartPolicy,
  restartPolicy,
  RestartTracker,
} from "./backoff.ts";

const noJitter = { random: () => 0.5 };

function delays(decisions: RestartDecision[]): (number | false)[] {
  return decisions.map((d) => d.restart ? d.delayMs : false);
}

Deno.test("restartPolicy() fills in the defaults", () => {
  assert.deepEqual(restartPolicy(), {
    maxRestarts: 5,
    withinMs: 30_000,
    minBackoffMs: 100,
    maxBackoffMs: 10_000,
    jitter: 0.2,
  });
  assert.deepEqual(restartPolicy(), DEFAULT_RESTART_POLICY);
  assert.equal(restartPolicy({ maxRestarts: 1 }).maxRestarts, 1);
  assert.equal(restartPolicy({ jitter: undefined }).jitter, 0.2);
  assert.ok(Object.isFrozen(restartPolicy()));
});

Deno.test("restartPolicy() rejects bad values", () => {
  const bad: Partial<RestartPolicy>[] = [
    { maxRestarts: -1 },
    { maxRestarts: 1.5 },
    { maxRestarts: Infinity },
    { withinMs: -1 },
    { withinMs: NaN },
    { minBackoffMs: -1 },
    { maxBackoffMs: Infinity },
    { minBackoffMs: 500, maxBackoffMs: 400 },
    { jitter: -0.1 },
    { jitter: 1.1 },
    { jitter: NaN },
  ];
  for (const partial of bad) {
    assert.throws(
      () => restartPolicy(partial),
      (error: unknown) =>
        error instanceof RangeError &&
        error.message.startsWith("Cannot create restart policy:"),
      JSON.stringify(partial),
    );
  }
  assert.throws(
    () => restartPolicy({ minBackoffMs: 500, maxBackoffMs: 400 }),
    { message: /minBackoffMs 500 exceeds maxBackoffMs 400/ },
  );
  assert.throws(
    () => new RestartTracker({ ...DEFAULT_RESTART_POLICY, jitter: 2 }),
    RangeError,
  );
});

Deno.test("RestartTracker.fail() doubles the delay per attempt", () => {
  const tracker = new RestartTracker(
    restartPolicy({ maxRestarts: 5 }),
    noJitter,
  );
  const decisions = [0, 1, 2, 3, 4].map((t) => tracker.fail(t));
  assert.deepEqual(delays(decisions), [100, 200, 400, 800, 1600]);
  assert.deepEqual(
    decisions.map((d) => d.restart && d.attempt),
    [1, 2, 3, 4, 5],
  );
  assert.equal(tracker.failuresInWindow, 5);
});

Deno.test("RestartTracker.fail() caps the delay at maxBackoffMs", () => {
  const tracker = new RestartTracker(
    restartPolicy({ maxRestarts: 100, minBackoffMs: 100, maxBackoffMs: 1_000 }),
    noJitter,
  );
  const decisions = Array.from({ length: 100 }, (_, t) => tracker.fail(t));
  assert.deepEqual(delays(decisions).slice(0, 6), [
    100,
    200,
    400,
    800,
    1_000,
    1_000,
  ]);
  assert.ok(decisions.every((d) => d.restart && d.delayMs <= 1_000));
});

Deno.test("RestartTracker.fail() handles a zero minimum delay", () => {
  const tracker = new RestartTracker(
    restartPolicy({ maxRestarts: 2_000, minBackoffMs: 0, maxBackoffMs: 0 }),
  );
  for (let t = 0; t < 2_000; t++) {
    assert.deepEqual(tracker.fail(t), {
      restart: true,
      delayMs: 0,
      attempt: t + 1,
    });
  }
});

Deno.test("RestartTracker.fail() keeps jitter within bounds", () => {
  let seed = 1;
  const random = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const policy = restartPolicy({
    maxRestarts: 1,
    minBackoffMs: 1_000,
    jitter: 0.25,
  });
  const seen = new Set<number>();
  for (let i = 0; i < 1_000; i++) {
    const decision = new RestartTracker(policy, { random }).fail(0);
    assert.ok(decision.restart);
    assert.ok(decision.delayMs >= 750 && decision.delayMs <= 1_250);
    seen.add(decision.delayMs);
  }
  assert.ok(seen.size > 100, "jitter spreads the delays");
  const low = new RestartTracker(policy, { random: () => 0 }).fail(0);
  const high = new RestartTracker(policy, { random: () => 0.999999 }).fail(0);
  assert.deepEqual([low.restart && low.delayMs, high.restart && high.delayMs], [
    750,
    1_250,
  ]);
});

Deno.test("RestartTracker.fail() gives up past the intensity limit", () => {
  const tracker = new RestartTracker(
    restartPolicy({ maxRestarts: 3, withinMs: 1_000 }),
    noJitter,
  );
  for (const t of [0, 100, 200]) assert.ok(tracker.fail(t).restart);
  assert.deepEqual(tracker.fail(300), { restart: false, failures: 4 });
  assert.equal(tracker.failuresInWindow, 4);
  assert.deepEqual(tracker.fail(400), { restart: false, failures: 4 });
});

Deno.test("RestartTracker.fail() never restarts with maxRestarts 0", () => {
  const tracker = new RestartTracker(restartPolicy({ maxRestarts: 0 }));
  assert.deepEqual(tracker.fail(0), { restart: false, failures: 1 });
});

Deno.test("RestartTracker.fail() forgets failures outside the window", () => {
  const tracker = new RestartTracker(
    restartPolicy({ maxRestarts: 2, withinMs: 1_000 }),
    noJitter,
  );
  assert.deepEqual(tracker.fail(0), { restart: true, delayMs: 100, attempt: 1 });
  assert.deepEqual(tracker.fail(600), {
    restart: true,
    delayMs: 200,
    attempt: 2,
  });
  // t=0 is 1_001 ms old: forgotten, so this is the second failure again.
  assert.deepEqual(tracker.fail(1_001), {
    restart: true,
    delayMs: 200,
    attempt: 2,
  });
  assert.deepEqual(tracker.fail(1_200), { restart: false, failures: 3 });
  // A long quiet period: everything is forgotten, delays start over.
  assert.deepEqual(tracker.fail(10_000), {
    restart: true,
    delayMs: 100,
    attempt: 1,
  });
  assert.equal(tracker.failuresInWindow, 1);
});

Deno.test("RestartTracker.fail() keeps a failure exactly withinMs old", () => {
  const tracker = new RestartTracker(
    restartPolicy({ maxRestarts: 1, withinMs: 1_000 }),
    noJitter,
  );
  assert.ok(tracker.fail(0).restart);
  assert.deepEqual(tracker.fail(1_000), { restart: false, failures: 2 });
});

Deno.test("RestartTracker.fail() rejects a non-finite time", () => {
  const tracker = new RestartTracker(DEFAULT_RESTART_POLICY);
  assert.throws(() => tracker.fail(NaN), RangeError);
  assert.equal(tracker.failuresInWindow, 0);
});

Deno.test("RestartTracker.reset() forgets all failures", () => {
  const tracker = new RestartTracker(
    restartPolicy({ maxRestarts: 1 }),
    noJitter,
  );
  assert.ok(tracker.fail(0).restart);
  assert.equal(tracker.fail(1).restart, false);
  tracker.reset();
  assert.equal(tracker.failuresInWindow, 0);
  assert.deepEqual(tracker.fail(2), { restart: true, delayMs: 100, attempt: 1 });
});
