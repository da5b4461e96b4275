import assert from "node:assert/strict";
import postgres from "postgres";
import { isBackendUnavailable } from "./unavailable.ts";
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
