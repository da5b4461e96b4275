import assert from "node:assert/strict";
import { join } from "node:path";
import type { DatabaseSync } from "node:sqlite";
import { openSqlite } from "./sqlite.ts";
import { SQLITE_MIGRATIONS } from "./sqlite_migrations.ts";
import { refreshTokenStoreContract } from "./refresh_token_store.ts";
import type { RefreshTokenStoreFixture } from "./refresh_token_store.ts";
import { SqliteRefreshTokenStore } from "./refresh_token_store_sqlite.ts";
import { SqliteUserStore } from "./user_store_sqlite.ts";

async function fixture(db: DatabaseSync, cleanup = () => {}): Promise<RefreshTokenStoreFixture> {
  const users = new SqliteUserStore(db);
  const ids = await Promise.all(["u1", "u2"].map(async (name) => {
    const created = await users.create(name, "h");
    assert.ok(created.ok);
    return created.user.id;
  }));
  return {
    store: new SqliteRefreshTokenStore(db),
    userIds: [ids[0], ids[1]],
    close: async () => {
      db.close();
      await cleanup();
    },
  };
}

refreshTokenStoreContract(
  "SqliteRefreshTokenStore (memory)",
  () => fixture(openSqlite(":memory:", SQLITE_MIGRATIONS)),
);

refreshTokenStoreContract("SqliteRefreshTokenStore (file)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flash-im-tokens-" });
  return fixture(
    openSqlite(join(dir, "tokens.db"), SQLITE_MIGRATIONS),
    () => Deno.remove(dir, { recursive: true }),
  );
});

Deno.test("SqliteRefreshTokenStore deletes a user's tokens with the user", async () => {
  using db = openSqlite(":memory:", SQLITE_MIGRATIONS);
  const f = await fixture(db);
  const hash = "a".repeat(64);
  await f.store.insert({
    tokenHash: hash,
    familyId: "f",
    userId: f.userIds[0],
    deviceId: "d",
    createdAt: 0,
    expiresAt: 10,
  });
  db.prepare("DELETE FROM users WHERE id = ?").run(BigInt(f.userIds[0]));
  assert.equal(await f.store.find(hash), undefined);
});

Deno.test("SqliteRefreshTokenStore.insert() rejects a token of an unknown user", async () => {
  using store = new SqliteRefreshTokenStore(openSqlite(":memory:", SQLITE_MIGRATIONS), {
    closeDb: true,
  });
  const record = {
    tokenHash: "b".repeat(64),
    familyId: "f",
    userId: "42",
    deviceId: "d",
    createdAt: 0,
    expiresAt: 10,
  };
  await assert.rejects(store.insert(record), /FOREIGN KEY/);
  await assert.rejects(store.insert({ ...record, userId: "x" }), TypeError);
});
