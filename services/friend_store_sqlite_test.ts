import assert from "node:assert/strict";
import { join } from "node:path";
import type { DatabaseSync } from "node:sqlite";
import { openSqlite } from "./sqlite.ts";
import { SQLITE_MIGRATIONS } from "./sqlite_migrations.ts";
import { friendStoreContract, type FriendStoreFixture } from "./friend_store_contract.ts";
import { SqliteFriendStore } from "./friend_store_sqlite.ts";
import { SqliteUserStore } from "./user_store_sqlite.ts";

function fixture(db: DatabaseSync, cleanup = () => {}): FriendStoreFixture {
  const users = new SqliteUserStore(db);
  return {
    store: new SqliteFriendStore(db),
    createUser: async (username) => {
      const created = await users.create(username, "h");
      assert.ok(created.ok);
      return created.user.id;
    },
    close: async () => {
      db.close();
      await cleanup();
    },
  };
}

friendStoreContract(
  "SqliteFriendStore (memory)",
  () => Promise.resolve(fixture(openSqlite(":memory:", SQLITE_MIGRATIONS))),
);

friendStoreContract("SqliteFriendStore (file)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flash-im-friends-" });
  return fixture(
    openSqlite(join(dir, "friends.db"), SQLITE_MIGRATIONS),
    () => Deno.remove(dir, { recursive: true }),
  );
});

Deno.test("SqliteFriendStore orders friends numerically, ids above 2^53 included", async () => {
  using db = openSqlite(":memory:", SQLITE_MIGRATIONS);
  db.exec(
    `INSERT INTO users (id, username, password_hash, created_at) VALUES
     (9, 'nine', 'h', 0), (10, 'ten', 'h', 0), (100, 'hundred', 'h', 0),
     (9007199254740993, 'big', 'h', 0)`,
  );
  const store = new SqliteFriendStore(db);
  for (const other of ["100", "9007199254740993", "9"]) {
    assert.ok((await store.request(other, "10", 0)).ok);
    assert.ok((await store.accept("10", other, 1)).ok);
  }
  const page = await store.friendsOf("10", { limit: 10 });
  assert.deepEqual(page.friends.map((f) => f.userId), ["9", "100", "9007199254740993"]);
  assert.equal(await store.areFriends("9007199254740993", "10"), true);
});

Deno.test("SqliteFriendStore forgets a deleted user's friendships, requests and blocks", async () => {
  using db = openSqlite(":memory:", SQLITE_MIGRATIONS);
  const f = fixture(db);
  const [a, b, c] = [await f.createUser("a"), await f.createUser("b"), await f.createUser("c")];
  await f.store.request(a, b, 0);
  await f.store.accept(b, a, 1);
  await f.store.request(c, b, 2);
  await f.store.block(b, c, 3);
  await f.store.request(a, c, 4);
  db.prepare("DELETE FROM users WHERE id = ?").run(BigInt(b));
  assert.deepEqual((await f.store.friendsOf(a, { limit: 5 })).friends, []);
  assert.equal(await f.store.isBlocked(c, b), false);
  assert.equal((await f.store.pendingFor(c)).incoming.length, 1);
});

Deno.test("SqliteFriendStore.close() leaves a shared handle open unless it owns it", () => {
  using db = openSqlite(":memory:", SQLITE_MIGRATIONS);
  new SqliteFriendStore(db).close();
  assert.equal(db.isOpen, true);
  const owner = new SqliteFriendStore(db, { closeDb: true });
  owner.close();
  owner.close();
  assert.equal(db.isOpen, false);
});
