import assert from "node:assert/strict";
import type { ActorContext, AskOptions, OverflowInfo, StopReason, Undelivered } from "./actor.ts";
import { Delivery } from "./actor.ts";
import { ActorSystem } from "./actor_system.ts";
import { FakeClock } from "./clock.ts";
import type { WireMessage } from "./envelope.ts";
import {
  ActorFailedError,
  AskTimeoutError,
  DeadLetterError,
  MailboxFullError,
  ShutdownError,
} from "./errors.ts";
import type { LogFields, Logger, LogLevel } from "./logger.ts";
import { type Location, refEquals, refKey, virtualRef } from "./ref.ts";

const ASK = { timeoutMs: 1_000 } as const;

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

/** A bound kind `gate` whose turns wait for the test to open them one by one. */
function gated(system: ActorSystem, options: { capacity?: number } = {}) {
  const gates: PromiseWithResolvers<void>[] = [];
  const handled: unknown[] = [];
  const stops: StopReason[] = [];
  let active = 0;
  let maxActive = 0;
  system.register("gate", {
    capacity: options.capacity,
    create: () => ({
      async receive(message) {
        active++;
        maxActive = Math.max(maxActive, active);
        const gate = Promise.withResolvers<void>();
        gates.push(gate);
        await gate.promise;
        handled.push(message);
        active--;
        return message;
      },
      stopped: (_ctx, reason) => void stops.push(reason),
    }),
  });
  return {
    ref: system.spawn("gate"),
    gates,
    handled,
    stops,
    get maxActive() {
      return maxActive;
    },
  };
}

// ---- construction and registration ---------------------------------------------------

Deno.test("ActorSystem.constructor() rejects invalid options with RangeError", () => {
  for (
    const options of [
      { maxResidents: 0 },
      { sliceBudget: -1 },
      { sweepMs: 0 },
      { sweepMs: 1.5 },
      { workers: 0 },
    ]
  ) {
    assert.throws(() => new ActorSystem(options), RangeError, JSON.stringify(options));
  }
});

Deno.test("ActorSystem.register() throws TypeError for a kind registered twice", async () => {
  await using system = new ActorSystem({ clock: new FakeClock() });
  system.register("echo", { create: () => ({ receive: (m) => m }) });
  assert.throws(
    () => system.register("echo", { create: () => ({ receive: () => 0 }) }),
    { name: "TypeError", message: "Cannot register kind echo: already registered" },
  );
  // The first registration is still the one in use.
  assert.equal(await system.ask(system.spawn("echo"), "hi", ASK), "hi");
});

Deno.test("ActorSystem.register() rejects invalid options with RangeError", async () => {
  await using system = new ActorSystem({ clock: new FakeClock() });
  const create = () => ({ receive: () => 0 });
  for (
    const bad of [
      { capacity: 0 },
      { capacity: 1.5 },
      { idleMs: 0 },
      { throughput: -1 },
      { restart: { jitter: 2 } },
      { restart: { minBackoffMs: 10, maxBackoffMs: 5 } },
      { escalation: { maxFailures: -1, withinMs: 1000 } },
    ]
  ) {
    assert.throws(
      () => system.register("bad", { create, ...bad }),
      RangeError,
      JSON.stringify(bad),
    );
  }
  // Nothing was half-registered by the failed attempts.
  system.register("bad", { create, capacity: 1 });
  assert.equal(system.tell(system.spawn("bad"), 1), Delivery.Delivered);
});

// ---- spawn ----------------------------------------------------------------------------

Deno.test("ActorSystem.spawn() returns unique bound refs carrying node, worker and local", async () => {
  await using system = new ActorSystem({
    clock: new FakeClock(),
    node: "n1",
    worker: 2,
    localBase: 100,
  });
  const inits: unknown[] = [];
  system.register("conn", {
    create: (ref, init) => {
      inits.push([refKey(ref), init]);
      return { receive: (_m, ctx) => refKey(ctx.self) };
    },
  });
  const refs = [system.spawn("conn", "a"), system.spawn("conn", "b"), system.spawn("conn")];
  assert.deepEqual(refs, [
    { kind: "conn", node: "n1", worker: 2, local: 101 },
    { kind: "conn", node: "n1", worker: 2, local: 102 },
    { kind: "conn", node: "n1", worker: 2, local: 103 },
  ]);
  assert.equal(new Set(refs.map(refKey)).size, 3);
  assert.deepEqual(inits, [["conn/n1/2/101", "a"], ["conn/n1/2/102", "b"], [
    "conn/n1/2/103",
    undefined,
  ]]);
  assert.ok(refs.every((ref) => system.isResident(ref)));
  assert.equal(system.metrics().residents, 3);
  assert.equal(await system.ask(refs[1], null, ASK), "conn/n1/2/102");
});

Deno.test("ActorSystem.spawn() throws TypeError for virtual or unknown kinds", async () => {
  await using system = new ActorSystem({ clock: new FakeClock() });
  system.register("user", { virtual: true, create: () => ({ receive: () => 0 }) });
  assert.throws(() => system.spawn("user"), TypeError);
  assert.throws(() => system.spawn("nope"), {
    name: "TypeError",
    message: "Cannot spawn nope: not a registered bound kind",
  });
  assert.equal(system.metrics().residents, 0);
});

