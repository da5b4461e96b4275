import assert from "node:assert/strict";
import type { KindOptions, StopReason } from "./actor.ts";
import { Delivery } from "./actor.ts";
import { ActorSystem, type Escalation } from "./actor_system.ts";
import { FakeClock } from "./clock.ts";
import { ActorFailedError, DeadLetterError } from "./errors.ts";
import type { LogFields, Logger, LogLevel } from "./logger.ts";
import { refEquals, refKey, virtualRef } from "./ref.ts";

const ASK = { timeoutMs: 60_000 } as const;
const POLICY = {
  minBackoffMs: 100,
  maxBackoffMs: 10_000,
  jitter: 0,
  maxRestarts: 3,
  withinMs: 60_000,
} as const;

/** One real macrotask: lets microtask-driven turns run (timers stay fake). */
function tick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

function recordingLogger(): Logger & {
  entries: { level: LogLevel; message: string; fields?: LogFields }[];
} {
  const entries: { level: LogLevel; message: string; fields?: LogFields }[] = [];
  return {
    entries,
    log: (level, message, fields) => void entries.push({ level, message, fields }),
  };
}

/**
 * A kind whose instances are numbered: `crash` throws, anything else is logged as
 * `message#instance` and answered with the instance number.
 */
function fragile(log: string[], options: Partial<KindOptions<string>> = {}): KindOptions<string> {
  let instances = 0;
  return {
    restart: POLICY,
    create: () => {
      const id = ++instances;
      return {
        started: () => void log.push(`started#${id}`),
        restarting: (_ctx, error, attempt) =>
          void log.push(`restarting#${id}:${(error as Error).message}:${attempt}`),
        receive(message) {
          if (message === "crash") throw new Error(`boom#${id}`);
          log.push(`${message}#${id}`);
          return id;
        },
        stopped: (_ctx, reason) => void log.push(`stopped#${id}:${reason}`),
      };
    },
    ...options,
  };
}

Deno.test("ActorSystem restarts a crashing actor with growing backoff", async () => {
  const clock = new FakeClock();
  await using system = new ActorSystem({ clock });
  const log: string[] = [];
  system.register("fragile", fragile(log));
  const ref = system.spawn<string>("fragile");
  assert.deepEqual(log, ["started#1"]);

  const rounds = [{ delay: 100, next: "a" }, { delay: 200, next: "b" }, { delay: 400, next: "c" }];
  for (const [i, { delay, next }] of rounds.entries()) {
    const attempt = i + 1;
    log.length = 0;
    system.tell(ref, "crash");
    // Queued while the actor is down: handled by the next instance.
    system.tell(ref, next);
    await tick();
    assert.equal(system.metrics().failures, attempt);
    assert.equal(system.metrics().queued, 1);
    clock.advance(delay - 1);
    await tick();
    assert.equal(system.metrics().restarts, attempt - 1, `no restart before ${delay} ms`);
    assert.deepEqual(log, []);
    clock.advance(1);
    await tick();
    assert.equal(system.metrics().restarts, attempt, `restart at ${delay} ms`);
    const instance = attempt + 1;
    assert.deepEqual(log, [
      `restarting#${instance}:boom#${attempt}:${attempt}`,
      `started#${instance}`,
      `${next}#${instance}`,
    ]);
  }
  assert.equal(clock.now(), 700);
  assert.equal(system.isResident(ref), true);
  assert.equal(system.metrics().stoppedByIntensity, 0);
});

