/**
 * The refresh token store port: rotating refresh tokens grouped in families (one family per
 * login session), with reuse detection. Backends sit beside it
 * (`refresh_token_store_sqlite.ts`; Postgres later) and all pass
 * {@link refreshTokenStoreContract}.
 *
 * Only SHA-256 hashes of tokens are stored (`tokenHash`: 64 lowercase hex digits). A
 * backend rejects anything else with a `TypeError`, so a raw token cannot be stored by
 * mistake.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";

/** One refresh token as stored. Times are ms since the epoch. */
export interface RefreshTokenRecord {
  /** SHA-256 of the token, 64 lowercase hex digits. */
  readonly tokenHash: string;
  /** The session: every token rotated from one login shares it. */
  readonly familyId: string;
  /** Decimal string id of the owner. */
  readonly userId: string;
  /** The client's label for its device, given at login. */
  readonly deviceId: string;
  readonly createdAt: number;
  /** The token is refused from this instant on. */
  readonly expiresAt: number;
  /** When it was exchanged for its successor; presenting it again is reuse. */
  readonly usedAt: number | null;
  /** When its family was revoked (logout, reuse, or all of a user's sessions). */
  readonly revokedAt: number | null;
}

/** What {@link RefreshTokenStore.insert} takes: a fresh token starting a family. */
export type NewRefreshToken = Omit<RefreshTokenRecord, "usedAt" | "revokedAt">;

/** The successor in {@link RefreshTokenStore.rotate}; it inherits family, user and device. */
export interface NextRefreshToken {
  readonly tokenHash: string;
  readonly createdAt: number;
  readonly expiresAt: number;
}

/**
 * Outcome of {@link RefreshTokenStore.rotate}:
 * - `ok`: the old token is now used and `record` is its successor;
 * - `unknown`: no such token (never issued, or purged after expiry);
 * - `expired`: the token is past `expiresAt` (nothing changed);
 * - `reused`: the token was already used or revoked: its whole family is now revoked.
 */
export type RotateResult =
  | { readonly status: "ok"; readonly record: RefreshTokenRecord }
  | { readonly status: "unknown" }
  | { readonly status: "expired" }
  | { readonly status: "reused"; readonly familyId: string; readonly userId: string };

/** Options of {@link RefreshTokenStore.revokeFamily}. */
export interface RevokeFamilyOptions {
  /** Revoke only if the family belongs to this user (a logout by session id). */
  readonly userId?: string;
}

/** Where refresh tokens live. Every method is atomic. */
export interface RefreshTokenStore {
  /** Stores a token that starts a family. Throws on a duplicate hash or an unknown user. */
  insert(record: NewRefreshToken): Promise<void>;
  /** Finds a token by hash, whatever its state. */
  find(tokenHash: string): Promise<RefreshTokenRecord | undefined>;
  /**
   * Exchanges a token for its successor, atomically: of two concurrent rotations of one
   * token, one gets `ok` and the other `reused` (which revokes the family, successor
   * included). Checks in order: unknown, then used or revoked, then expired.
   */
  rotate(oldHash: string, next: NextRefreshToken, now: number): Promise<RotateResult>;
  /** Revokes every token of a family; resolves to how many were not revoked before. */
  revokeFamily(familyId: string, now: number, options?: RevokeFamilyOptions): Promise<number>;
  /** Revokes every token of every family of a user; resolves to how many changed. */
  revokeUser(userId: string, now: number): Promise<number>;
  /** True while the family has a token that is neither used, revoked nor expired at `now`. */
  isFamilyActive(familyId: string, now: number): Promise<boolean>;
  /** Deletes tokens expired at `now` (their reuse can no longer be reported). */
  purgeExpired(now: number): Promise<number>;
}

/** What the contract suite needs per test: an empty store and two existing users. */
export interface RefreshTokenStoreFixture {
  readonly store: RefreshTokenStore;
  /** Ids of two users that exist in the backing store (tokens may reference them). */
  readonly userIds: readonly [string, string];
  close(): void | Promise<void>;
}

