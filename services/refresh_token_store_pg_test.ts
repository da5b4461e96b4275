/**
 * PgRefreshTokenStore against a real Postgres server: the refresh token store contract
 * plus ids above 2^53, driver errors of insert, and rotations racing each other and
 * revocations.
 *
 * @module
 */

import assert from "node:assert/strict";
import { openTestSchema, type TestSchema } from "./_pg_testing.ts";
import { PG_MIGRATIONS } from "./pg_migrations.ts";
import {
  type NewRefreshToken,
  refreshTokenStoreContract,
  type RefreshTokenStoreFixture,
} from "./refresh_token_store.ts";
import { PgRefreshTokenStore } from "./refresh_token_store_pg.ts";
import { PgUserStore } from "./user_store_pg.ts";

async function fixture(schema: TestSchema): Promise<RefreshTokenStoreFixture> {
  const users = new PgUserStore(schema.sql);
  const ids: string[] = [];
  for (const name of ["u1", "u2"]) {
    const created = await users.create(name, "h");
    assert.ok(created.ok);
    ids.push(created.user.id);
  }
  return {
    store: new PgRefreshTokenStore(schema.sql),
    userIds: [ids[0]!, ids[1]!],
    close: () => schema.drop(),
  };
}

const token = (label: string, userId: string, familyId = "f"): NewRefreshToken => ({
  tokenHash: label.repeat(64).slice(0, 64),
  familyId,
  userId,
  deviceId: "d",
  createdAt: 0,
  expiresAt: 1_000,
});

refreshTokenStoreContract("PgRefreshTokenStore", async () => {
  return fixture(await openTestSchema(PG_MIGRATIONS));
});

Deno.test("PgRefreshTokenStore keeps user ids above 2^53 exact", async () => {
  const schema = await openTestSchema(PG_MIGRATIONS);
  try {
    await schema.sql`ALTER TABLE users ALTER COLUMN id RESTART WITH 9007199254740993`;
    const { store, userIds } = await fixture(schema);
    assert.deepEqual(userIds, ["9007199254740993", "9007199254740994"]);
    await store.insert(token("a", userIds[1]));
    assert.equal((await store.find("a".repeat(64)))?.userId, "9007199254740994");
    const rotated = await store.rotate(
      "a".repeat(64),
      { tokenHash: "b".repeat(64), createdAt: 1, expiresAt: 1_001 },
      1,
    );
    assert.equal(rotated.status === "ok" && rotated.record.userId, "9007199254740994");
    assert.equal(await store.revokeUser(userIds[0], 2), 0);
    assert.equal(await store.revokeUser(userIds[1], 2), 2);
  } finally {
    await schema.drop();
  }
});

Deno.test("PgRefreshTokenStore.insert() rejects an unknown user and a duplicate hash", async () => {
  const schema = await openTestSchema(PG_MIGRATIONS);
  try {
    const { store, userIds } = await fixture(schema);
    await assert.rejects(
      store.insert(token("c", "42")),
      (e) => (e as { code?: string }).code === "23503",
    );
    await assert.rejects(store.insert(token("c", "x")), TypeError);
    await assert.rejects(store.insert(token("c", "99999999999999999999")), TypeError);
    await store.insert(token("c", userIds[0]));
    await assert.rejects(
      store.insert(token("c", userIds[1])),
      (e) => (e as { code?: string }).code === "23505",
    );
    // A rotation whose successor hash exists changes nothing.
    await store.insert(token("d", userIds[0], "g"));
    await assert.rejects(
      store.rotate("d".repeat(64), { tokenHash: "c".repeat(64), createdAt: 1, expiresAt: 2 }, 1),
    );
    assert.equal((await store.find("d".repeat(64)))?.usedAt, null);
  } finally {
    await schema.drop();
  }
});

Deno.test("PgRefreshTokenStore.rotate() of one token from many callers succeeds once", async () => {
  const schema = await openTestSchema(PG_MIGRATIONS, 8);
  try {
    const { store, userIds } = await fixture(schema);
    await store.insert(token("a", userIds[0]));
    const hashes = "0123456789".split("").map((d) => d.repeat(64));
    const results = await Promise.all(
      hashes.map((h) =>
        store.rotate("a".repeat(64), { tokenHash: h, createdAt: 1, expiresAt: 9 }, 1)
      ),
    );
    assert.equal(results.filter((r) => r.status === "ok").length, 1);
    assert.equal(results.filter((r) => r.status === "reused").length, 9);
    // The winner's successor was revoked by the losers' reuse reports.
    const winner = results.find((r) => r.status === "ok");
    assert.ok(winner?.status === "ok");
    assert.notEqual((await store.find(winner.record.tokenHash))?.revokedAt, null);
    assert.equal(await store.isFamilyActive("f", 1), false);
  } finally {
    await schema.drop();
  }
});

Deno.test("PgRefreshTokenStore: a revocation racing rotations leaves no live successor", async () => {
  const schema = await openTestSchema(PG_MIGRATIONS, 8);
  try {
    const { store, userIds } = await fixture(schema);
    for (let round = 0; round < 20; round++) {
      const family = `f${round}`;
      const first = (round * 2).toString(16).padStart(64, "0");
      const second = (round * 2 + 1).toString(16).padStart(64, "0");
      await store.insert({ ...token("0", userIds[0], family), tokenHash: first });
      const [, revoked] = await Promise.all([
        store.rotate(first, { tokenHash: second, createdAt: 1, expiresAt: 9 }, 1),
        round % 2 === 0 ? store.revokeFamily(family, 1) : store.revokeUser(userIds[0], 1),
      ]);
      assert.ok(revoked >= 1);
      assert.equal(await store.isFamilyActive(family, 1), false, `round ${round}`);
    }
  } finally {
    await schema.drop();
  }
});
