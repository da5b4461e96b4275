/**
 * The contract every {@link FriendStore} backend must pass, as `Deno.test`s.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type FriendStore, MAX_FRIENDS_PAGE, type Relation } from "./friend_store.ts";

/** What the contract suite needs per test: an empty store and a way to make users. */
export interface FriendStoreFixture {
  readonly store: FriendStore;
  /** Creates a user with this name in the backing store and returns its id. */
  createUser(username: string): Promise<string>;
  close(): void | Promise<void>;
}

const T0 = 1_700_000_000_000;

interface TestContext {
  readonly store: FriendStore;
  /** Creates users with these names, in order, and returns their ids. */
  users(...names: string[]): Promise<string[]>;
}

/**
 * Registers the `Deno.test`s every {@link FriendStore} backend must pass. `makeFixture`
 * returns a fresh, empty store per test.
 *
 * @example
 * ```ts
 * friendStoreContract("SqliteFriendStore (memory)", () => makeSqliteFixture(":memory:"));
 * ```
 */
export function friendStoreContract(
  name: string,
  makeFixture: () => Promise<FriendStoreFixture>,
): void {
  const test = (title: string, fn: (t: TestContext) => Promise<void>) =>
    Deno.test(`${name}: ${title}`, async () => {
      const fixture = await makeFixture();
      const users = async (...names: string[]) => {
        const ids: string[] = [];
        for (const n of names) ids.push(await fixture.createUser(n));
        return ids;
      };
      try {
        await fn({ store: fixture.store, users });
      } finally {
        await fixture.close();
      }
    });
  const relation = (patch: Partial<Relation>): Relation => ({
    friends: false,
    friendsSince: null,
    requestSent: false,
    requestReceived: false,
    blocking: false,
    blockedBy: false,
    ...patch,
  });
  const befriend = async (store: FriendStore, a: string, b: string, at = T0) => {
    assert.deepEqual(await store.request(a, b, at), { ok: true, status: "pending" });
    assert.deepEqual(await store.accept(b, a, at + 1), { ok: true });
  };

  // --- request ----------------------------------------------------------------------------------

  test("request() creates a pending request both sides can see", async ({ store, users }) => {
    const [alice, bob] = await users("alice", "bob");
    assert.deepEqual(await store.request(alice, bob, T0), { ok: true, status: "pending" });
    assert.deepEqual(await store.pendingFor(bob), {
      incoming: [{ userId: alice, username: "alice", createdAt: T0 }],
      outgoing: [],
    });
    assert.deepEqual(await store.pendingFor(alice), {
      incoming: [],
      outgoing: [{ userId: bob, username: "bob", createdAt: T0 }],
    });
    assert.deepEqual(await store.relation(alice, bob), relation({ requestSent: true }));
    assert.deepEqual(await store.relation(bob, alice), relation({ requestReceived: true }));
    assert.equal(await store.areFriends(alice, bob), false);
  });

  test("request() refuses self, unknown users, duplicates and friends", async ({ store, users }) => {
    const [alice, bob, carol] = await users("alice", "bob", "carol");
    assert.deepEqual(await store.request(alice, alice, T0), { ok: false, reason: "self" });
    for (const other of ["999999999", "x", "01", ""]) {
      assert.deepEqual(await store.request(alice, other, T0), {
        ok: false,
        reason: "unknown_user",
      });
      assert.deepEqual(await store.request(other, alice, T0), {
        ok: false,
        reason: "unknown_user",
      });
    }
    assert.ok((await store.request(alice, bob, T0)).ok);
    assert.deepEqual(await store.request(alice, bob, T0 + 1), {
      ok: false,
      reason: "already_pending",
    });
    await befriend(store, alice, carol);
    for (const [a, b] of [[alice, carol], [carol, alice]]) {
      assert.deepEqual(await store.request(a, b, T0 + 2), {
        ok: false,
        reason: "already_friends",
      });
    }
  });

  test("request() is refused while either user blocks the other", async ({ store, users }) => {
    const [alice, bob] = await users("alice", "bob");
    assert.deepEqual(await store.block(bob, alice, T0), { ok: true, changed: true });
    assert.deepEqual(await store.request(alice, bob, T0), { ok: false, reason: "blocked" });
    assert.deepEqual(await store.request(bob, alice, T0), { ok: false, reason: "blocked" });
    assert.deepEqual(await store.pendingFor(bob), { incoming: [], outgoing: [] });
    assert.deepEqual(await store.unblock(bob, alice), { ok: true });
    assert.deepEqual(await store.request(alice, bob, T0 + 1), { ok: true, status: "pending" });
  });

  test("request() back to a pending requester accepts their request", async ({ store, users }) => {
    const [alice, bob] = await users("alice", "bob");
    await store.request(alice, bob, T0);
    assert.deepEqual(await store.request(bob, alice, T0 + 5), { ok: true, status: "accepted" });
    assert.equal(await store.areFriends(alice, bob), true);
    assert.equal(await store.areFriends(bob, alice), true);
    assert.deepEqual(
      await store.relation(bob, alice),
      relation({
        friends: true,
        friendsSince: T0 + 5,
      }),
    );
    assert.deepEqual(await store.pendingFor(alice), { incoming: [], outgoing: [] });
    assert.deepEqual(await store.pendingFor(bob), { incoming: [], outgoing: [] });
  });

  test("request() after a decline or cancel is pending again", async ({ store, users }) => {
    const [alice, bob] = await users("alice", "bob");
    await store.request(alice, bob, T0);
    assert.deepEqual(await store.decline(bob, alice, T0 + 1), { ok: true });
    assert.deepEqual(await store.request(alice, bob, T0 + 2), { ok: true, status: "pending" });
    assert.deepEqual((await store.pendingFor(bob)).incoming, [
      { userId: alice, username: "alice", createdAt: T0 + 2 },
    ]);
    assert.deepEqual(await store.cancel(alice, bob, T0 + 3), { ok: true });
    assert.deepEqual(await store.request(alice, bob, T0 + 4), { ok: true, status: "pending" });
  });

  // --- accept / decline / cancel ---------------------------------------------------------------

  test("accept() makes both users friends, symmetrically", async ({ store, users }) => {
    const [alice, bob] = await users("alice", "bob");
    await store.request(alice, bob, T0);
    assert.deepEqual(await store.accept(bob, alice, T0 + 7), { ok: true });
    assert.equal(await store.areFriends(alice, bob), true);
    assert.equal(await store.areFriends(bob, alice), true);
    assert.deepEqual((await store.friendsOf(alice, { limit: 10 })).friends, [
      { userId: bob, username: "bob", since: T0 + 7 },
    ]);
    assert.deepEqual((await store.friendsOf(bob, { limit: 10 })).friends, [
      { userId: alice, username: "alice", since: T0 + 7 },
    ]);
    assert.deepEqual(await store.pendingFor(bob), { incoming: [], outgoing: [] });
    assert.deepEqual(await store.accept(bob, alice, T0 + 8), { ok: false, reason: "not_found" });
  });

  test("accept(), decline() and cancel() need a pending request in the right direction", async ({ store, users }) => {
    const [alice, bob, carol] = await users("alice", "bob", "carol");
    const notFound = { ok: false, reason: "not_found" };
    await store.request(alice, bob, T0);
    // Only the receiver answers, only the sender cancels.
    assert.deepEqual(await store.accept(alice, bob, T0), notFound);
    assert.deepEqual(await store.decline(alice, bob, T0), notFound);
    assert.deepEqual(await store.cancel(bob, alice, T0), notFound);
    assert.deepEqual(await store.accept(carol, alice, T0), notFound);
    assert.deepEqual(await store.accept(bob, "x", T0), notFound);
    assert.equal((await store.pendingFor(bob)).incoming.length, 1);
    assert.equal(await store.areFriends(alice, bob), false);
  });

  test("decline() ends the request without friendship", async ({ store, users }) => {
    const [alice, bob] = await users("alice", "bob");
    await store.request(alice, bob, T0);
    assert.deepEqual(await store.decline(bob, alice, T0 + 1), { ok: true });
    assert.equal(await store.areFriends(alice, bob), false);
    assert.deepEqual(await store.pendingFor(alice), { incoming: [], outgoing: [] });
    assert.deepEqual(await store.decline(bob, alice, T0 + 2), { ok: false, reason: "not_found" });
    assert.deepEqual(await store.accept(bob, alice, T0 + 2), { ok: false, reason: "not_found" });
  });

  test("cancel() withdraws the request", async ({ store, users }) => {
    const [alice, bob] = await users("alice", "bob");
    await store.request(alice, bob, T0);
    assert.deepEqual(await store.cancel(alice, bob, T0 + 1), { ok: true });
    assert.deepEqual(await store.pendingFor(bob), { incoming: [], outgoing: [] });
    assert.deepEqual(await store.accept(bob, alice, T0 + 2), { ok: false, reason: "not_found" });
    assert.deepEqual(await store.cancel(alice, bob, T0 + 2), { ok: false, reason: "not_found" });
  });

  // --- remove / block / unblock ----------------------------------------------------------------

  test("remove() ends the friendship both ways", async ({ store, users }) => {
    const [alice, bob] = await users("alice", "bob");
    await befriend(store, alice, bob);
    assert.deepEqual(await store.remove(bob, alice), { ok: true });
    assert.equal(await store.areFriends(alice, bob), false);
    assert.equal(await store.areFriends(bob, alice), false);
    assert.deepEqual((await store.friendsOf(alice, { limit: 10 })).friends, []);
    assert.deepEqual(await store.remove(alice, bob), { ok: false, reason: "not_friends" });
    assert.deepEqual(await store.remove(alice, "x"), { ok: false, reason: "not_friends" });
    // They may become friends again.
    await befriend(store, bob, alice, T0 + 10);
    assert.equal(await store.areFriends(alice, bob), true);
  });

  test("block() ends friendship and pending requests both ways", async ({ store, users }) => {
    const [alice, bob, carol] = await users("alice", "bob", "carol");
    await befriend(store, alice, bob);
    await store.request(alice, carol, T0);
    await store.request(carol, bob, T0);
    assert.deepEqual(await store.block(alice, bob, T0 + 5), { ok: true, changed: true });
    assert.equal(await store.areFriends(alice, bob), false);
    assert.equal(await store.areFriends(bob, alice), false);
    assert.deepEqual(await store.relation(alice, bob), relation({ blocking: true }));
    assert.deepEqual(await store.relation(bob, alice), relation({ blockedBy: true }));

    assert.deepEqual(await store.block(carol, alice, T0 + 6), { ok: true, changed: true });
    assert.deepEqual(await store.pendingFor(carol), {
      incoming: [],
      outgoing: [{ userId: bob, username: "bob", createdAt: T0 }],
    });
    assert.deepEqual(await store.pendingFor(alice), { incoming: [], outgoing: [] });
  });

  test("block() cancels the blocker's own request and declines the blocked one's", async ({ store, users }) => {
    const [alice, bob, carol] = await users("alice", "bob", "carol");
    await store.request(alice, bob, T0);
    await store.request(carol, alice, T0);
    await store.block(alice, bob, T0 + 1);
    await store.block(alice, carol, T0 + 1);
    await store.unblock(alice, bob);
    await store.unblock(alice, carol);
    // Nothing pending comes back with the unblock.
    assert.deepEqual(await store.pendingFor(alice), { incoming: [], outgoing: [] });
    assert.deepEqual(await store.accept(bob, alice, T0 + 2), { ok: false, reason: "not_found" });
    assert.deepEqual(await store.accept(alice, carol, T0 + 2), {
      ok: false,
      reason: "not_found",
    });
  });

  test("block() is idempotent and refuses self and unknown users", async ({ store, users }) => {
    const [alice, bob] = await users("alice", "bob");
    assert.deepEqual(await store.block(alice, bob, T0), { ok: true, changed: true });
    assert.deepEqual(await store.block(alice, bob, T0 + 1), { ok: true, changed: false });
    assert.deepEqual(await store.block(alice, alice, T0), { ok: false, reason: "self" });
    assert.deepEqual(await store.block(alice, "999999999", T0), {
      ok: false,
      reason: "unknown_user",
    });
    assert.deepEqual(await store.block(alice, "x", T0), { ok: false, reason: "unknown_user" });
    // Both may block each other; each unblock lifts only its own.
    assert.deepEqual(await store.block(bob, alice, T0), { ok: true, changed: true });
    assert.deepEqual(await store.unblock(alice, bob), { ok: true });
    assert.equal(await store.isBlocked(alice, bob), true);
    assert.deepEqual(await store.relation(alice, bob), relation({ blockedBy: true }));
  });

  test("isBlocked() sees a block from either side; unblock() lifts it", async ({ store, users }) => {
    const [alice, bob, carol] = await users("alice", "bob", "carol");
    await store.block(alice, bob, T0);
    assert.equal(await store.isBlocked(alice, bob), true);
    assert.equal(await store.isBlocked(bob, alice), true);
    assert.equal(await store.isBlocked(alice, carol), false);
    assert.equal(await store.isBlocked(alice, "x"), false);
    assert.deepEqual(await store.unblock(bob, alice), { ok: false, reason: "not_blocked" });
    assert.deepEqual(await store.unblock(alice, bob), { ok: true });
    assert.equal(await store.isBlocked(bob, alice), false);
    assert.deepEqual(await store.unblock(alice, bob), { ok: false, reason: "not_blocked" });
    assert.deepEqual(await store.unblock(alice, "x"), { ok: false, reason: "not_blocked" });
    assert.equal(await store.areFriends(alice, bob), false);
  });

  // --- queries ------------------------------------------------------------------------------

  test("friendsOf() pages by user id with hasMore", async ({ store, users }) => {
    const [me, ...others] = await users("me", "f1", "f2", "f3", "f4", "f5");
    for (const other of others) await befriend(store, other, me);
    const expected = [...others].sort((x, y) => Number(BigInt(x) - BigInt(y)));
    const seen: string[] = [];
    let after: string | undefined;
    for (const hasMore of [true, true, false]) {
      const page = await store.friendsOf(me, { limit: 2, after });
      assert.equal(page.hasMore, hasMore);
      seen.push(...page.friends.map((f) => f.userId));
      after = page.friends.at(-1)?.userId;
    }
    assert.deepEqual(seen, expected);
    const all = await store.friendsOf(me, { limit: MAX_FRIENDS_PAGE + 1 });
    assert.deepEqual([all.friends.length, all.hasMore], [5, false]);
    assert.deepEqual(all.friends.map((f) => f.username).sort(), ["f1", "f2", "f3", "f4", "f5"]);
    assert.deepEqual(await store.friendsOf("x", { limit: 2 }), { friends: [], hasMore: false });
    await assert.rejects(store.friendsOf(me, { limit: 0 }), RangeError);
    await assert.rejects(store.friendsOf(me, { limit: 2, after: "x" }), TypeError);
  });

  test("pendingFor() lists newest first and respects the limit", async ({ store, users }) => {
    const [me, a, b, c] = await users("me", "a", "b", "c");
    await store.request(a, me, T0 + 1);
    await store.request(b, me, T0 + 3);
    await store.request(me, c, T0 + 2);
    const pending = await store.pendingFor(me);
    assert.deepEqual(pending.incoming.map((r) => r.username), ["b", "a"]);
    assert.deepEqual(pending.outgoing.map((r) => r.username), ["c"]);
    assert.deepEqual((await store.pendingFor(me, { limit: 1 })).incoming.map((r) => r.userId), [
      b,
    ]);
    assert.deepEqual(await store.pendingFor("x"), { incoming: [], outgoing: [] });
    await assert.rejects(store.pendingFor(me, { limit: 0 }), RangeError);
  });

  test("relation() is empty for strangers, self and unknown users", async ({ store, users }) => {
    const [alice, bob] = await users("alice", "bob");
    assert.deepEqual(await store.relation(alice, bob), relation({}));
    assert.deepEqual(await store.relation(alice, alice), relation({}));
    assert.deepEqual(await store.relation(alice, "999999999"), relation({}));
    assert.deepEqual(await store.relation("x", alice), relation({}));
  });
}
