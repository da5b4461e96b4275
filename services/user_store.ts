/**
 * The user store port: accounts and their password hashes. Backends sit beside it
 * (`user_store_sqlite.ts`; Postgres later) and all pass {@link userStoreContract}.
 *
 * @module
 */

import assert from "node:assert/strict";

/** A stored account. */
export interface UserRecord {
  /** Decimal string: ids may exceed 2^53, so they never travel as JSON numbers. */
  readonly id: string;
  /** As the user typed it at registration; lookups ignore case. */
  readonly username: string;
  /** An encoded password hash (see `password.ts`); never the password. */
  readonly passwordHash: string;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
}

/** What {@link UserStore.search} reveals about an account: its id and name, nothing else. */
export interface UserSummary {
  readonly id: string;
  readonly username: string;
}

/** Options of {@link UserStore.search}. */
export interface UserSearchOptions {
  /** At least 1; values above {@link MAX_USER_SEARCH} are clamped to it. */
  readonly limit: number;
  /** Leave this account out (the one searching). */
  readonly excludeUserId?: string;
}

/** Most results of one {@link UserStore.search}; larger limits are clamped to it. */
export const MAX_USER_SEARCH = 50;

/** Result of {@link UserStore.create}: `taken` when the name exists in any letter case. */
export type CreateUserResult =
  | { readonly ok: true; readonly user: UserRecord }
  | { readonly ok: false; readonly reason: "taken" };

/**
 * Where accounts live. Usernames are unique ignoring ASCII letter case ("Alice" and "alice"
 * are the same account). The store does not validate names or hashes: the auth service
 * does before calling it.
 */
export interface UserStore {
  /** Creates an account; atomic with respect to concurrent creates of the same name. */
  create(username: string, passwordHash: string): Promise<CreateUserResult>;
  /** Finds an account by name, ignoring letter case. */
  byUsername(username: string): Promise<UserRecord | undefined>;
  /** Finds an account by id; an id that is not a canonical decimal integer finds nothing. */
  byId(id: string): Promise<UserRecord | undefined>;
  /**
   * Accounts whose name starts with `prefix`, ignoring ASCII letter case, ordered by name
   * (ignoring case) then id; `%`, `_` and `\` in `prefix` match themselves. An empty prefix
   * finds nothing: the store never lists every account. Returns only ids and names.
   *
   * @throws {RangeError} (as a rejection) for a limit below 1.
   */
  search(prefix: string, options: UserSearchOptions): Promise<UserSummary[]>;
}

/** A store under test, with the cleanup the contract suite calls at the end of each test. */
export type ClosableUserStore = UserStore & { close(): void | Promise<void> };

/**
 * Registers the `Deno.test`s every {@link UserStore} backend must pass. `makeStore` returns a
 * fresh, empty store per test.
 *
 * @example
 * ```ts
 * userStoreContract("SqliteUserStore", async () => new SqliteUserStore(db, { closeDb: true }));
 * ```
 */
