import assert from "node:assert/strict";
import { serialize } from "node:v8";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ActorSystem } from "./actor_system.ts";
import type { WireMessage } from "./envelope.ts";
import { type Location, type VirtualRef, virtualRef } from "./ref.ts";
import { NatsTransport, type NatsTransportOptions, workerSubject } from "./nats_transport.ts";

const NATS_URL = Deno.env.get("FLASH_TEST_NATS_URL") ?? "nats://127.0.0.1:4222";
const A: Location = { node: "node-a", worker: 0 };
const B: Location = { node: "node-b", worker: 0 };

function randomCluster(): string {
  return `test-${crypto.randomUUID()}`;
}

/** A NATS connection that `await using` closes. */
async function natsConnection(): Promise<NatsConnection & AsyncDisposable> {
  const nc = await connect({ servers: NATS_URL });
  return Object.assign(nc, { [Symbol.asyncDispose]: () => nc.close() });
}

/** Polls `check` every few ms; fails with `what` after `ms`. */
async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** A transport whose sink records what arrives. */
function recorder(
  nc: NatsConnection,
  cluster: string,
  at: Location,
  options: Partial<NatsTransportOptions> = {},
) {
  const got: WireMessage[] = [];
  const errors: string[] = [];
  const transport = NatsTransport.listen(
    {
      nc,
      cluster,
      node: at.node,
      worker: at.worker,
      onError: (what) => void errors.push(what),
      ...options,
    },
    { receive: (message) => void got.push(message) },
  );
  return { transport, got, errors, bodies: () => got.map((m) => (m as { body: unknown }).body) };
}

/** A round trip through the server: everything published before it has been handled. */
async function roundTrip(...connections: NatsConnection[]): Promise<void> {
  for (const nc of connections) await nc.flush();
}

const probe = virtualRef("probe", "p1");

/** An actor system as one node, joined to the others by a NatsTransport; `probe` lives on node-b. */
async function natsNode(cluster: string, at: Location) {
  const nc = await natsConnection();
  // The system needs its transport and the transport its sink: tie the knot through `link`.
  const link: { nats?: NatsTransport } = {};
  const received: unknown[] = [];
  const system = new ActorSystem({
    node: at.node,
    worker: at.worker,
    locate: (ref: VirtualRef) => (ref.kind === "probe" ? B : at),
    transport: { send: (to, message) => link.nats?.send(to, message) ?? false },
  });
  system.register<unknown>("probe", {
    virtual: true,
    capacity: 20_000,
    create: () => ({
      receive: (message) => {
        received.push(message);
        return message;
      },
    }),
  });
  const transport = NatsTransport.listen({ nc, cluster, ...at }, system);
  link.nats = transport;
  await nc.flush(); // the server has the subscription before other connections publish
  return {
    system,
    transport,
    received,
    async [Symbol.asyncDispose]() {
      await system.shutdown();
      await transport.close();
      await nc.close();
    },
  };
}

Deno.test("workerSubject() keeps node ids with dots in one token, injectively", () => {
  assert.equal(workerSubject("c", "n1", 3), "flashim.c.w.n1.3");
  assert.equal(workerSubject("c", "n1", -1), "flashim.c.w.n1.main");
  assert.equal(workerSubject("c", "host.1234.k3j9", 0), "flashim.c.w.host~2e1234~2ek3j9.0");
  assert.notEqual(workerSubject("c", "a.b", 0), workerSubject("c", "a~2eb", 0));
  assert.match(workerSubject("a b*>", "é", 0), /^flashim\.[A-Za-z0-9_~-]+\.w\.[A-Za-z0-9_~-]+\.0$/);
  assert.throws(() => workerSubject("", "n", 0), TypeError);
  assert.throws(() => workerSubject("c", "", 0), TypeError);
  assert.throws(() => workerSubject("c", "n", -2), RangeError);
  assert.throws(() => workerSubject("c", "n", 1.5), RangeError);
});

Deno.test("NatsTransport.listen() rejects invalid options with RangeError", async () => {
  await using nc = await natsConnection();
  const sink = { receive: () => {} };
  const base = { nc, cluster: randomCluster(), node: "n", worker: 0 };
  assert.throws(() => NatsTransport.listen({ ...base, maxBatch: 0 }, sink), RangeError);
  assert.throws(() => NatsTransport.listen({ ...base, maxQueuedBytes: -1 }, sink), RangeError);
  assert.throws(() => NatsTransport.listen({ ...base, worker: -3 }, sink), RangeError);
});