Deno.test("ActorSystem stops an actor past its restart intensity and dead-letters its mailbox", async () => {
  const clock = new FakeClock();
  const escalations: Escalation[] = [];
  await using system = new ActorSystem({ clock, onEscalate: (e) => void escalations.push(e) });
  const log: string[] = [];
  system.register("fragile", fragile(log, { escalation: { maxFailures: 0, withinMs: 60_000 } }));
  const ref = system.spawn<string>("fragile");
  for (const delay of [100, 200, 400]) {
    system.tell(ref, "crash");
    await tick();
    clock.advance(delay);
  }
  assert.equal(system.metrics().restarts, 3);
  system.tell(ref, "crash");
  system.tell(ref, "queued");
  const queuedAsk = system.ask(ref, "queued ask", ASK);
  await assert.rejects(queuedAsk, (error: Error) => {
    assert.ok(error instanceof DeadLetterError);
    assert.equal(error.message, `Cannot deliver to ${refKey(ref)}: actor failed`);
    return true;
  });
  await system.idle();
  const metrics = system.metrics();
  assert.equal(metrics.failures, 4);
  assert.equal(metrics.restarts, 3);
  assert.equal(metrics.stoppedByIntensity, 1);
  assert.equal(metrics.escalations, 1);
  assert.equal(metrics.deadLetters, 2);
  assert.equal(system.isResident(ref), false);
  assert.equal(system.tell(ref, "later"), Delivery.Dead);
  // A crash is not a stop: the stopped hook never ran.
  assert.ok(!log.some((line) => line.startsWith("stopped")));
  assert.equal(escalations.length, 1);
  assert.equal(escalations[0].kind, "fragile");
  assert.ok(refEquals(escalations[0].ref, ref));
  assert.equal((escalations[0].error as Error).message, "boom#4");
  // No restart is left pending.
  clock.advance(60_000);
  assert.equal(system.metrics().restarts, 3);
});

Deno.test("ActorSystem escalates a kind only past its escalation limit", async () => {
  const clock = new FakeClock();
  const escalations: Escalation[] = [];
  await using system = new ActorSystem({ clock, onEscalate: (e) => void escalations.push(e) });
  system.register(
    "fragile",
    fragile([], {
      restart: { ...POLICY, maxRestarts: 0 },
      escalation: { maxFailures: 1, withinMs: 60_000 },
    }),
  );
  const first = system.spawn<string>("fragile");
  const second = system.spawn<string>("fragile");
  system.tell(first, "crash");
  await system.idle();
  assert.equal(system.metrics().escalations, 1);
  assert.equal(escalations.length, 0);
  system.tell(second, "crash");
  await system.idle();
  assert.equal(system.metrics().escalations, 2);
  assert.equal(system.metrics().stoppedByIntensity, 2);
  assert.equal(escalations.length, 1);
  assert.ok(refEquals(escalations[0].ref, second));
});

Deno.test("ActorSystem logs an escalation when no onEscalate is given", async () => {
  const logger = recordingLogger();
  await using system = new ActorSystem({ clock: new FakeClock(), logger });
  system.register(
    "fragile",
    fragile([], {
      restart: { ...POLICY, maxRestarts: 0 },
      escalation: { maxFailures: 0, withinMs: 1_000 },
    }),
  );
  system.tell(system.spawn<string>("fragile"), "crash");
  await system.idle();
  const gaveUp = logger.entries.find((e) => e.message === "Kind supervisor gave up");
  assert.equal(gaveUp?.level, "error");
  assert.equal(gaveUp?.fields?.kind, "fragile");
  assert.ok(logger.entries.some((e) => e.message === "Actor stopped: restart intensity exceeded"));
});

Deno.test("ActorSystem forgets failures older than the restart window", async () => {
  const clock = new FakeClock();
  await using system = new ActorSystem({ clock });
  const log: string[] = [];
  system.register(
    "fragile",
    fragile(log, { restart: { ...POLICY, maxRestarts: 1, withinMs: 1_000 } }),
  );
  const ref = system.spawn<string>("fragile");
  system.tell(ref, "crash");
  await tick();
  clock.advance(100);
  clock.advance(5_000);
  // The first failure is out of the window: this one is attempt 1 again, not a stop.
  system.tell(ref, "crash");
  await tick();
  clock.advance(100);
  await tick();
  assert.equal(system.metrics().restarts, 2);
  assert.equal(system.metrics().stoppedByIntensity, 0);
  assert.equal(log.at(-2), "restarting#3:boom#2:1");
});