// ---- tell -----------------------------------------------------------------------------

Deno.test("ActorSystem.tell() delivers to a local actor and counts it", async () => {
  await using system = new ActorSystem({ clock: new FakeClock() });
  const seen: unknown[] = [];
  system.register("sink", { create: () => ({ receive: (m) => void seen.push(m) }) });
  const ref = system.spawn("sink");
  assert.equal(system.tell(ref, "a"), Delivery.Delivered);
  assert.equal(system.tell(ref, "b"), Delivery.Delivered);
  assert.equal(system.metrics().queued, 2);
  await system.idle();
  assert.deepEqual(seen, ["a", "b"]);
  const metrics = system.metrics();
  assert.equal(metrics.messagesDelivered, 2);
  assert.equal(metrics.messagesProcessed, 2);
  assert.equal(metrics.queued, 0);
  assert.equal(metrics.deadLetters, 0);
});

Deno.test("ActorSystem.tell() returns dead for unknown kinds and refs and counts dead letters", async () => {
  const logger = recordingLogger();
  await using system = new ActorSystem({ clock: new FakeClock(), logger });
  system.register("conn", { create: () => ({ receive: () => 0 }) });
  const ref = system.spawn("conn");
  assert.equal(system.tell(virtualRef("ghost", "1"), 1), Delivery.Dead);
  // A bound kind cannot be reached by a virtual ref.
  assert.equal(system.tell(virtualRef("conn", "1"), 1), Delivery.Dead);
  assert.equal(system.tell({ ...ref, local: ref.local + 1 }, 1), Delivery.Dead);
  // Another node without a transport: no route.
  assert.equal(system.tell({ ...ref, node: "elsewhere" }, 1), Delivery.Dead);
  assert.equal(system.metrics().deadLetters, 4);
  assert.equal(system.metrics().messagesDelivered, 0);
  const reasons = logger.entries.filter((e) => e.message === "Dead letter").map((e) =>
    e.fields?.reason
  );
  assert.deepEqual(reasons, [
    "no such actor",
    "no such actor",
    "no such actor",
    "no route to elsewhere/0",
  ]);
});

Deno.test("ActorSystem.tell() rejects when the mailbox is full", async () => {
  await using system = new ActorSystem({ clock: new FakeClock() });
  const actor = gated(system, { capacity: 2 });
  assert.equal(system.tell(actor.ref, 1), Delivery.Delivered);
  assert.equal(system.tell(actor.ref, 2), Delivery.Delivered);
  assert.equal(system.tell(actor.ref, 3), Delivery.Rejected);
  await tick();
  // The first message is in its turn: one slot is free again.
  assert.equal(actor.gates.length, 1);
  assert.equal(system.tell(actor.ref, 4), Delivery.Delivered);
  assert.equal(system.tell(actor.ref, 5), Delivery.Rejected);
  for (let i = 0; i < 3; i++) {
    actor.gates[i].resolve();
    await tick();
  }
  assert.deepEqual(actor.handled, [1, 2, 4]);
  const metrics = system.metrics();
  assert.equal(metrics.overflowRejected, 2);
  assert.equal(metrics.messagesDelivered, 3);
  assert.equal(metrics.deadLetters, 0);
});

Deno.test("ActorSystem.ask() rejects with MailboxFullError when the mailbox is full", async () => {
  await using system = new ActorSystem({ clock: new FakeClock() });
  const actor = gated(system, { capacity: 1 });
  const first = system.ask(actor.ref, "first", ASK);
  await assert.rejects(system.ask(actor.ref, "second", ASK), (error: Error) => {
    assert.ok(error instanceof MailboxFullError);
    assert.equal(error.message, `Mailbox of ${refKey(actor.ref)} is full (1)`);
    return true;
  });
  await tick();
  actor.gates[0].resolve();
  assert.equal(await first, "first");
});

Deno.test("ActorSystem.tell() from an actor reports a rejection to its undelivered hook", async () => {
  await using system = new ActorSystem({ clock: new FakeClock() });
  const target = gated(system, { capacity: 1 });
  const reports: Undelivered[] = [];
  const results: Delivery[] = [];
  system.register<number>("producer", {
    create: () => ({
      receive(n, ctx) {
        results.push(ctx.tell(target.ref, n));
      },
      undelivered(_ctx, message) {
        reports.push(message);
      },
    }),
  });
  const producer = system.spawn<number>("producer");
  // The target is busy with 0; 1 waits in its mailbox, 2 finds it full.
  system.tell(target.ref, 0);
  await tick();
  system.tell(producer, 1);
  system.tell(producer, 2);
  await tick();
  assert.deepEqual(results, [Delivery.Delivered, Delivery.Rejected]);
  assert.equal(reports.length, 1);
  assert.ok(refEquals(reports[0].to, target.ref));
  assert.equal(reports[0].body, 2);
  assert.equal(reports[0].reason, `Mailbox of ${refKey(target.ref)} is full (1)`);
  target.gates[0].resolve();
  await tick();
  target.gates[1].resolve();
  await tick();
  assert.deepEqual(target.handled, [0, 1]);
  assert.equal(system.metrics().deadLetters, 0);
});

