import assert from "node:assert/strict";
import { deserialize } from "node:v8";
import { connect } from "@nats-io/transport-node";
import {
  ServiceBusyError,
  ServiceTimeoutError,
  ServiceUnavailableError,
  ShutdownError,
} from "./errors.ts";
import type { Logger } from "./logger.ts";
import { serviceSubject } from "./service_bus.ts";
import { LocalServiceBus } from "./service_bus_local.ts";
import { NatsServiceBus, type NatsServiceBusOptions } from "./service_bus_nats.ts";

const NATS_URL = Deno.env.get("FLASH_TEST_NATS_URL") ?? "nats://127.0.0.1:4222";

function randomCluster(): string {
  return `test-${crypto.randomUUID()}`;
}

/** A bus on its own connection; disposing closes the bus, then the connection. */
async function natsBus(cluster: string, options: Partial<NatsServiceBusOptions> = {}) {
  const nc = await connect({ servers: NATS_URL });
  const bus = new NatsServiceBus({ nc, cluster, ...options });
  return Object.assign(bus, {
    nc,
    [Symbol.asyncDispose]: async () => {
      await bus.close();
      await nc.close();
    },
  });
}

/** Polls `check` every few ms; fails with `what` after `ms`. */
async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** A promise to hold handlers in flight, and its release. */
function gate() {
  const { promise, resolve } = Promise.withResolvers<void>();
  return { promise, open: () => resolve() };
}

function codedError(name: string, message: string, code: string): Error {
  return Object.assign(new Error(message), { name, code });
}

Deno.test("serviceSubject() sanitizes the cluster and the service into one token each", () => {
  assert.equal(serviceSubject("prod", "auth"), "flashim.prod.svc.auth");
  assert.equal(serviceSubject("prod", "sync.v2"), "flashim.prod.svc.sync~2ev2");
  assert.throws(() => serviceSubject("prod", ""), TypeError);
  assert.throws(() => serviceSubject("", "auth"), TypeError);
});

Deno.test("LocalServiceBus.call() answers, reports unknown services, passes handler errors", async () => {
  await using bus = new LocalServiceBus();
  await bus.serve("auth", (request) => {
    const { token } = request as { token: string };
    if (token === "down") throw codedError("PostgresError", "Connection refused", "ECONNREFUSED");
    return Promise.resolve({ user: token });
  });
  assert.deepEqual(await bus.call("auth", { token: "t1" }), { user: "t1" });
  await assert.rejects(bus.call("missing", {}), ServiceUnavailableError);
  await assert.rejects(bus.call("auth", { token: "down" }), {
    name: "PostgresError",
    message: "Connection refused",
    code: "ECONNREFUSED",
  });
  await assert.rejects(bus.serve("auth", () => Promise.resolve()), TypeError);
  await assert.rejects(bus.call("auth", {}, { timeoutMs: 0 }), RangeError);
});

Deno.test("LocalServiceBus.call() times out, refuses beyond maxConcurrent, fails after close", async () => {
  const held = gate();
  const bus = new LocalServiceBus({ maxConcurrent: 1 });
  const stop = await bus.serve("slow", () => held.promise);
  await assert.rejects(bus.call("slow", 1, { timeoutMs: 20 }), ServiceTimeoutError);
  // The timed-out handler still runs and holds the only slot.
  await assert.rejects(bus.call("slow", 2), ServiceBusyError);
  const stopped = stop();
  held.open();
  await stopped;
  await assert.rejects(bus.call("slow", 3), ServiceUnavailableError);
  await bus.close();
  await assert.rejects(bus.serve("slow", () => Promise.resolve()), ShutdownError);
});