/**
 * Registers the `Deno.test`s every {@link RefreshTokenStore} backend must pass.
 *
 * @example
 * ```ts
 * refreshTokenStoreContract("SqliteRefreshTokenStore", makeSqliteFixture);
 * ```
 */
export function refreshTokenStoreContract(
  name: string,
  makeFixture: () => Promise<RefreshTokenStoreFixture>,
): void {
  const test = (title: string, fn: (f: RefreshTokenStoreFixture) => Promise<void>) =>
    Deno.test(`${name}: ${title}`, async () => {
      const fixture = await makeFixture();
      try {
        await fn(fixture);
      } finally {
        await fixture.close();
      }
    });
  const hash = (label: string) => createHash("sha256").update(label).digest("hex");
  const T0 = 1_700_000_000_000;
  const fresh = (label: string, userId: string, familyId = `fam-${label}`): NewRefreshToken => ({
    tokenHash: hash(label),
    familyId,
    userId,
    deviceId: `dev-${label}`,
    createdAt: T0,
    expiresAt: T0 + 1_000,
  });
  const next = (label: string, at = T0 + 10): NextRefreshToken => ({
    tokenHash: hash(label),
    createdAt: at,
    expiresAt: at + 1_000,
  });

  test("insert() then find() returns the record, unused and unrevoked", async ({ store, userIds }) => {
    const record = fresh("a", userIds[0]);
    await store.insert(record);
    assert.deepEqual(await store.find(record.tokenHash), {
      ...record,
      usedAt: null,
      revokedAt: null,
    });
    assert.equal(await store.find(hash("missing")), undefined);
  });

  test("insert() rejects a duplicate hash and a value that is not a SHA-256 hex", async ({ store, userIds }) => {
    await store.insert(fresh("a", userIds[0]));
    await assert.rejects(store.insert(fresh("a", userIds[0], "other")));
    await assert.rejects(
      store.insert({ ...fresh("b", userIds[0]), tokenHash: "raw-token" }),
      TypeError,
    );
  });

  test("rotate() marks the old token used and stores its successor in the family", async ({ store, userIds }) => {
    await store.insert(fresh("a", userIds[0]));
    const result = await store.rotate(hash("a"), next("b"), T0 + 10);
    assert.deepEqual(result, {
      status: "ok",
      record: {
        tokenHash: hash("b"),
        familyId: "fam-a",
        userId: userIds[0],
        deviceId: "dev-a",
        createdAt: T0 + 10,
        expiresAt: T0 + 1_010,
        usedAt: null,
        revokedAt: null,
      },
    });
    assert.equal((await store.find(hash("a")))?.usedAt, T0 + 10);
    assert.equal(await store.isFamilyActive("fam-a", T0 + 10), true);
  });

  test("rotate() of an unknown token reports unknown", async ({ store }) => {
    assert.deepEqual(await store.rotate(hash("nope"), next("b"), T0), { status: "unknown" });
    assert.equal(await store.find(hash("b")), undefined);
  });

  test("rotate() of an expired token reports expired and changes nothing", async ({ store, userIds }) => {
    await store.insert(fresh("a", userIds[0]));
    assert.deepEqual(await store.rotate(hash("a"), next("b"), T0 + 1_000), { status: "expired" });
    assert.equal((await store.find(hash("a")))?.usedAt, null);
    assert.equal(await store.find(hash("b")), undefined);
  });

  test("rotate() of a used token reports reuse and revokes the whole family", async ({ store, userIds }) => {
    await store.insert(fresh("a", userIds[0]));
    await store.insert(fresh("other", userIds[0]));
    assert.equal((await store.rotate(hash("a"), next("b"), T0 + 10)).status, "ok");
    assert.deepEqual(await store.rotate(hash("a"), next("c"), T0 + 20), {
      status: "reused",
      familyId: "fam-a",
      userId: userIds[0],
    });
    assert.equal(await store.find(hash("c")), undefined);
    assert.equal((await store.find(hash("b")))?.revokedAt, T0 + 20);
    assert.equal(await store.isFamilyActive("fam-a", T0 + 20), false);
    // The thief's successor is dead too, and other sessions of the user are untouched.
    assert.equal((await store.rotate(hash("b"), next("d"), T0 + 30)).status, "reused");
    assert.equal(await store.isFamilyActive("fam-other", T0 + 30), true);
  });

  test("rotate() reports reuse for a used token even after it expired", async ({ store, userIds }) => {
    await store.insert(fresh("a", userIds[0]));
    assert.equal((await store.rotate(hash("a"), next("b"), T0 + 10)).status, "ok");
    assert.equal((await store.rotate(hash("a"), next("c"), T0 + 5_000)).status, "reused");
  });

  test("rotate() of one token from concurrent callers succeeds at most once", async ({ store, userIds }) => {
    await store.insert(fresh("a", userIds[0]));
    const results = await Promise.all([
      store.rotate(hash("a"), next("b"), T0 + 10),
      store.rotate(hash("a"), next("c"), T0 + 10),
    ]);
    assert.deepEqual(results.map((r) => r.status).sort(), ["ok", "reused"]);
    assert.equal(await store.isFamilyActive("fam-a", T0 + 10), false);
  });

  test("revokeFamily() revokes every token of the family, once", async ({ store, userIds }) => {
    await store.insert(fresh("a", userIds[0]));
    await store.rotate(hash("a"), next("b"), T0 + 10);
    assert.equal(await store.revokeFamily("fam-a", T0 + 20), 2);
    assert.equal(await store.revokeFamily("fam-a", T0 + 30), 0);
    assert.equal((await store.find(hash("b")))?.revokedAt, T0 + 20);
    assert.equal(await store.isFamilyActive("fam-a", T0 + 20), false);
    assert.equal((await store.rotate(hash("b"), next("c"), T0 + 40)).status, "reused");
  });

  test("revokeFamily() with a userId leaves another user's family alone", async ({ store, userIds }) => {
    await store.insert(fresh("a", userIds[0]));
    assert.equal(await store.revokeFamily("fam-a", T0, { userId: userIds[1] }), 0);
    assert.equal(await store.isFamilyActive("fam-a", T0), true);
    assert.equal(await store.revokeFamily("fam-a", T0, { userId: userIds[0] }), 1);
    assert.equal(await store.isFamilyActive("fam-a", T0), false);
  });

  test("revokeUser() revokes every family of that user only", async ({ store, userIds }) => {
    await store.insert(fresh("a", userIds[0]));
    await store.insert(fresh("b", userIds[0]));
    await store.insert(fresh("c", userIds[1]));
    assert.equal(await store.revokeUser(userIds[0], T0), 2);
    assert.equal(await store.isFamilyActive("fam-a", T0), false);
    assert.equal(await store.isFamilyActive("fam-b", T0), false);
    assert.equal(await store.isFamilyActive("fam-c", T0), true);
  });

  test("isFamilyActive() is false for unknown and expired families", async ({ store, userIds }) => {
    await store.insert(fresh("a", userIds[0]));
    assert.equal(await store.isFamilyActive("fam-a", T0 + 999), true);
    assert.equal(await store.isFamilyActive("fam-a", T0 + 1_000), false);
    assert.equal(await store.isFamilyActive("nope", T0), false);
  });

  test("purgeExpired() deletes only expired tokens", async ({ store, userIds }) => {
    await store.insert(fresh("a", userIds[0]));
    await store.insert({ ...fresh("b", userIds[1]), expiresAt: T0 + 5_000 });
    assert.equal(await store.purgeExpired(T0 + 1_000), 1);
    assert.equal(await store.find(hash("a")), undefined);
    assert.notEqual(await store.find(hash("b")), undefined);
  });
}
