import assert from "node:assert/strict";
import postgres from "postgres";
import {
  BackendTimeoutError,
  isBackendUnavailable,
  withDeadline,
  withDeadlines,
} from "./unavailable.ts";
import { openEphemeral, openStores, perMinute } from "./backends.ts";
import { REDIS_TEST_URL } from "./_redis_testing.ts";
import { openRedis } from "./redis.ts";
import { PG_TEST_URL } from "./_pg_testing.ts";

const coded = (code: string, message = code) => Object.assign(new Error(message), { code });

Deno.test("isBackendUnavailable() knows connection failures and shutdowns, not bugs", () => {
  assert.equal(isBackendUnavailable(coded("CONNECTION_CLOSED")), true);
  assert.equal(isBackendUnavailable(coded("57P01", "terminating connection")), true);
  assert.equal(isBackendUnavailable(coded("08006")), true);
  assert.equal(isBackendUnavailable(new Error("Connection is closed.")), true);
  assert.equal(
    isBackendUnavailable(
      new Error("outer", { cause: new AggregateError([coded("ECONNREFUSED")]) }),
    ),
    true,
  );
  assert.equal(isBackendUnavailable(coded("23505", "duplicate key")), false);
  assert.equal(isBackendUnavailable(new TypeError("x is undefined")), false);
  assert.equal(isBackendUnavailable("CONNECTION_CLOSED"), false);
});

Deno.test("isBackendUnavailable() recognises what the real drivers throw for a closed port", async () => {
  const sql = postgres(PG_TEST_URL.replace(":5432", ":1"), {
    max: 1,
    connect_timeout: 2,
    onnotice: () => {},
  });
  const pgError = await sql`select 1`.then(() => undefined, (error) => error);
  await sql.end({ timeout: 1 });
  assert.equal(isBackendUnavailable(pgError), true, String(pgError));
  const redisError = await openRedis("redis://127.0.0.1:1", { connectTimeoutMs: 1000 }).then(
    (redis) => redis.quit(),
    (error) => error,
  );
  assert.equal(isBackendUnavailable(redisError), true, String(redisError));
});

Deno.test("withDeadline() passes answers and errors through, and fails a stranded call as unavailable", async () => {
  assert.equal(await withDeadline(Promise.resolve(7), 50, "fast"), 7);
  await assert.rejects(withDeadline(Promise.reject(new RangeError("no")), 50, "bad"), RangeError);
  const stranded = new Promise<number>(() => {});
  const error = await withDeadline(stranded, 20, "users.byId").catch((e) => e);
  assert.ok(error instanceof BackendTimeoutError);
  assert.equal(error.message, "users.byId got no answer within 20 ms");
  assert.equal(isBackendUnavailable(error), true);
});

Deno.test("withDeadlines() bounds a port's async methods and leaves the rest alone", async () => {
  class Port {
    #answers = 0;
    size = 3;
    count(): number {
      return this.#answers;
    }
    answer(value: string): Promise<string> {
      this.#answers++;
      return Promise.resolve(value);
    }
    hang(): Promise<never> {
      return new Promise(() => {});
    }
  }
  const port = withDeadlines(new Port(), 20, "port");
  assert.equal(await port.answer("a"), "a"); // private fields still reachable
  assert.equal(port.count(), 1);
  assert.equal(port.size, 3);
  assert.equal(port.answer, port.answer, "one wrapper per method");
  await assert.rejects(port.hang(), { name: "BackendTimeoutError", message: /port\.hang/ });
  assert.throws(() => withDeadlines(new Port(), 0, "port"), RangeError);
});

Deno.test("openStores({ migrate: false }) opens without a server; calls fail as unavailable", async () => {
  const stores = await openStores({
    dataDir: "unused",
    postgres: { url: PG_TEST_URL.replace(":5432", ":1"), migrate: false, poolSize: 1 },
  });
  try {
    const error = await stores.users.byUsername("alice").catch((e) => e);
    assert.equal(isBackendUnavailable(error), true, String(error));
  } finally {
    await stores.close();
  }
});

Deno.test("openEphemeral({ waitForServer: false }) opens without Redis; calls fail as unavailable", async () => {
  const ephemeral = await openEphemeral({
    nodeKey: "unused",
    redis: { url: "redis://127.0.0.1:1", prefix: "unused:" },
    loginLimits: { perAccount: perMinute(1), perAddress: perMinute(1) },
    waitForServer: false,
  });
  try {
    const error = await ephemeral.revocations.isRevoked("s1").catch((e) => e);
    assert.equal(isBackendUnavailable(error), true, String(error));
  } finally {
    await ephemeral.close();
  }
});

Deno.test("openEphemeral({ waitForServer: false }) connects in the background", async () => {
  const prefix = `lazy-${crypto.randomUUID()}:`;
  const ephemeral = await openEphemeral({
    nodeKey: "unused",
    redis: { url: REDIS_TEST_URL, prefix },
    loginLimits: { perAccount: perMinute(1), perAddress: perMinute(1) },
    waitForServer: false,
  });
  try {
    let answer: boolean | undefined;
    for (let tries = 0; tries < 100 && answer === undefined; tries++) {
      answer = await ephemeral.revocations.isRevoked("s1").catch(() => undefined);
      if (answer === undefined) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(answer, false);
  } finally {
    await ephemeral.close();
  }
});