Deno.test("NatsServiceBus spreads calls over a queue group, each handled exactly once", async () => {
  const cluster = randomCluster();
  await using a = await natsBus(cluster);
  await using b = await natsBus(cluster);
  await using client = await natsBus(cluster);
  const handled = { a: [] as number[], b: [] as number[] };
  await a.serve("auth", (n) => {
    handled.a.push(n as number);
    return Promise.resolve({ n, by: "a" });
  });
  await b.serve("auth", (n) => {
    handled.b.push(n as number);
    return Promise.resolve({ n, by: "b" });
  });
  const ids = Array.from({ length: 200 }, (_, i) => i);
  const replies = await Promise.all(
    ids.map((n) => client.call<{ n: number; by: string }>("auth", n)),
  );
  assert.deepEqual(replies.map((r) => r.n), ids);
  assert.ok(
    handled.a.length > 0 && handled.b.length > 0,
    `a ${handled.a.length}, b ${handled.b.length}`,
  );
  assert.deepEqual([...handled.a, ...handled.b].sort((x, y) => x - y), ids);
  assert.equal(replies.filter((r) => r.by === "a").length, handled.a.length);
  assert.equal(a.stats.handled + b.stats.handled, 200);
});

Deno.test("NatsServiceBus.call() fails fast with ServiceUnavailableError when nobody serves", async () => {
  await using client = await natsBus(randomCluster());
  const started = performance.now();
  await assert.rejects(client.call("auth", {}, { timeoutMs: 5000 }), ServiceUnavailableError);
  const elapsed = performance.now() - started;
  assert.ok(elapsed < 1000, `took ${elapsed} ms`);
});

Deno.test("NatsServiceBus.call() rejects with ServiceTimeoutError after its deadline", async () => {
  const cluster = randomCluster();
  const held = gate();
  await using server = await natsBus(cluster);
  await using client = await natsBus(cluster);
  await server.serve("auth", () => held.promise);
  try {
    const started = performance.now();
    await assert.rejects(client.call("auth", {}, { timeoutMs: 150 }), ServiceTimeoutError);
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 140 && elapsed < 2000, `took ${elapsed} ms`);
  } finally {
    held.open(); // close() waits for in-flight requests
  }
});

Deno.test("NatsServiceBus round-trips bigint, Uint8Array, undefined and coded errors", async () => {
  const cluster = randomCluster();
  await using server = await natsBus(cluster);
  await using client = await natsBus(cluster);
  const received: unknown[] = [];
  await server.serve("store", (request) => {
    received.push(request);
    const { op } = request as { op: string };
    if (op === "down") throw codedError("PostgresError", "Connection refused", "ECONNREFUSED");
    if (op === "slow") throw codedError("Error", "Backend timed out", "BACKEND_TIMEOUT");
    if (op === "bad") throw new RangeError("Invalid seq: -1");
    if (op === "string") return Promise.reject("plain string");
    return Promise.resolve({ ...(request as object), seq: 2n ** 70n });
  });
  const request = { op: "put", id: 1n, body: new Uint8Array([1, 2, 255]), missing: undefined };
  const reply = await client.call<Record<string, unknown>>("store", request);
  assert.deepEqual(received[0], request);
  assert.ok(Object.hasOwn(received[0] as object, "missing"));
  assert.deepEqual(reply, { ...request, seq: 2n ** 70n });
  assert.ok(reply.body instanceof Uint8Array && Object.hasOwn(reply, "missing"));
  assert.equal(
    await client.call("store-none", undefined, { timeoutMs: 1000 }).catch((e) => e.name),
    "ServiceUnavailableError",
  );
  await assert.rejects(client.call("store", { op: "down" }), (error: Error) => {
    assert.equal(error.name, "PostgresError");
    assert.equal(error.message, "Connection refused");
    assert.equal((error as Error & { code: string }).code, "ECONNREFUSED");
    return true;
  });
  await assert.rejects(client.call("store", { op: "slow" }), {
    name: "Error",
    message: "Backend timed out",
    code: "BACKEND_TIMEOUT",
  });
  await assert.rejects(client.call("store", { op: "bad" }), RangeError);
  await assert.rejects(client.call("store", { op: "string" }), { message: "plain string" });
  // Nothing is sent for a request that cannot be serialized.
  await assert.rejects(client.call("store", { op: "put", f: () => {} }), TypeError);
  assert.equal(received.length, 5);
});