Deno.test("ActorSystem answers a crashing ask with ActorFailedError and serves the next after restart", async () => {
  const clock = new FakeClock();
  await using system = new ActorSystem({ clock });
  system.register("fragile", fragile([]));
  const ref = system.spawn<string>("fragile");
  await assert.rejects(system.ask(ref, "crash", ASK), (error: Error) => {
    assert.ok(error instanceof ActorFailedError);
    assert.equal(error.message, `Actor ${refKey(ref)} failed: boom#1`);
    return true;
  });
  const next = system.ask<number>(ref, "hello", ASK);
  clock.advance(100);
  assert.equal(await next, 2);
});

Deno.test("ActorSystem restarts an actor whose async receive rejects", async () => {
  const clock = new FakeClock();
  await using system = new ActorSystem({ clock });
  let instances = 0;
  system.register<string>("async", {
    restart: POLICY,
    create: () => {
      const id = ++instances;
      return {
        async receive(m) {
          await Promise.resolve();
          if (m === "crash") throw new Error("later boom");
          return id;
        },
      };
    },
  });
  const ref = system.spawn<string>("async");
  await assert.rejects(system.ask(ref, "crash", ASK), ActorFailedError);
  const next = system.ask(ref, "hi", ASK);
  await tick();
  clock.advance(100);
  assert.equal(await next, 2);
  assert.equal(system.metrics().restarts, 1);
});

Deno.test("ActorSystem.idle() resolves after a restart with an empty mailbox", async () => {
  const clock = new FakeClock();
  await using system = new ActorSystem({ clock });
  const log: string[] = [];
  system.register("fragile", fragile(log));
  system.tell(system.spawn<string>("fragile"), "crash");
  await tick();
  const idle = system.idle();
  clock.advance(100);
  await idle;
  assert.deepEqual(log, ["started#1", "restarting#2:boom#1:1", "started#2"]);
});

Deno.test("ActorSystem never restarts a temporary actor", async () => {
  const clock = new FakeClock();
  await using system = new ActorSystem({ clock });
  const log: string[] = [];
  system.register("fragile", fragile(log, { temporary: true }));
  const ref = system.spawn<string>("fragile");
  system.tell(ref, "crash");
  const queued = system.ask(ref, "queued", ASK);
  await assert.rejects(queued, DeadLetterError);
  await system.idle();
  assert.equal(system.isResident(ref), false);
  assert.equal(system.tell(ref, "later"), Delivery.Dead);
  clock.advance(10_000);
  const metrics = system.metrics();
  assert.equal(metrics.failures, 1);
  assert.equal(metrics.restarts, 0);
  assert.equal(metrics.stoppedByIntensity, 0);
  assert.equal(metrics.deadLetters, 2);
  assert.deepEqual(log, ["started#1"]);
});

Deno.test("ActorSystem treats a crash in started as a failure and restarts", async () => {
  const clock = new FakeClock();
  await using system = new ActorSystem({ clock });
  const log: string[] = [];
  let instances = 0;
  system.register<string>("loader", {
    restart: POLICY,
    create: () => {
      const id = ++instances;
      return {
        started() {
          log.push(`started#${id}`);
          if (id === 1) throw new Error("sync load failed");
          if (id === 2) return Promise.reject(new Error("async load failed"));
          return undefined;
        },
        restarting: (_ctx, error, attempt) =>
          void log.push(`restarting:${(error as Error).message}:${attempt}`),
        receive: (m) => void log.push(`${m}#${id}`),
      };
    },
  });
  const ref = system.spawn<string>("loader");
  system.tell(ref, "a");
  system.tell(ref, "b");
  await tick();
  assert.equal(system.metrics().failures, 1);
  clock.advance(100);
  await tick();
  assert.equal(system.metrics().failures, 2);
  clock.advance(200);
  await system.idle();
  assert.deepEqual(log, [
    "started#1",
    "restarting:sync load failed:1",
    "started#2",
    "restarting:async load failed:2",
    "started#3",
    "a#3",
    "b#3",
  ]);
  assert.equal(system.metrics().restarts, 2);
});