export function userStoreContract(name: string, makeStore: () => Promise<ClosableUserStore>): void {
  const test = (title: string, fn: (store: UserStore) => Promise<void>) =>
    Deno.test(`${name}: ${title}`, async () => {
      const store = await makeStore();
      try {
        await fn(store);
      } finally {
        await store.close();
      }
    });

  test("create() returns the new record with a decimal string id", async (store) => {
    const created = await store.create("Alice", "hash-a");
    assert.ok(created.ok);
    assert.match(created.user.id, /^[1-9][0-9]*$/);
    assert.equal(created.user.username, "Alice");
    assert.equal(created.user.passwordHash, "hash-a");
    assert.equal(typeof created.user.createdAt, "number");
  });

  test("create() gives distinct ids", async (store) => {
    const a = await store.create("alice", "h");
    const b = await store.create("bob", "h");
    assert.ok(a.ok && b.ok);
    assert.notEqual(a.user.id, b.user.id);
  });

  test("create() reports a taken name in any letter case", async (store) => {
    assert.ok((await store.create("alice", "h1")).ok);
    assert.deepEqual(await store.create("alice", "h2"), { ok: false, reason: "taken" });
    assert.deepEqual(await store.create("ALICE", "h3"), { ok: false, reason: "taken" });
    assert.equal((await store.byUsername("alice"))?.passwordHash, "h1");
  });

  test("create() of one name from concurrent callers succeeds once", async (store) => {
    const results = await Promise.all(
      ["carol", "Carol", "CAROL", "carol"].map((n) => store.create(n, "h")),
    );
    assert.equal(results.filter((r) => r.ok).length, 1);
  });

  test("byUsername() ignores letter case and returns the stored spelling", async (store) => {
    const created = await store.create("Alice", "h");
    assert.ok(created.ok);
    assert.deepEqual(await store.byUsername("aLiCe"), created.user);
    assert.equal(await store.byUsername("bob"), undefined);
  });

  test("byId() finds the record and nothing for unknown or malformed ids", async (store) => {
    const created = await store.create("alice", "h");
    assert.ok(created.ok);
    assert.deepEqual(await store.byId(created.user.id), created.user);
    for (const id of ["999999", "9223372036854775807", "0", "", "abc", "-1", "1.0", "01", " 1"]) {
      assert.equal(await store.byId(id), undefined, `byId(${JSON.stringify(id)})`);
    }
    assert.equal(await store.byId(`0${created.user.id}`), undefined);
  });

  const names = async (store: UserStore, prefix: string, options: UserSearchOptions) =>
    (await store.search(prefix, options)).map((u) => u.username);

  test("search() finds names by prefix in any letter case, ordered by name", async (store) => {
    for (const name of ["bob", "Alice", "alfred", "ALBERT", "al", "carol"]) {
      assert.ok((await store.create(name, "h")).ok);
    }
    assert.deepEqual(await names(store, "al", { limit: 10 }), ["al", "ALBERT", "alfred", "Alice"]);
    assert.deepEqual(await names(store, "AL", { limit: 10 }), ["al", "ALBERT", "alfred", "Alice"]);
    assert.deepEqual(await names(store, "ALI", { limit: 10 }), ["Alice"]);
    assert.deepEqual(await names(store, "zed", { limit: 10 }), []);
    assert.deepEqual(await names(store, "al", { limit: 2 }), ["al", "ALBERT"]);
  });

  test("search() returns only id and username", async (store) => {
    const created = await store.create("alice", "secret-hash");
    assert.ok(created.ok);
    const found = await store.search("ali", { limit: 5 });
    assert.deepEqual(found, [{ id: created.user.id, username: "alice" }]);
    assert.deepEqual(Object.keys(found[0]).sort(), ["id", "username"]);
  });

  test("search() leaves out excludeUserId and never lists everyone", async (store) => {
    const me = await store.create("alice", "h");
    assert.ok(me.ok && (await store.create("alicia", "h")).ok);
    assert.deepEqual(await names(store, "ali", { limit: 5, excludeUserId: me.user.id }), [
      "alicia",
    ]);
    assert.deepEqual(await names(store, "ali", { limit: 5, excludeUserId: "x" }), [
      "alice",
      "alicia",
    ]);
    assert.deepEqual(await store.search("", { limit: 5 }), []);
  });

  test("search() treats wildcards literally and clamps the limit", async (store) => {
    for (const name of ["a_b", "axb", "a%c", "a.d"]) assert.ok((await store.create(name, "h")).ok);
    for (let i = 0; i < MAX_USER_SEARCH + 5; i++) {
      assert.ok((await store.create(`user${i}`, "h")).ok);
    }
    assert.deepEqual(await names(store, "a_", { limit: 10 }), ["a_b"]);
    assert.deepEqual(await names(store, "a%", { limit: 10 }), ["a%c"]);
    assert.deepEqual(await names(store, "a\\", { limit: 10 }), []);
    assert.equal((await store.search("user", { limit: 1000 })).length, MAX_USER_SEARCH);
    await assert.rejects(store.search("a", { limit: 0 }), RangeError);
  });
}