Deno.test("NatsServiceBus answers ServiceBusyError beyond maxConcurrent", async () => {
  const cluster = randomCluster();
  const held = gate();
  let entered = 0;
  await using server = await natsBus(cluster, { maxConcurrent: 2 });
  await using client = await natsBus(cluster);
  await server.serve("auth", async (n) => {
    entered++;
    await held.promise;
    return n;
  });
  const first = client.call("auth", 1);
  const second = client.call("auth", 2);
  await until(() => entered === 2, "two requests in flight");
  await assert.rejects(client.call("auth", 3), ServiceBusyError);
  assert.equal(server.stats.busy, 1);
  held.open();
  assert.deepEqual(await Promise.all([first, second]), [1, 2]);
  assert.equal(await client.call("auth", 4), 4);
  assert.equal(entered, 3);
});

Deno.test("NatsServiceBus.call() runs a service it serves in-process, without NATS", async () => {
  await using bus = await natsBus(randomCluster());
  let seen: unknown;
  await bus.serve("sync", (request) => {
    seen = request;
    return Promise.resolve(request);
  });
  const request = { user: "42", since: 7n };
  const before = bus.nc.stats().outMsgs;
  const reply = await bus.call("sync", request);
  assert.equal(seen, request);
  assert.equal(reply, request);
  assert.equal(bus.nc.stats().outMsgs, before);
  assert.equal(bus.stats.handled, 0); // counts NATS requests only
});

Deno.test("NatsServiceBus keeps serving after garbage on the service subject", async () => {
  const cluster = randomCluster();
  const lines: string[] = [];
  const logger: Logger = { log: (_level, message) => void lines.push(message) };
  await using server = await natsBus(cluster, { logger });
  await using client = await natsBus(cluster);
  await server.serve("auth", (n) => Promise.resolve(n));
  const subject = serviceSubject(cluster, "auth");
  const garbage = new TextEncoder().encode("not a v8 value");
  client.nc.publish(subject, garbage); // no reply subject: dropped
  client.nc.publish(subject); // empty
  const answer = await client.nc.request(subject, garbage, { timeout: 2000 });
  const reply = deserialize(answer.data) as { ok: boolean; error: { name: string } };
  assert.equal(reply.ok, false);
  assert.equal(reply.error.name, "TypeError");
  assert.equal(await client.call("auth", 5), 5);
  assert.equal(server.stats.undecodable, 3);
  assert.equal(lines.length, 1); // rate-limited
});

Deno.test("NatsServiceBus.close() fails later calls; another server keeps serving", async () => {
  const cluster = randomCluster();
  await using a = await natsBus(cluster);
  await using b = await natsBus(cluster);
  await using client = await natsBus(cluster);
  const by: string[] = [];
  await a.serve("auth", () => Promise.resolve(by.push("a")));
  await b.serve("auth", () => Promise.resolve(by.push("b")));
  await assert.rejects(a.serve("auth", () => Promise.resolve()), TypeError);
  await a.close();
  await assert.rejects(a.call("auth", {}), ServiceUnavailableError);
  await assert.rejects(a.serve("other", () => Promise.resolve()), ShutdownError);
  by.length = 0;
  await Promise.all(Array.from({ length: 50 }, () => client.call("auth", {})));
  assert.deepEqual(new Set(by), new Set(["b"]));
  await b.close();
  await assert.rejects(client.call("auth", {}), ServiceUnavailableError);
});

Deno.test("NatsServiceBus stop() answers in-flight requests before it resolves", async () => {
  const cluster = randomCluster();
  const held = gate();
  await using server = await natsBus(cluster);
  await using client = await natsBus(cluster);
  let entered = false;
  const stop = await server.serve("auth", async () => {
    entered = true;
    await held.promise;
    return "done";
  });
  const call = client.call("auth", {});
  await until(() => entered, "the request in flight");
  let stopped = false;
  const stopping = stop().then(() => stopped = true);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(stopped, false);
  held.open();
  assert.equal(await call, "done");
  await stopping;
  await assert.rejects(client.call("auth", {}), ServiceUnavailableError);
});