Deno.test("ActorSystem.tell() from an actor reports a dead letter to its undelivered hook", async () => {
  await using system = new ActorSystem({ clock: new FakeClock() });
  const reports: Undelivered[] = [];
  const ghost = virtualRef("ghost", "1");
  system.register("producer", {
    create: () => ({
      receive: (_m, ctx) => ctx.tell(ghost, "hello"),
      undelivered: (_ctx, message) => void reports.push(message),
    }),
  });
  assert.equal(await system.ask(system.spawn("producer"), "go", ASK), Delivery.Dead);
  await system.idle();
  assert.equal(reports.length, 1);
  assert.deepEqual(reports[0].to, ghost);
  assert.equal(reports[0].body, "hello");
  assert.equal(reports[0].reason, "no such actor");
  assert.equal(system.metrics().deadLetters, 1);
});

Deno.test("ActorSystem counts an undelivered report as a dead letter when the sender has no hook", async () => {
  const logger = recordingLogger();
  await using system = new ActorSystem({ clock: new FakeClock(), logger });
  system.register("producer", {
    create: () => ({ receive: (_m, ctx) => ctx.tell(virtualRef("ghost", "1"), 1) }),
  });
  await system.ask(system.spawn("producer"), "go", ASK);
  await system.idle();
  // One for the message itself, one for the report nobody handled.
  assert.equal(system.metrics().deadLetters, 2);
  assert.ok(logger.entries.some((e) => e.message === "Undelivered message not handled by sender"));
});

Deno.test("ActorSystem limits dead-letter logging to 10 lines per second", async () => {
  const clock = new FakeClock();
  const logger = recordingLogger();
  await using system = new ActorSystem({ clock, logger });
  for (let i = 0; i < 25; i++) system.tell(virtualRef("ghost", String(i)), i);
  assert.equal(system.metrics().deadLetters, 25);
  assert.equal(logger.entries.filter((e) => e.message === "Dead letter").length, 10);
  clock.advance(1_000);
  system.tell(virtualRef("ghost", "x"), 0);
  const suppressed = logger.entries.find((e) => e.message === "Dead letters suppressed");
  assert.deepEqual(suppressed?.fields, { count: 15 });
  assert.equal(logger.entries.filter((e) => e.message === "Dead letter").length, 11);
});

Deno.test("ActorSystem.tell() hands messages for other workers to the transport", async () => {
  const sent: [Location, WireMessage][] = [];
  const transport = {
    send: (to: Location, message: WireMessage) => (sent.push([to, message]), true),
  };
  await using system = new ActorSystem({
    clock: new FakeClock(),
    node: "n1",
    transport,
    locate: (ref) => ({ node: "n1", worker: ref.id === "far" ? 3 : 0 }),
  });
  system.register("user", { virtual: true, create: () => ({ receive: (m) => m }) });
  assert.equal(system.tell(virtualRef("user", "far"), "x"), Delivery.Sent);
  assert.equal(system.tell(virtualRef("user", "near"), "y"), Delivery.Delivered);
  assert.deepEqual(sent, [[{ node: "n1", worker: 3 }, {
    to: { kind: "user", id: "far" },
    body: "x",
  }]]);
  assert.equal(system.metrics().messagesSentRemote, 1);
  assert.equal(system.isResident(virtualRef("user", "far")), false);
});

Deno.test("ActorSystem.receive() runs a remote ask and routes the reply back", async () => {
  const sent: [Location, WireMessage][] = [];
  await using system = new ActorSystem({
    clock: new FakeClock(),
    transport: { send: (to, message) => (sent.push([to, message]), true) },
  });
  system.register<number>("double", { virtual: true, create: () => ({ receive: (n) => n * 2 }) });
  system.receive({
    to: virtualRef("double", "a"),
    body: 21,
    reply: { node: "n2", worker: 1, id: 7 },
  });
  await system.idle();
  assert.deepEqual(sent, [[{ node: "n2", worker: 1, id: 7 }, { replyTo: 7, ok: true, value: 42 }]]);
});

Deno.test("ActorSystem.receive() settles a local ask from a transported reply", async () => {
  const sent: WireMessage[] = [];
  await using system = new ActorSystem({
    clock: new FakeClock(),
    transport: { send: (_to, message) => (sent.push(message), true) },
    locate: () => ({ node: "local", worker: 1 }),
  });
  const answer = system.ask(virtualRef("user", "a"), "q", ASK);
  const id = (sent[0] as { reply: { id: number } }).reply.id;
  system.receive({ replyTo: id, ok: true, value: "a" });
  assert.equal(await answer, "a");
  const failed = system.ask(virtualRef("user", "b"), "q", ASK);
  system.receive({
    replyTo: id + 1,
    ok: false,
    error: { name: "DeadLetterError", message: "gone" },
  });
  await assert.rejects(failed, DeadLetterError, "gone");
  // An unknown id (e.g. a reply after its timeout) is dropped.
  system.receive({ replyTo: 999, ok: true, value: 1 });
});

// ---- overflow policies ----------------------------------------------------------------

