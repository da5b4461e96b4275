/**
 * PgUserStore against a real Postgres server: the user store contract plus what only
 * Postgres can get wrong (ids above 2^53, concurrent creates from two pools, the unique
 * index on the lowered name, byte order of names).
 *
 * @module
 */

import assert from "node:assert/strict";
import { openTestSchema, PG_TEST_URL } from "./_pg_testing.ts";
import { openPostgres } from "./postgres.ts";
import { PG_MIGRATIONS } from "./pg_migrations.ts";
import { userStoreContract } from "./user_store.ts";
import { PgUserStore } from "./user_store_pg.ts";

userStoreContract("PgUserStore", async () => {
  const schema = await openTestSchema(PG_MIGRATIONS);
  const store = new PgUserStore(schema.sql);
  return {
    create: (username, hash) => store.create(username, hash),
    byUsername: (username) => store.byUsername(username),
    byId: (id) => store.byId(id),
    search: (prefix, options) => store.search(prefix, options),
    close: () => schema.drop(),
  };
});

Deno.test("PgUserStore keeps ids above 2^53 exact", async () => {
  const { sql, drop } = await openTestSchema(PG_MIGRATIONS);
  try {
    await sql`ALTER TABLE users ALTER COLUMN id RESTART WITH 9007199254740993`;
    const store = new PgUserStore(sql);
    const big = await store.create("big", "h");
    assert.ok(big.ok);
    assert.equal(big.user.id, "9007199254740993");
    assert.equal((await store.byUsername("BIG"))?.id, "9007199254740993");
    assert.equal((await store.byId("9007199254740993"))?.username, "big");
    const next = await store.create("next", "h");
    assert.ok(next.ok);
    assert.equal(next.user.id, "9007199254740994");
    assert.deepEqual(await store.search("b", { limit: 5, excludeUserId: "9007199254740994" }), [
      { id: "9007199254740993", username: "big" },
    ]);
    assert.deepEqual(await store.search("n", { limit: 5, excludeUserId: next.user.id }), []);
  } finally {
    await drop();
  }
});

Deno.test("PgUserStore.create() of one name from two nodes' pools succeeds once", async () => {
  const first = await openTestSchema(PG_MIGRATIONS, 4);
  const second = await openPostgres(PG_TEST_URL, PG_MIGRATIONS, {
    schema: first.schema,
    poolSize: 4,
  });
  try {
    // Eight connections in all: the inserts really run in parallel.
    const stores = [new PgUserStore(first.sql), new PgUserStore(second)];
    const names = ["dave", "Dave", "DAVE", "dAvE", "dave", "DaVe", "daVE", "DAve"];
    const results = await Promise.all(names.map((n, i) => stores[i % 2]!.create(n, `h${i}`)));
    assert.equal(results.filter((r) => r.ok).length, 1);
    assert.ok(results.filter((r) => !r.ok).every((r) => !r.ok && r.reason === "taken"));
    const [count] = await first.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM users`;
    assert.equal(count?.n, 1);
  } finally {
    await second.end();
    await first.drop();
  }
});

Deno.test("PgUserStore: the database refuses a second spelling of a name in another case", async () => {
  const { sql, drop } = await openTestSchema(PG_MIGRATIONS);
  try {
    await sql`INSERT INTO users (username, password_hash, created_at) VALUES ('Erin', 'h', 0)`;
    await assert.rejects(
      sql`INSERT INTO users (username, password_hash, created_at) VALUES ('eRIN', 'h', 0)`,
      (error) => (error as { code?: string }).code === "23505",
    );
    const store = new PgUserStore(sql);
    assert.deepEqual(await store.create("ERIN", "h"), { ok: false, reason: "taken" });
    // Only ASCII letters fold, whatever the server's locale: these are two names.
    assert.ok((await store.create("émile", "h")).ok);
    assert.ok((await store.create("Émile", "h")).ok);
    assert.equal((await store.byUsername("ÉMILE"))?.username, "Émile");
  } finally {
    await drop();
  }
});

Deno.test("PgUserStore orders search results by bytes after ASCII folding, like SQLite", async () => {
  const { sql, drop } = await openTestSchema(PG_MIGRATIONS);
  try {
    const store = new PgUserStore(sql);
    for (const name of ["a-c", "A_B", "ab", "a.d", "AA"]) {
      assert.ok((await store.create(name, "h")).ok);
    }
    const found = await store.search("a", { limit: 10 });
    // Byte order of the lowered names: '-' 0x2d < '.' 0x2e < '_' 0x5f < 'a' 0x61 < 'b' 0x62.
    assert.deepEqual(found.map((u) => u.username), ["a-c", "a.d", "A_B", "AA", "ab"]);
  } finally {
    await drop();
  }
});

Deno.test("PgUserStore uses the injected clock for createdAt", async () => {
  const { sql, drop } = await openTestSchema(PG_MIGRATIONS);
  try {
    const store = new PgUserStore(sql, { now: () => 1_700_000_000_123 });
    const created = await store.create("alice", "h");
    assert.ok(created.ok);
    assert.equal(created.user.createdAt, 1_700_000_000_123);
    assert.equal((await store.byId(created.user.id))?.createdAt, 1_700_000_000_123);
  } finally {
    await drop();
  }
});

Deno.test("PgUserStore.search() is a range scan of the name index", async () => {
  const { sql, drop } = await openTestSchema(PG_MIGRATIONS);
  try {
    const plan = await sql.begin(async (tx) => {
      await tx`SET LOCAL enable_seqscan = off`;
      const rows = await tx.unsafe<{ "QUERY PLAN": string }[]>(
        `EXPLAIN SELECT id, username FROM users
         WHERE lower(username COLLATE "C") LIKE lower('ab%'::text COLLATE "C") ESCAPE '\\'
         ORDER BY lower(username COLLATE "C"), id LIMIT 5`,
      );
      return rows.map((row) => row["QUERY PLAN"]).join("\n");
    });
    assert.match(plan, /users_username_lower/);
  } finally {
    await drop();
  }
});