Deno.test("ActorSystem treats a throwing create as a failure", async () => {
  const clock = new FakeClock();
  await using system = new ActorSystem({ clock });
  let calls = 0;
  system.register<string>("flaky", {
    restart: POLICY,
    create: () => {
      if (++calls === 1) throw new Error("cannot create");
      return { receive: (m) => `${m}#${calls}` };
    },
  });
  const ref = system.spawn<string>("flaky");
  assert.equal(system.metrics().failures, 1);
  const answer = system.ask(ref, "hi", ASK);
  clock.advance(100);
  assert.equal(await answer, "hi#2");
});

Deno.test("ActorSystem re-activates a virtual actor stopped by intensity on its next message", async () => {
  const clock = new FakeClock();
  await using system = new ActorSystem({ clock });
  const log: string[] = [];
  system.register(
    "fragile",
    fragile(log, {
      virtual: true,
      restart: { ...POLICY, maxRestarts: 0 },
    }),
  );
  const ref = virtualRef<string>("fragile", "x");
  await assert.rejects(system.ask(ref, "crash", ASK), ActorFailedError);
  await system.idle();
  assert.equal(system.isResident(ref), false);
  assert.equal(system.metrics().stoppedByIntensity, 1);
  assert.equal(await system.ask(ref, "again", ASK), 2);
  assert.equal(system.metrics().activations, 2);
  assert.equal(system.isResident(ref), true);
  assert.deepEqual(log, ["started#1", "started#2", "again#2"]);
});

Deno.test("ActorSystem.shutdown() does not wait for an actor in restart backoff", async () => {
  const clock = new FakeClock();
  const system = new ActorSystem({ clock });
  const log: string[] = [];
  system.register(
    "fragile",
    fragile(log, { restart: { ...POLICY, minBackoffMs: 60_000, maxBackoffMs: 60_000 } }),
  );
  const ref = system.spawn<string>("fragile");
  system.tell(ref, "crash");
  await tick();
  const queued = assert.rejects(system.ask(ref, "queued", ASK), DeadLetterError);
  const started = Date.now();
  await system.shutdown({ timeoutMs: 2_000 });
  assert.ok(Date.now() - started < 1_000, `shutdown took ${Date.now() - started} ms`);
  await queued;
  assert.equal(system.metrics().residents, 0);
  // The pending restart was cancelled with it.
  assert.equal(clock.pending(), 0);
  clock.advance(60_000);
  assert.equal(system.metrics().restarts, 0);
  assert.deepEqual(log, ["started#1"]);
});

Deno.test("ActorSystem runs the stopped hook only on a healthy instance, never after a crash", async () => {
  const clock = new FakeClock();
  await using system = new ActorSystem({ clock });
  const stops: StopReason[] = [];
  const instances: string[] = [];
  system.register<string>("tracked", {
    restart: POLICY,
    create: (ref) => {
      instances.push(refKey(ref));
      return {
        receive(m) {
          if (m === "crash") throw new Error("x");
        },
        stopped: (_ctx, reason) => void stops.push(reason),
      };
    },
  });
  const ref = system.spawn<string>("tracked");
  system.tell(ref, "crash");
  await tick();
  clock.advance(100);
  system.stop(ref);
  await system.idle();
  // Same ref for every instance; only the healthy instance's stop ran the hook.
  assert.deepEqual(instances, [refKey(ref), refKey(ref)]);
  assert.deepEqual(stops, ["stopped"]);
});