Deno.test("ActorSystem dropOldest overflow drops the oldest message and keeps the newest", async () => {
  await using system = new ActorSystem({ clock: new FakeClock() });
  const seen: number[] = [];
  system.register<number>("lossy", {
    capacity: 2,
    overflow: "dropOldest",
    create: () => ({ receive: (n) => void seen.push(n) }),
  });
  const ref = system.spawn<number>("lossy");
  assert.deepEqual([1, 2, 3, 4].map((n) => system.tell(ref, n)), Array(4).fill(Delivery.Delivered));
  await system.idle();
  assert.deepEqual(seen, [3, 4]);
  const metrics = system.metrics();
  assert.equal(metrics.overflowDropped, 2);
  assert.equal(metrics.deadLetters, 2);
  assert.equal(metrics.overflowRejected, 0);
});

Deno.test("ActorSystem dropOldest overflow rejects a dropped ask with DeadLetterError", async () => {
  await using system = new ActorSystem({ clock: new FakeClock() });
  system.register<number>("lossy", {
    capacity: 1,
    overflow: "dropOldest",
    create: () => ({ receive: (n) => n }),
  });
  const ref = system.spawn<number>("lossy");
  const dropped = system.ask(ref, 1, ASK);
  const kept = system.ask(ref, 2, ASK);
  await assert.rejects(dropped, (error: Error) => {
    assert.ok(error instanceof DeadLetterError);
    assert.match(error.message, /dropped oldest: mailbox full/);
    return true;
  });
  assert.equal(await kept, 2);
});

Deno.test("ActorSystem overflow callback is called and the message rejected", async () => {
  await using system = new ActorSystem({ clock: new FakeClock() });
  const calls: OverflowInfo[] = [];
  const seen: unknown[] = [];
  system.register("slow", {
    capacity: 2,
    overflow: (info) => void calls.push(info),
    create: () => ({ receive: (m) => void seen.push(m) }),
  });
  const ref = system.spawn("slow");
  system.tell(ref, "a");
  system.tell(ref, "b");
  assert.equal(system.tell(ref, "c"), Delivery.Rejected);
  await assert.rejects(system.ask(ref, "d", ASK), MailboxFullError);
  assert.equal(calls.length, 2);
  assert.ok(refEquals(calls[0].ref, ref));
  assert.equal(calls[0].queued, 2);
  assert.equal(calls[0].envelope.body, "c");
  assert.equal(calls[1].envelope.body, "d");
  await system.idle();
  assert.deepEqual(seen, ["a", "b"]);
  assert.equal(system.metrics().overflowCallback, 2);
  assert.equal(system.metrics().overflowRejected, 0);
});

Deno.test("ActorSystem overflow callback may stop the slow actor", async () => {
  await using system = new ActorSystem({ clock: new FakeClock() });
  const seen: unknown[] = [];
  const stops: StopReason[] = [];
  system.register("socket", {
    capacity: 1,
    overflow: (info) => void system.stop(info.ref),
    create: () => ({
      receive: (m) => void seen.push(m),
      stopped: (_ctx, reason) => void stops.push(reason),
    }),
  });
  const ref = system.spawn("socket");
  assert.equal(system.tell(ref, "a"), Delivery.Delivered);
  assert.equal(system.tell(ref, "b"), Delivery.Rejected);
  await system.idle();
  // The stop takes the priority lane: the queued message is dead-lettered, not handled.
  assert.deepEqual(seen, []);
  assert.deepEqual(stops, ["stopped"]);
  assert.equal(system.isResident(ref), false);
  assert.equal(system.metrics().deadLetters, 1);
  assert.equal(system.tell(ref, "c"), Delivery.Dead);
});

Deno.test("ActorSystem overflow callback that throws is logged and the message still rejected", async () => {
  const logger = recordingLogger();
  await using system = new ActorSystem({ clock: new FakeClock(), logger });
  system.register("slow", {
    capacity: 1,
    overflow: () => {
      throw new Error("callback broke");
    },
    create: () => ({ receive: () => 0 }),
  });
  const ref = system.spawn("slow");
  system.tell(ref, 1);
  assert.equal(system.tell(ref, 2), Delivery.Rejected);
  assert.ok(
    logger.entries.some((e) => e.message === "Overflow callback threw" && e.level === "error"),
  );
});

// ---- turns ----------------------------------------------------------------------------

Deno.test("ActorSystem never re-enters an async receive while its turn awaits", async () => {
  await using system = new ActorSystem({ clock: new FakeClock() });
  const actor = gated(system);
  for (let i = 0; i < 5; i++) system.tell(actor.ref, i);
  await tick();
  for (let i = 0; i < 5; i++) {
    // Exactly one turn started per opened gate: the next message waited.
    assert.equal(actor.gates.length, i + 1);
    await tick();
    assert.equal(actor.gates.length, i + 1);
    actor.gates[i].resolve();
    await tick();
  }
  assert.deepEqual(actor.handled, [0, 1, 2, 3, 4]);
  assert.equal(actor.maxActive, 1);
});