Deno.test("NatsTransport carries tells and asks between two actor systems, in order", async () => {
  const cluster = randomCluster();
  await using a = await natsNode(cluster, A);
  await using b = await natsNode(cluster, B);

  assert.deepEqual(await a.system.ask(probe, { hello: "b" }, { timeoutMs: 5_000 }), {
    hello: "b",
  });
  assert.ok(!a.system.isResident(probe), "the probe lives on node-b only");
  assert.ok(b.system.isResident(probe));

  b.received.length = 0;
  for (let i = 0; i < 10_000; i++) a.system.tell(probe, i);
  await until(() => b.received.length === 10_000, "10,000 tells");
  assert.deepEqual(b.received, [...Array(10_000).keys()]);
  assert.equal(a.transport.stats.messagesSent, 10_001);
  assert.ok(a.transport.stats.batchesSent < 100, "tells are batched");
  assert.equal(b.transport.stats.messagesReceived, 10_001);
  assert.equal(a.transport.stats.messagesReceived, 1, "the reply came back over NATS");
});

Deno.test("NatsTransport round-trips a bigint and a Uint8Array body", async () => {
  const cluster = randomCluster();
  await using a = await natsNode(cluster, A);
  await using b = await natsNode(cluster, B);
  const body = { big: 2n ** 80n, bytes: new Uint8Array([0, 1, 254, 255]), none: undefined };

  const echoed = await a.system.ask<typeof body>(probe, body, { timeoutMs: 5_000 });
  for (const got of [b.received[0] as typeof body, echoed]) {
    assert.equal(got.big, 2n ** 80n);
    assert.ok(got.bytes instanceof Uint8Array);
    assert.deepEqual([...got.bytes], [0, 1, 254, 255]);
    assert.ok("none" in got && got.none === undefined);
  }
});

Deno.test("NatsTransport splits a batch over max payload in order and drops a message too large", async () => {
  await using nc = await natsConnection();
  const cluster = randomCluster();
  const errors: string[] = [];
  await using sender = NatsTransport.listen(
    { nc, cluster, ...A, onError: (what) => void errors.push(what) },
    { receive: () => {} },
  );
  const receiver = recorder(nc, cluster, B);
  await using _receiver = receiver.transport;
  const maxPayload = nc.info!.max_payload;
  assert.ok(maxPayload <= 2 * 1024 * 1024, `server max payload ${maxPayload}`);

  const to = { kind: "probe", id: "p" };
  const chunk = (i: number) => new Uint8Array(100_000).fill(i);
  for (let i = 0; i < 30; i++) {
    assert.ok(sender.send(B, { to, body: i === 15 ? new Uint8Array(maxPayload) : chunk(i) }));
  }
  sender.flush();
  await until(() => receiver.got.length === 29, "29 large messages");
  const bodies = receiver.bodies() as Uint8Array[];
  assert.deepEqual(bodies.map((b) => b[0]), [...Array(30).keys()].filter((i) => i !== 15));
  assert.ok(bodies.every((b) => b.length === 100_000));
  assert.ok(sender.stats.batchesSent >= 3, `${sender.stats.batchesSent} payloads`);
  assert.equal(sender.stats.dropped, 1);
  assert.equal(errors.length, 1);
  assert.match(errors[0]!, /exceeds/);
});

Deno.test("NatsTransport drops an unserializable message and delivers the rest of its batch", async () => {
  await using nc = await natsConnection();
  const cluster = randomCluster();
  const errors: unknown[] = [];
  await using sender = NatsTransport.listen(
    { nc, cluster, ...A, onError: (_what, error) => void errors.push(error) },
    { receive: () => {} },
  );
  const receiver = recorder(nc, cluster, B);
  await using _receiver = receiver.transport;

  const to = { kind: "probe", id: "p" };
  for (let i = 0; i < 10; i++) {
    assert.ok(sender.send(B, { to, body: i === 4 ? { f: () => i } : i }));
  }
  await until(() => receiver.got.length === 9, "9 messages");
  assert.deepEqual(receiver.bodies(), [0, 1, 2, 3, 5, 6, 7, 8, 9]);
  assert.equal(sender.stats.dropped, 1);
  assert.equal(errors.length, 1);
  assert.equal(sender.stats.messagesSent, 9);
});

