import assert from "node:assert/strict";
import { join } from "node:path";
import { openSqlite } from "./sqlite.ts";
import { SQLITE_MIGRATIONS } from "./sqlite_migrations.ts";
import { userStoreContract } from "./user_store.ts";
import { SqliteUserStore } from "./user_store_sqlite.ts";

userStoreContract(
  "SqliteUserStore (memory)",
  () =>
    Promise.resolve(
      new SqliteUserStore(openSqlite(":memory:", SQLITE_MIGRATIONS), { closeDb: true }),
    ),
);

userStoreContract("SqliteUserStore (file)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flash-im-users-" });
  const store = new SqliteUserStore(openSqlite(join(dir, "users.db"), SQLITE_MIGRATIONS), {
    closeDb: true,
  });
  return {
    create: (username, hash) => store.create(username, hash),
    byUsername: (username) => store.byUsername(username),
    byId: (id) => store.byId(id),
    search: (prefix, options) => store.search(prefix, options),
    close: async () => {
      store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
});

Deno.test("SqliteUserStore keeps ids above 2^53 exact", async () => {
  using db = openSqlite(":memory:", SQLITE_MIGRATIONS);
  db.exec(
    "INSERT INTO users (id, username, password_hash, created_at) VALUES (9007199254740993, 'big', 'h', 0)",
  );
  const store = new SqliteUserStore(db);
  assert.equal((await store.byUsername("big"))?.id, "9007199254740993");
  assert.equal((await store.byId("9007199254740993"))?.username, "big");
  const next = await store.create("next", "h");
  assert.ok(next.ok);
  assert.equal(next.user.id, "9007199254740994");
});

Deno.test("SqliteUserStore uses the injected clock for createdAt", async () => {
  using store = new SqliteUserStore(openSqlite(":memory:", SQLITE_MIGRATIONS), {
    now: () => 1_700_000_000_123,
    closeDb: true,
  });
  const created = await store.create("alice", "h");
  assert.ok(created.ok);
  assert.equal(created.user.createdAt, 1_700_000_000_123);
});

Deno.test("SqliteUserStore.close() leaves a shared handle open unless it owns it", () => {
  using db = openSqlite(":memory:", SQLITE_MIGRATIONS);
  new SqliteUserStore(db).close();
  assert.equal(db.isOpen, true);
  const owner = new SqliteUserStore(db, { closeDb: true });
  owner.close();
  owner.close();
  assert.equal(db.isOpen, false);
});