Deno.test("ActorSystem keeps each sender's messages in order", async () => {
  await using system = new ActorSystem({ clock: new FakeClock() });
  const seen: [string, number][] = [];
  system.register<[string, number]>("sink", {
    create: () => ({
      async receive(message) {
        // Uneven async turns must not reorder anything.
        for (let i = 0; i < message[1] % 3; i++) await Promise.resolve();
        seen.push(message);
      },
    }),
  });
  const sink = system.spawn<[string, number]>("sink");
  system.register<string>("producer", {
    create: () => ({
      receive(name, ctx) {
        for (let n = 0; n < 50; n++) ctx.tell(sink, [name, n]);
      },
    }),
  });
  for (const name of ["a", "b", "c"]) system.tell(system.spawn<string>("producer"), name);
  for (let n = 0; n < 50; n++) system.tell(sink, ["main", n]);
  await system.idle();
  assert.equal(seen.length, 200);
  for (const name of ["a", "b", "c", "main"]) {
    const ns = seen.filter(([from]) => from === name).map(([, n]) => n);
    assert.deepEqual(ns, Array.from({ length: 50 }, (_, i) => i), name);
  }
});

Deno.test("ActorSystem gives other actors a turn after `throughput` messages", async () => {
  await using system = new ActorSystem({ clock: new FakeClock() });
  const log: string[] = [];
  system.register<string>("fair", {
    throughput: 2,
    create: () => ({ receive: (m) => void log.push(m) }),
  });
  const a = system.spawn<string>("fair");
  const b = system.spawn<string>("fair");
  for (let i = 0; i < 4; i++) system.tell(a, `a${i}`);
  for (let i = 0; i < 4; i++) system.tell(b, `b${i}`);
  await system.idle();
  assert.deepEqual(log, ["a0", "a1", "b0", "b1", "a2", "a3", "b2", "b3"]);
});

Deno.test("ActorSystem yields to the event loop after sliceBudget messages", async () => {
  await using system = new ActorSystem({ clock: new FakeClock(), sliceBudget: 10 });
  let handled = 0;
  system.register("count", { throughput: 5, create: () => ({ receive: () => void handled++ }) });
  const ref = system.spawn("count");
  for (let i = 0; i < 100; i++) system.tell(ref, i);
  await Promise.resolve();
  await Promise.resolve();
  // One microtask round handles one budget, the rest waits for macrotasks.
  assert.equal(handled, 10);
  await system.idle();
  assert.equal(handled, 100);
});

Deno.test("ActorContext gives self, sender, spawn, tell and ask to a turn", async () => {
  await using system = new ActorSystem({ clock: new FakeClock() });
  const senders: (string | undefined)[] = [];
  system.register<string>("echo", {
    create: () => ({
      receive(message, ctx) {
        senders.push(ctx.sender && refKey(ctx.sender));
        return `${refKey(ctx.self)}:${message}`;
      },
    }),
  });
  system.register<string>("boss", {
    create: () => ({
      async receive(message, ctx: ActorContext) {
        const child = ctx.spawn<string>("echo");
        ctx.tell(child, "told");
        return await ctx.ask<string>(child, message, ASK);
      },
    }),
  });
  const boss = system.spawn<string>("boss");
  const answer = await system.ask<string>(boss, "asked", ASK);
  await system.idle();
  const child = refKey({ ...boss, kind: "echo", local: boss.local + 1 });
  assert.equal(answer, `${child}:asked`);
  // The told message names the boss; an ask does not name its asker.
  assert.deepEqual(senders, [refKey(boss), undefined]);
});

// ---- ask ------------------------------------------------------------------------------

Deno.test("ActorSystem.ask() resolves with the value receive returns, sync or async", async () => {
  await using system = new ActorSystem({ clock: new FakeClock() });
  system.register<number>("sync", { create: () => ({ receive: (n) => n + 1 }) });
  system.register<number>("async", {
    create: () => ({
      async receive(n) {
        await Promise.resolve();
        return n * 10;
      },
    }),
  });
  assert.equal(await system.ask(system.spawn<number>("sync"), 1, ASK), 2);
  assert.equal(await system.ask(system.spawn<number>("async"), 2, ASK), 20);
  assert.equal(system.metrics().asksTimedOut, 0);
});

Deno.test("ActorSystem.ask() throws RangeError without a positive finite timeout", async () => {
  await using system = new ActorSystem({ clock: new FakeClock() });
  system.register("echo", { create: () => ({ receive: (m) => m }) });
  const ref = system.spawn("echo");
  const bad = [undefined, {}, { timeoutMs: 0 }, { timeoutMs: -5 }, { timeoutMs: NaN }, {
    timeoutMs: Infinity,
  }, { timeoutMs: "10" }];
  for (const options of bad) {
    assert.throws(
      () => system.ask(ref, 1, options as unknown as AskOptions),
      RangeError,
      JSON.stringify(options),
    );
  }
  await system.idle();
  // None of them was sent.
  assert.equal(system.metrics().messagesDelivered, 0);
});

