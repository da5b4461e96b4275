import assert from "node:assert/strict";
import { MigrationError } from "./errors.ts";
import { PG_TEST_URL, testSchemaName } from "./_pg_testing.ts";
import { knownPgDriverDefect, openPostgres, pgSchemaVersion, type Sql } from "./postgres.ts";
import type { Migration } from "./sqlite.ts";

const STEPS: Migration[] = [
  { name: "log", sql: "CREATE TABLE log (n integer PRIMARY KEY)" },
  { name: "first", sql: "INSERT INTO log VALUES (1)" },
  { name: "second", sql: "INSERT INTO log VALUES (2)" },
];

async function dropSchema(sql: Sql, schema: string): Promise<void> {
  await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

Deno.test("openPostgres() applies migrations once, also when several pools race", async () => {
  const schema = testSchemaName();
  const pools = await Promise.all(
    Array.from({ length: 6 }, () => openPostgres(PG_TEST_URL, STEPS, { schema, poolSize: 1 })),
  );
  try {
    const rows = await pools[0]!`SELECT n FROM log ORDER BY n`;
    assert.deepEqual(rows.map((row) => row.n), [1, 2]);
    assert.equal(await pgSchemaVersion(pools[0]!, schema), 3);
    // Reopening with one more step applies only that step.
    const more = [...STEPS, { name: "third", sql: "INSERT INTO log VALUES (3)" }];
    const again = await openPostgres(PG_TEST_URL, more, { schema, poolSize: 1 });
    const after = await again`SELECT n FROM log ORDER BY n`;
    assert.deepEqual(after.map((row) => row.n), [1, 2, 3]);
    await again.end();
  } finally {
    await dropSchema(pools[0]!, schema);
    await Promise.all(pools.map((pool) => pool.end()));
  }
});

Deno.test("openPostgres() refuses a schema newer than the code, and keeps nothing of a failed step", async () => {
  const schema = testSchemaName();
  const sql = await openPostgres(PG_TEST_URL, STEPS, { schema, poolSize: 1 });
  try {
    await assert.rejects(
      openPostgres(PG_TEST_URL, STEPS.slice(0, 2), { schema, poolSize: 1 }),
      (error) => error instanceof MigrationError && /newer than this code's 2/.test(error.message),
    );
    const broken = [
      ...STEPS,
      { name: "fourth", sql: "INSERT INTO log VALUES (4)" },
      { name: "bad", sql: "INSERT INTO nowhere VALUES (1)" },
    ];
    await assert.rejects(
      openPostgres(PG_TEST_URL, broken, { schema, poolSize: 1 }),
      (error) => error instanceof MigrationError && /migration 5 "bad" failed/.test(error.message),
    );
    const rows = await sql`SELECT n FROM log ORDER BY n`;
    assert.deepEqual(rows.map((row) => row.n), [1, 2]);
    assert.equal(await pgSchemaVersion(sql, schema), 3);
  } finally {
    await dropSchema(sql, schema);
    await sql.end();
  }
});

Deno.test("openPostgres() sessions end a stalled transaction and bound every statement", async () => {
  const schema = testSchemaName();
  const sql = await openPostgres(PG_TEST_URL, STEPS, { schema, poolSize: 1 });
  try {
    // A node frozen mid-transaction must not keep its row locks (a moved conversation's
    // new owner waits on them): the server ends such a session after 3 s.
    const [idle] = await sql`SHOW idle_in_transaction_session_timeout`;
    assert.equal(idle!.idle_in_transaction_session_timeout, "3s");
    const [statement] = await sql`SHOW statement_timeout`;
    assert.equal(statement!.statement_timeout, "10s");
  } finally {
    await dropSchema(sql, schema);
    await sql.end();
  }
});

Deno.test("openPostgres() rejects bad options and reports an unreachable server", async () => {
  await assert.rejects(openPostgres(PG_TEST_URL, [], { schema: "Bad-Name" }), RangeError);
  await assert.rejects(openPostgres(PG_TEST_URL, [], { poolSize: 0 }), RangeError);
  await assert.rejects(
    openPostgres("postgres://postgres@127.0.0.1:1/test", [], { connectTimeoutSec: 2 }),
    (error) => error instanceof Error && /ECONNREFUSED|refused/i.test(String(error)),
  );
});

Deno.test("knownPgDriverDefect() names the driver's write-after-close throw and nothing else", () => {
  // As a worker reported it (porsager/postgres#1154), from the npm cache and node_modules.
  const thrown = (path: string, message = "Cannot read properties of null (reading 'write')") =>
    Object.assign(new TypeError(message), {
      stack: `TypeError: ${message}\n` +
        `    at Immediate.nextWrite (file://${path}/src/connection.js:255:22)\n` +
        "    at Immediate.callback (ext:deno_node/internal/timers.mjs:4:3069)\n" +
        "    at runImmediates (ext:core/01_core.js:252:21)",
    });
  const cached = "/root/.cache/deno/npm/registry.npmjs.org/postgres/3.4.9";
  assert.match(knownPgDriverDefect(thrown(cached)) ?? "", /postgres#1154/);
  assert.match(knownPgDriverDefect(thrown("/app/node_modules/postgres")) ?? "", /postgres#1154/);
  // Same message from another module, another property, or not a TypeError: a real bug.
  assert.equal(knownPgDriverDefect(thrown("/app/node_modules/ioredis")), undefined);
  assert.equal(knownPgDriverDefect(thrown("/app/node_modules/postgres-mirror")), undefined);
  assert.equal(
    knownPgDriverDefect(thrown(cached, "Cannot read properties of null (reading 'end')")),
    undefined,
  );
  assert.equal(
    knownPgDriverDefect(new Error("Cannot read properties of null (reading 'write')")),
    undefined,
  );
  assert.equal(knownPgDriverDefect("nextWrite"), undefined);
});
