import assert from "node:assert/strict";
import { join } from "node:path";
import type { DatabaseSync } from "node:sqlite";
import { openSqlite } from "./sqlite.ts";
import { SQLITE_MIGRATIONS } from "./sqlite_migrations.ts";
import { messageStoreContract, type MessageStoreFixture } from "./message_store_contract.ts";
import { SqliteMessageStore } from "./message_store_sqlite.ts";
import { SqliteUserStore } from "./user_store_sqlite.ts";

function fixture(db: DatabaseSync, cleanup = () => {}): MessageStoreFixture {
  const users = new SqliteUserStore(db);
  let n = 0;
  return {
    store: new SqliteMessageStore(db),
    createUser: async () => {
      const created = await users.create(`user${++n}`, "h");
      assert.ok(created.ok);
      return created.user.id;
    },
    setLastSeq: (conversationId, seq) => {
      db.prepare("UPDATE conversations SET last_seq = ? WHERE id = ?").run(seq, conversationId);
      return Promise.resolve();
    },
    failMessagesWithText: (text) => {
      const literal = `'${text.replaceAll("'", "''")}'`;
      db.exec(
        `CREATE TEMP TRIGGER fail_${n++} BEFORE INSERT ON main.messages
         WHEN NEW.text = ${literal} BEGIN SELECT RAISE(ABORT, 'injected failure'); END`,
      );
      return Promise.resolve();
    },
    close: async () => {
      db.close();
      await cleanup();
    },
  };
}

messageStoreContract(
  "SqliteMessageStore (memory)",
  () => Promise.resolve(fixture(openSqlite(":memory:", SQLITE_MIGRATIONS))),
);

messageStoreContract("SqliteMessageStore (file)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flash-im-messages-" });
  return fixture(
    openSqlite(join(dir, "messages.db"), SQLITE_MIGRATIONS),
    () => Deno.remove(dir, { recursive: true }),
  );
});

Deno.test("SqliteMessageStore orders direct conversation members numerically", async () => {
  using db = openSqlite(":memory:", SQLITE_MIGRATIONS);
  db.exec(
    `INSERT INTO users (id, username, password_hash, created_at)
     VALUES (9, 'nine', 'h', 0), (10, 'ten', 'h', 0), (9007199254740993, 'big', 'h', 0)`,
  );
  const store = new SqliteMessageStore(db);
  assert.deepEqual(await store.ensureDirect("10", "9", 0), {
    ok: true,
    conversationId: "d:9:10",
    created: true,
  });
  const big = await store.ensureDirect("9007199254740993", "10", 0);
  assert.deepEqual(big, { ok: true, conversationId: "d:10:9007199254740993", created: true });
  assert.deepEqual((await store.load("d:10:9007199254740993"))?.members.map((m) => m.userId), [
    "10",
    "9007199254740993",
  ]);
});

Deno.test("SqliteMessageStore drops a deleted user's memberships but keeps their messages", async () => {
  using db = openSqlite(":memory:", SQLITE_MIGRATIONS);
  const f = fixture(db);
  const a = await f.createUser();
  const b = await f.createUser();
  const created = await f.store.ensureDirect(a, b, 0);
  assert.ok(created.ok);
  await f.store.appendBatch([{
    conversationId: created.conversationId,
    seq: 1n,
    senderId: a,
    clientMsgId: "c",
    content: { type: 1, text: "hi" },
  }], 1);
  db.prepare("DELETE FROM users WHERE id = ?").run(BigInt(a));
  assert.deepEqual((await f.store.load(created.conversationId))?.members.map((m) => m.userId), [b]);
  assert.equal((await f.store.page(created.conversationId, { limit: 5 })).messages.length, 1);
});

Deno.test("SqliteMessageStore.close() leaves a shared handle open unless it owns it", () => {
  using db = openSqlite(":memory:", SQLITE_MIGRATIONS);
  new SqliteMessageStore(db).close();
  assert.equal(db.isOpen, true);
  const owner = new SqliteMessageStore(db, { closeDb: true });
  owner.close();
  owner.close();
  assert.equal(db.isOpen, false);
});

Deno.test("SqliteMessageStore bumps each member's counter once per batch", async () => {
  using db = openSqlite(":memory:", SQLITE_MIGRATIONS);
  const f = fixture(db);
  const a = await f.createUser();
  const b = await f.createUser();
  const created = await f.store.ensureDirect(a, b, 0);
  assert.ok(created.ok);
  const counter = () =>
    Number(
      (db.prepare("SELECT seq FROM user_change_counters WHERE user_id = ?").get(BigInt(b)) as {
        seq: number;
      }).seq,
    );
  const before = counter();
  const items = Array.from({ length: 50 }, (_, i) => ({
    conversationId: created.conversationId,
    seq: BigInt(i + 1),
    senderId: i % 2 ? a : b,
    clientMsgId: `c${i}`,
    content: { type: 1, text: "x" },
  }));
  await f.store.appendBatch(items, 1);
  assert.equal(counter(), before + 1);
});