Deno.test("NatsTransport counts and reports undecodable data and keeps receiving", async () => {
  await using nc = await natsConnection();
  const cluster = randomCluster();
  await using sender = NatsTransport.listen({ nc, cluster, ...A }, { receive: () => {} });
  const receiver = recorder(nc, cluster, B);
  await using _receiver = receiver.transport;

  const subject = workerSubject(cluster, B.node, B.worker);
  nc.publish(subject, new Uint8Array([1, 2, 3]));
  nc.publish(subject, new Uint8Array());
  nc.publish(subject, serialize({ not: "a batch" }));
  nc.publish(
    subject,
    serialize({
      t: "m",
      r: [{ kind: "probe", id: "p" }],
      s: [],
      h: new Float64Array([0, 0, 9]),
      b: ["x"],
    }),
  );
  await roundTrip(nc);
  await until(() => receiver.transport.stats.undecodable === 4, "4 undecodable payloads");
  assert.equal(receiver.errors.length, 4);
  assert.deepEqual(receiver.bodies(), ["x"], "a batch delivers up to its fault");

  sender.send(B, { to: { kind: "probe", id: "p" }, body: "after" });
  await until(() => receiver.got.length === 2, "a good message after garbage");
  assert.deepEqual(receiver.bodies(), ["x", "after"]);
});

Deno.test("NatsTransport.send() returns false after close() and on a closed connection", async () => {
  const cluster = randomCluster();
  const message = { to: { kind: "probe", id: "p" }, body: 1 };
  {
    await using nc = await natsConnection();
    const transport = NatsTransport.listen({ nc, cluster, ...A }, { receive: () => {} });
    assert.ok(transport.send(B, message));
    await transport.close();
    await transport.close();
    assert.equal(transport.send(B, message), false);
    assert.equal(transport.stats.messagesSent, 1, "close() flushed the queued message");
  }
  const nc = await connect({ servers: NATS_URL });
  const transport = NatsTransport.listen({ nc, cluster, ...A }, { receive: () => {} });
  await nc.close();
  assert.equal(transport.send(B, message), false);
  assert.equal(transport.stats.rejected, 1);
  await transport.close();
});

Deno.test("NatsTransport.send() returns false over maxQueuedBytes and never queues more", async () => {
  await using nc = await natsConnection();
  const cluster = randomCluster();
  const maxQueuedBytes = 100_000;
  await using sender = NatsTransport.listen(
    { nc, cluster, ...A, maxBatch: 4, maxQueuedBytes },
    { receive: () => {} },
  );
  const receiver = recorder(nc, cluster, B);
  await using _receiver = receiver.transport;

  const to = { kind: "probe", id: "p" };
  const accepted: number[] = [];
  let refused = 0;
  for (let i = 0; i < 100; i++) {
    if (sender.send(B, { to, body: new Uint8Array(10_000).fill(i) })) accepted.push(i);
    else refused++;
    assert.ok(sender.stats.queuedBytes <= maxQueuedBytes, `${sender.stats.queuedBytes} queued`);
  }
  sender.flush();
  assert.ok(sender.stats.queuedBytes <= maxQueuedBytes);
  assert.ok(refused > 50, `${refused} sends refused`);
  assert.equal(sender.stats.rejected, refused);
  const delivered = accepted.length - sender.stats.dropped;
  await until(() => receiver.got.length === delivered, `${delivered} messages`);
  const firsts = (receiver.bodies() as Uint8Array[]).map((b) => b[0]!);
  assert.ok(firsts.every((n, i) => accepted.includes(n) && (i === 0 || n > firsts[i - 1]!)));

  // The server's PONG releases the queue: sending works again.
  await until(() => sender.stats.queuedBytes === 0, "the queue to drain");
  assert.ok(sender.send(B, { to, body: "again" }));
  await until(() => receiver.got.length === delivered + 1, "a message after the queue drained");
});

Deno.test("NatsTransport.send() reaches its own worker; a throwing onError is contained", async () => {
  await using nc = await natsConnection();
  const cluster = randomCluster();
  const got: unknown[] = [];
  await using self = NatsTransport.listen(
    {
      nc,
      cluster,
      ...A,
      onError: () => {
        throw new Error("handler bug");
      },
    },
    { receive: (message) => void got.push((message as { body: unknown }).body) },
  );
  nc.publish(self.subject, new Uint8Array([0xff]));
  assert.ok(self.send(A, { to: { kind: "probe", id: "p" }, body: { f: () => 1 } }));
  assert.ok(self.send(A, { to: { kind: "probe", id: "p" }, body: "to myself" }));
  await until(() => got.length === 1, "a message to this worker");
  assert.deepEqual(got, ["to myself"]);
  assert.equal(self.stats.undecodable, 1);
  assert.equal(self.stats.dropped, 1);
});