Deno.test("ActorSystem.ask() rejects with AskTimeoutError after the deadline", async () => {
  const clock = new FakeClock();
  const system = new ActorSystem({ clock });
  try {
    system.register("mute", { create: () => ({ receive: () => new Promise(() => {}) }) });
    const ref = system.spawn("mute");
    let settled = false;
    const answer = system.ask(ref, "hello?", { timeoutMs: 100 });
    answer.catch(() => {}).finally(() => settled = true);
    await tick();
    clock.advance(99);
    await tick();
    assert.equal(settled, false);
    clock.advance(1);
    await assert.rejects(answer, (error: Error) => {
      assert.ok(error instanceof AskTimeoutError);
      assert.equal(error.message, `Ask to ${refKey(ref)} timed out after 100 ms`);
      return true;
    });
    assert.equal(system.metrics().asksTimedOut, 1);
  } finally {
    // The actor never finishes its turn: shutdown gives up on it after the timeout.
    const started = Date.now();
    await system.shutdown({ timeoutMs: 50 });
    assert.ok(Date.now() - started < 2_000);
    assert.equal(system.metrics().residents, 0);
  }
});

Deno.test("ActorSystem.ask() drops a reply that comes after the timeout", async () => {
  const clock = new FakeClock();
  await using system = new ActorSystem({ clock });
  const actor = gated(system);
  const late = system.ask(actor.ref, "late", { timeoutMs: 100 });
  await tick();
  clock.advance(100);
  await assert.rejects(late, AskTimeoutError);
  actor.gates[0].resolve();
  await tick();
  assert.deepEqual(actor.handled, ["late"]);
  // The actor goes on normally and the next ask gets its own answer.
  const next = system.ask(actor.ref, "next", { timeoutMs: 100 });
  await tick();
  actor.gates[1].resolve();
  assert.equal(await next, "next");
  const metrics = system.metrics();
  assert.equal(metrics.asksTimedOut, 1);
  assert.equal(metrics.deadLetters, 0);
  assert.equal(clock.pending(), 0);
});

Deno.test("ActorSystem.ask() clears its timer when answered", async () => {
  const clock = new FakeClock();
  await using system = new ActorSystem({ clock });
  system.register("echo", { create: () => ({ receive: (m) => m }) });
  assert.equal(await system.ask(system.spawn("echo"), 1, { timeoutMs: 50 }), 1);
  assert.equal(clock.pending(), 0);
  clock.advance(100);
  assert.equal(system.metrics().asksTimedOut, 0);
});

Deno.test("ActorSystem.ask() rejects with ActorFailedError when receive throws", async () => {
  await using system = new ActorSystem({ clock: new FakeClock() });
  system.register<string>("fragile", {
    create: () => ({
      receive(m) {
        if (m === "sync") throw new Error("sync boom");
        return Promise.reject(new Error("async boom"));
      },
    }),
  });
  const ref = system.spawn<string>("fragile");
  await assert.rejects(system.ask(ref, "sync", ASK), (error: Error) => {
    assert.ok(error instanceof ActorFailedError);
    assert.equal(error.message, `Actor ${refKey(ref)} failed: sync boom`);
    return true;
  });
  // A fresh actor: the first one waits out its restart backoff.
  await assert.rejects(system.ask(system.spawn<string>("fragile"), "async", ASK), {
    name: "ActorFailedError",
    message: /failed: async boom$/,
  });
  assert.equal(system.metrics().failures, 2);
});

Deno.test("ActorSystem.ask() rejects with DeadLetterError for an unknown actor", async () => {
  await using system = new ActorSystem({ clock: new FakeClock() });
  await assert.rejects(system.ask(virtualRef("ghost", "1"), 1, ASK), (error: Error) => {
    assert.ok(error instanceof DeadLetterError);
    assert.equal(error.message, "Cannot deliver to ghost/1: no such actor");
    return true;
  });
  assert.equal(system.metrics().deadLetters, 1);
});

// ---- cloneLocal -----------------------------------------------------------------------

Deno.test("ActorSystem with cloneLocal isolates the receiver from later mutation", async () => {
  for (const cloneLocal of [true, false]) {
    await using system = new ActorSystem({ clock: new FakeClock(), cloneLocal });
    const seen: number[][] = [];
    system.register<{ list: number[] }>("sink", {
      create: () => ({ receive: (m) => void seen.push(m.list) }),
    });
    const body = { list: [1] };
    system.tell(system.spawn("sink"), body);
    body.list.push(2);
    await system.idle();
    assert.deepEqual(seen, [cloneLocal ? [1] : [1, 2]], `cloneLocal ${cloneLocal}`);
  }
});

// ---- lifecycle ------------------------------------------------------------------------

Deno.test("ActorSystem runs started before the first message and stopped after the last", async () => {
  await using system = new ActorSystem({ clock: new FakeClock() });
  const log: string[] = [];
  system.register<string>("life", {
    create: () => ({
      async started() {
        await Promise.resolve();
        log.push("started");
      },
      receive: (m) => void log.push(m),
      async stopped(_ctx, reason) {
        await Promise.resolve();
        log.push(`stopped:${reason}`);
      },
    }),
  });
  const ref = system.spawn<string>("life");
  system.tell(ref, "a");
  system.tell(ref, "b");
  await system.idle();
  assert.equal(system.stop(ref), Delivery.Delivered);
  await system.idle();
  assert.deepEqual(log, ["started", "a", "b", "stopped:stopped"]);
  assert.equal(system.isResident(ref), false);
});

