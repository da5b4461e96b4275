import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { ServiceUnavailableError } from "./errors.ts";
import { LocalServiceBus } from "./service_bus_local.ts";
import { NatsServiceBus } from "./service_bus_nats.ts";
import { remotePort, servePort } from "./service_port.ts";

const NATS_URL = Deno.env.get("FLASH_TEST_NATS_URL") ?? "nats://127.0.0.1:4222";

class Counter {
  #total = 0n;
  add(n: bigint): Promise<bigint> {
    this.#total += n;
    return Promise.resolve(this.#total);
  }
  fail(): Promise<never> {
    return Promise.reject(Object.assign(new Error("store down"), { code: "ECONNREFUSED" }));
  }
  secret(): Promise<string> {
    return Promise.resolve("not served");
  }
}

Deno.test("servePort() and remotePort() call the listed methods in-process on a lone bus", async () => {
  await using bus = new LocalServiceBus();
  const counter = new Counter();
  await servePort(bus, "count", counter, ["add", "fail"]);
  const remote = remotePort<Counter, "add" | "fail">(bus, "count", ["add", "fail"]);
  assert.equal(await remote.add(2n), 2n);
  assert.equal(await remote.add(3n), 5n);
  await assert.rejects(remote.fail(), { message: "store down", code: "ECONNREFUSED" });
  // A method not listed does not cross, even asked for by name.
  await assert.rejects(bus.call("count", { m: "secret", a: [] }), TypeError);
  await assert.rejects(bus.call("count", "garbage"), TypeError);
  await assert.rejects(servePort(bus, "other", counter, ["nope" as "add"]), TypeError);
  const absent = remotePort<Counter, "add">(bus, "absent", ["add"]);
  await assert.rejects(absent.add(1n), ServiceUnavailableError);
});

Deno.test("remotePort() reaches a port served by another node over NATS", async () => {
  const cluster = `port-${crypto.randomUUID().slice(0, 8)}`;
  const [serverNc, clientNc] = await Promise.all([
    connect({ servers: NATS_URL }),
    connect({ servers: NATS_URL }),
  ]);
  try {
    await using server = new NatsServiceBus({ nc: serverNc, cluster });
    await using client = new NatsServiceBus({ nc: clientNc, cluster });
    await servePort(server, "count", new Counter(), ["add", "fail"]);
    const remote = remotePort<Counter, "add" | "fail">(client, "count", ["add", "fail"]);
    assert.equal(await remote.add(40n), 40n);
    assert.equal(await remote.add(2n), 42n);
    // The error crosses with its code: the caller can tell an outage from a bug.
    await assert.rejects(remote.fail(), { message: "store down", code: "ECONNREFUSED" });
  } finally {
    await Promise.all([serverNc.close(), clientNc.close()]);
  }
});
