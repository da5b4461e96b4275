/**
 * PgFriendStore against a real Postgres server: the friend store contract plus ids above
 * 2^53 and the races the pair lock prevents (mutual requests, a request racing a block).
 *
 * @module
 */

import assert from "node:assert/strict";
import { openTestSchema, type TestSchema } from "./_pg_testing.ts";
import { PG_MIGRATIONS } from "./pg_migrations.ts";
import { friendStoreContract, type FriendStoreFixture } from "./friend_store_contract.ts";
import { PgFriendStore } from "./friend_store_pg.ts";
import { PgUserStore } from "./user_store_pg.ts";

function fixture(schema: TestSchema): FriendStoreFixture {
  const users = new PgUserStore(schema.sql);
  return {
    store: new PgFriendStore(schema.sql),
    createUser: async (username) => {
      const created = await users.create(username, "h");
      assert.ok(created.ok);
      return created.user.id;
    },
    close: () => schema.drop(),
  };
}

friendStoreContract("PgFriendStore", async () => fixture(await openTestSchema(PG_MIGRATIONS)));

Deno.test("PgFriendStore orders friends numerically, ids above 2^53 included", async () => {
  const schema = await openTestSchema(PG_MIGRATIONS);
  try {
    await schema.sql`
      INSERT INTO users (id, username, password_hash, created_at) OVERRIDING SYSTEM VALUE
      VALUES (9, 'nine', 'h', 0), (10, 'ten', 'h', 0), (100, 'hundred', 'h', 0),
        (9007199254740993, 'big', 'h', 0)`;
    const store = new PgFriendStore(schema.sql);
    for (const other of ["100", "9007199254740993", "9"]) {
      assert.ok((await store.request(other, "10", 0)).ok);
      assert.ok((await store.accept("10", other, 1)).ok);
    }
    const page = await store.friendsOf("10", { limit: 10 });
    assert.deepEqual(page.friends.map((f) => f.userId), ["9", "100", "9007199254740993"]);
    assert.deepEqual(await store.friendsOf("10", { limit: 1, after: "100" }), {
      friends: [{ userId: "9007199254740993", username: "big", since: 1 }],
      hasMore: false,
    });
    assert.equal(await store.areFriends("9007199254740993", "10"), true);
    assert.deepEqual(await store.block("9007199254740993", "10", 2), { ok: true, changed: true });
    assert.equal(await store.isBlocked("10", "9007199254740993"), true);
  } finally {
    await schema.drop();
  }
});

Deno.test("PgFriendStore: two users asking each other at once become friends", async () => {
  const schema = await openTestSchema(PG_MIGRATIONS, 8);
  try {
    const f = fixture(schema);
    for (let round = 0; round < 10; round++) {
      const [a, b] = [await f.createUser(`a${round}`), await f.createUser(`b${round}`)];
      const results = await Promise.all([f.store.request(a, b, 1), f.store.request(b, a, 1)]);
      assert.deepEqual(results.map((r) => r.ok && r.status).sort(), ["accepted", "pending"]);
      assert.equal(await f.store.areFriends(a, b), true);
      assert.deepEqual(await f.store.pendingFor(a), { incoming: [], outgoing: [] });
    }
  } finally {
    await schema.drop();
  }
});

Deno.test("PgFriendStore: a request or accept racing a block never survives it", async () => {
  const schema = await openTestSchema(PG_MIGRATIONS, 8);
  try {
    const f = fixture(schema);
    for (let round = 0; round < 10; round++) {
      const [a, b] = [await f.createUser(`a${round}`), await f.createUser(`b${round}`)];
      await f.store.request(b, a, 1);
      await Promise.all([f.store.request(a, b, 2), f.store.block(b, a, 2)]);
      assert.deepEqual(await f.store.relation(b, a), {
        friends: false,
        friendsSince: null,
        requestSent: false,
        requestReceived: false,
        blocking: true,
        blockedBy: false,
      });
    }
  } finally {
    await schema.drop();
  }
});

Deno.test("PgFriendStore forgets a deleted user's friendships, requests and blocks", async () => {
  const schema = await openTestSchema(PG_MIGRATIONS);
  try {
    const f = fixture(schema);
    const [a, b, c] = [await f.createUser("a"), await f.createUser("b"), await f.createUser("c")];
    await f.store.request(a, b, 0);
    await f.store.accept(b, a, 1);
    await f.store.request(c, b, 2);
    await f.store.block(b, c, 3);
    await f.store.request(a, c, 4);
    await schema.sql`DELETE FROM users WHERE id = ${b}`;
    assert.deepEqual((await f.store.friendsOf(a, { limit: 5 })).friends, []);
    assert.equal(await f.store.isBlocked(c, b), false);
    assert.equal((await f.store.pendingFor(c)).incoming.length, 1);
    assert.deepEqual(await f.store.request(a, b, 5), { ok: false, reason: "unknown_user" });
  } finally {
    await schema.drop();
  }
});