Deno.test("ActorContext.stop() stops the actor after the current turn", async () => {
  await using system = new ActorSystem({ clock: new FakeClock() });
  const log: string[] = [];
  for (const kind of ["sync", "async"]) {
    system.register<string>(kind, {
      create: () => ({
        receive(m, ctx) {
          log.push(`${kind}:${m}`);
          if (m === "quit") ctx.stop();
          return kind === "async" ? Promise.resolve(`bye ${m}`) : `bye ${m}`;
        },
        stopped: (_ctx, reason) => void log.push(`${kind}:stopped:${reason}`),
      }),
    });
    const ref = system.spawn<string>(kind);
    const answer = system.ask(ref, "quit", ASK);
    const after = system.ask(ref, "after", ASK);
    // The stopping turn still answers; what was queued behind it is dead.
    assert.equal(await answer, "bye quit");
    await assert.rejects(after, DeadLetterError);
    await system.idle();
    assert.equal(system.isResident(ref), false);
  }
  assert.deepEqual(log, [
    "sync:quit",
    "sync:stopped:stopped",
    "async:quit",
    "async:stopped:stopped",
  ]);
  assert.equal(system.metrics().deadLetters, 2);
});

Deno.test("ActorSystem.stop() runs stopped and dead-letters the queued messages", async () => {
  await using system = new ActorSystem({ clock: new FakeClock() });
  const actor = gated(system);
  system.tell(actor.ref, 1);
  await tick();
  system.tell(actor.ref, 2);
  const queuedAsk = system.ask(actor.ref, 3, ASK);
  assert.equal(system.stop(actor.ref), Delivery.Delivered);
  actor.gates[0].resolve();
  await assert.rejects(queuedAsk, DeadLetterError);
  await system.idle();
  assert.deepEqual(actor.handled, [1]);
  assert.deepEqual(actor.stops, ["stopped"]);
  assert.equal(system.metrics().deadLetters, 2);
  assert.equal(system.isResident(actor.ref), false);
  assert.equal(system.tell(actor.ref, 4), Delivery.Dead);
  // Stopping what is already gone is a no-op.
  assert.equal(system.stop(actor.ref), Delivery.Delivered);
  assert.equal(system.metrics().deadLetters, 3);
});

Deno.test("ActorSystem finishes stopping when the stopped hook throws", async () => {
  const logger = recordingLogger();
  await using system = new ActorSystem({ clock: new FakeClock(), logger });
  system.register("grumpy", {
    create: () => ({
      receive: () => 0,
      stopped() {
        throw new Error("no");
      },
    }),
  });
  const ref = system.spawn("grumpy");
  system.stop(ref);
  await system.idle();
  assert.equal(system.isResident(ref), false);
  assert.equal(system.metrics().restarts, 0);
  assert.ok(logger.entries.some((e) => e.message === "Actor failed while stopping"));
});

// ---- idle and shutdown ----------------------------------------------------------------

Deno.test("ActorSystem.idle() resolves at once when there is no work", async () => {
  await using system = new ActorSystem({ clock: new FakeClock() });
  await system.idle();
  system.register("echo", { create: () => ({ receive: (m) => m }) });
  system.spawn("echo");
  await system.idle();
  assert.equal(system.metrics().queued, 0);
});

Deno.test("ActorSystem.idle() waits for an async started hook", async () => {
  await using system = new ActorSystem({ clock: new FakeClock() });
  const loaded = Promise.withResolvers<void>();
  let ready = false;
  system.register("slow", {
    create: () => ({
      async started() {
        await loaded.promise;
        ready = true;
      },
      receive: () => 0,
    }),
  });
  system.spawn("slow");
  const idle = system.idle();
  await tick();
  loaded.resolve();
  await idle;
  assert.equal(ready, true);
});

Deno.test("ActorSystem.shutdown() runs stopped hooks with reason shutdown", async () => {
  const system = new ActorSystem({ clock: new FakeClock() });
  const stops: string[] = [];
  for (const kind of ["conn", "user"]) {
    system.register(kind, {
      virtual: kind === "user",
      create: (ref) => ({
        receive: () => 0,
        async stopped(_ctx, reason) {
          await Promise.resolve();
          stops.push(`${refKey(ref)}:${reason}`);
        },
      }),
    });
  }
  const conn = system.spawn("conn");
  system.tell(virtualRef("user", "1"), "hi");
  await system.idle();
  assert.equal(system.metrics().residents, 2);
  await system.shutdown();
  assert.deepEqual(stops.sort(), [`${refKey(conn)}:shutdown`, "user/1:shutdown"]);
  assert.equal(system.metrics().residents, 0);
  assert.equal(system.metrics().passivations, 0);
});

Deno.test("ActorSystem.shutdown() rejects pending asks with ShutdownError", async () => {
  const system = new ActorSystem({ clock: new FakeClock() });
  system.register("mute", { create: () => ({ receive: () => new Promise(() => {}) }) });
  const answer = system.ask(system.spawn("mute"), "?", ASK);
  await tick();
  await system.shutdown({ timeoutMs: 50 });
  await assert.rejects(answer, (error: Error) => {
    assert.ok(error instanceof ShutdownError);
    assert.equal(error.message, "Ask abandoned: actor system is shut down");
    return true;
  });
});

Deno.test("ActorSystem.shutdown() makes later tells dead and later asks and spawns fail", async () => {
  const system = new ActorSystem({ clock: new FakeClock() });
  system.register("conn", { create: () => ({ receive: (m) => m }) });
  system.register("user", { virtual: true, create: () => ({ receive: (m) => m }) });
  const conn = system.spawn("conn");
  await system.shutdown();
  await system.shutdown(); // twice is fine
  assert.equal(system.tell(conn, 1), Delivery.Dead);
  assert.equal(system.tell(virtualRef("user", "1"), 1), Delivery.Dead);
  assert.equal(system.isResident(virtualRef("user", "1")), false);
  assert.equal(system.metrics().activations, 0);
  await assert.rejects(system.ask(conn, 1, ASK), ShutdownError);
  assert.throws(() => system.spawn("conn"), ShutdownError);
});

Deno.test("ActorSystem.shutdown() dead-letters queued messages", async () => {
  const system = new ActorSystem({ clock: new FakeClock() });
  const actor = gated(system);
  system.tell(actor.ref, 1);
  await tick();
  const queued = assert.rejects(system.ask(actor.ref, 2, ASK), DeadLetterError);
  const done = system.shutdown();
  actor.gates[0].resolve();
  await done;
  await queued;
  assert.deepEqual(actor.handled, [1]);
  assert.deepEqual(actor.stops, ["shutdown"]);
});

Deno.test("ActorSystem[Symbol.asyncDispose]() shuts the system down", async () => {
  const stops: StopReason[] = [];
  let system: ActorSystem;
  {
    await using scoped = new ActorSystem({ clock: new FakeClock() });
    system = scoped;
    system.register("conn", {
      create: () => ({ receive: () => 0, stopped: (_c, r) => void stops.push(r) }),
    });
    system.spawn("conn");
  }
  assert.deepEqual(stops, ["shutdown"]);
  assert.throws(() => system.spawn("conn"), ShutdownError);
});

Deno.test("ActorSystem.ask() with an uncloneable body throws and leaves nothing pending", async () => {
  const clock = new FakeClock();
  await using system = new ActorSystem({ clock, cloneLocal: true });
  system.register("echo", { create: () => ({ receive: (m) => m }) });
  const ref = system.spawn("echo");
  assert.throws(() => system.tell(ref, { fn: () => 1 }), { name: "DataCloneError" });
  assert.throws(() => system.ask(ref, { fn: () => 1 }, ASK), { name: "DataCloneError" });
  // No orphaned timer that would later reject a promise nobody holds.
  assert.equal(clock.pending(), 0);
  clock.advance(ASK.timeoutMs);
  assert.equal(system.metrics().asksTimedOut, 0);
  assert.equal(await system.ask(ref, "still fine", ASK), "still fine");
});

Deno.test("ActorContext.stop() in started stops the actor once started", async () => {
  await using system = new ActorSystem({ clock: new FakeClock() });
  const log: string[] = [];
  for (const kind of ["sync", "async"]) {
    system.register(kind, {
      create: () => ({
        started(ctx) {
          log.push(`${kind}:started`);
          ctx.stop();
          return kind === "async" ? Promise.resolve() : undefined;
        },
        receive: (m) => void log.push(`${kind}:${m}`),
        stopped: (_ctx, reason) => void log.push(`${kind}:stopped:${reason}`),
      }),
    });
    const ref = system.spawn(kind);
    await system.idle();
    assert.equal(system.isResident(ref), false, kind);
    assert.equal(system.tell(ref, "late"), Delivery.Dead);
  }
  assert.deepEqual(log, [
    "sync:started",
    "sync:stopped:stopped",
    "async:started",
    "async:stopped:stopped",
  ]);
});

Deno.test("ActorContext.stop() in an undelivered hook stops the actor", async () => {
  await using system = new ActorSystem({ clock: new FakeClock() });
  const stops: StopReason[] = [];
  system.register("producer", {
    create: () => ({
      receive: (_m, ctx) => void ctx.tell(virtualRef("ghost", "1"), "hello"),
      undelivered: (ctx) => ctx.stop(),
      stopped: (_ctx, reason) => void stops.push(reason),
    }),
  });
  const ref = system.spawn("producer");
  system.tell(ref, "go");
  await system.idle();
  assert.deepEqual(stops, ["stopped"]);
  assert.equal(system.isResident(ref), false);
});

Deno.test("ActorContext.schedule() reaches the actor even when its mailbox is full", async () => {
  const system = new ActorSystem();
  const seen: string[] = [];
  const gate = Promise.withResolvers<void>();
  system.register<string>("worker", {
    virtual: true,
    capacity: 2,
    create: () => ({
      async receive(m, ctx) {
        seen.push(m);
        if (m === "start") {
          // Work whose completion must not be lost to a full mailbox.
          gate.promise.then(() => ctx.schedule("done"));
          await gate.promise;
        }
      },
    }),
  });
  const ref = virtualRef("worker", "w");
  system.tell(ref, "start");
  await Promise.resolve();
  system.tell(ref, "a");
  system.tell(ref, "b");
  assert.equal(system.tell(ref, "c"), "rejected");
  gate.resolve();
  await system.idle();
  assert.deepEqual(seen, ["start", "done", "a", "b"]);
  await system.shutdown();
});
