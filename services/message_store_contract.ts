/**
 * The contract every {@link MessageStore} backend must pass, as `Deno.test`s.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  type AppendItem,
  type AppendResult,
  type ConversationsCursor,
  directConversationId,
  MAX_APPEND_BATCH,
  MAX_MESSAGE_PAGE,
  type MessageContent,
  type MessageStore,
  type StoredMessage,
} from "./message_store.ts";

/** What the contract suite needs per test: an empty store and ways to set the scene. */
export interface MessageStoreFixture {
  readonly store: MessageStore;
  /** Creates a user in the backing store (members must be users) and returns its id. */
  createUser(): Promise<string>;
  /**
   * Sets a conversation's `lastSeq` directly, as if that many messages had been stored
   * (to reach seqs above 2^53 without storing them).
   */
  setLastSeq(conversationId: string, seq: bigint): Promise<void>;
  /**
   * From now on, storing a message whose text is `text` fails with a thrown database error
   * (a trigger, say), to check that a batch is all or nothing.
   */
  failMessagesWithText(text: string): Promise<void>;
  close(): void | Promise<void>;
}

const T0 = 1_700_000_000_000;
const BEYOND_2_53 = 2n ** 53n + 1n;

/**
 * Registers the `Deno.test`s every {@link MessageStore} backend must pass. `makeFixture`
 * returns a fresh, empty store per test.
 *
 * @example
 * ```ts
 * messageStoreContract("SqliteMessageStore (memory)", () => makeSqliteFixture(":memory:"));
 * ```
 */
export function messageStoreContract(
  name: string,
  makeFixture: () => Promise<MessageStoreFixture>,
): void {
  const test = (title: string, fn: (f: MessageStoreFixture) => Promise<void>) =>
    Deno.test(`${name}: ${title}`, async () => {
      const fixture = await makeFixture();
      try {
        await fn(fixture);
      } finally {
        await fixture.close();
      }
    });

  /** Two users and their direct conversation. */
  const direct = async (f: MessageStoreFixture) => {
    const a = await f.createUser();
    const b = await f.createUser();
    const created = await f.store.ensureDirect(a, b, T0);
    assert.ok(created.ok);
    return { a, b, conv: created.conversationId };
  };
  const text = (body: string): MessageContent => ({ type: 1, text: body });
  const item = (
    conversationId: string,
    seq: bigint | number,
    senderId: string,
    clientMsgId: string,
    content: MessageContent = text(clientMsgId),
  ): AppendItem => ({ conversationId, seq: BigInt(seq), senderId, clientMsgId, content });
  const stored = (result: AppendResult): StoredMessage => {
    assert.equal(result.status, "stored", `expected stored, got ${JSON.stringify(result.status)}`);
    return (result as { message: StoredMessage }).message;
  };
  const statuses = (results: AppendResult[]) => results.map((r) => r.status);
  const seqs = (messages: readonly StoredMessage[]) => messages.map((m) => Number(m.seq));
  const fill = async (store: MessageStore, conv: string, sender: string, n: number, from = 1) => {
    const items = Array.from({ length: n }, (_, i) => item(conv, from + i, sender, `m${from + i}`));
    const results = await store.appendBatch(items, T0 + 1);
    assert.deepEqual(new Set(statuses(results)), new Set(["stored"]));
  };

  // --- ensureDirect / load / isMember ---------------------------------------------------------

  test("ensureDirect() creates the conversation with both members once", async (f) => {
    const a = await f.createUser();
    const b = await f.createUser();
    const id = directConversationId(a, b);
    assert.deepEqual(await f.store.ensureDirect(b, a, T0), {
      ok: true,
      conversationId: id,
      created: true,
    });
    assert.deepEqual(await f.store.ensureDirect(a, b, T0 + 5), {
      ok: true,
      conversationId: id,
      created: false,
    });
    const sorted = [a, b].sort((x, y) => Number(BigInt(x) - BigInt(y)));
    assert.deepEqual(await f.store.load(id), {
      id,
      kind: "direct",
      createdAt: T0,
      lastSeq: 0n,
      members: sorted.map((userId) => ({ userId, joinedAt: T0, deliveredSeq: 0n, readSeq: 0n })),
    });
    assert.equal(await f.store.isMember(id, a), true);
    assert.equal(await f.store.isMember(id, b), true);
  });

  test("ensureDirect() from concurrent callers creates one conversation", async (f) => {
    const a = await f.createUser();
    const b = await f.createUser();
    const results = await Promise.all([
      f.store.ensureDirect(a, b, T0),
      f.store.ensureDirect(b, a, T0),
      f.store.ensureDirect(a, b, T0),
    ]);
    assert.equal(results.filter((r) => r.ok && r.created).length, 1);
    assert.equal((await f.store.changesSince(a, 0n, 10)).changes.length, 1);
  });

  test("ensureDirect() refuses a user with themself and unknown or malformed users", async (f) => {
    const a = await f.createUser();
    assert.deepEqual(await f.store.ensureDirect(a, a, T0), { ok: false, reason: "self" });
    for (const other of ["999999999", "0", "x", "01", ""]) {
      assert.deepEqual(await f.store.ensureDirect(a, other, T0), {
        ok: false,
        reason: "unknown_user",
      }, `ensureDirect(a, ${JSON.stringify(other)})`);
    }
    assert.equal((await f.store.changesSince(a, 0n, 10)).changes.length, 0);
  });

  test("load() and isMember() find nothing for unknown conversations and outsiders", async (f) => {
    const { conv } = await direct(f);
    const outsider = await f.createUser();
    assert.equal(await f.store.load("d:1:999999"), undefined);
    assert.equal(await f.store.isMember("d:1:999999", outsider), false);
    assert.equal(await f.store.isMember(conv, outsider), false);
    assert.equal(await f.store.isMember(conv, "nope"), false);
  });

  // --- appendBatch --------------------------------------------------------------------------

  test("appendBatch() stores items in order and returns the stored messages", async (f) => {
    const { a, b, conv } = await direct(f);
    const bytes = new Uint8Array([0, 1, 2, 255]);
    const results = await f.store.appendBatch([
      item(conv, 1, a, "c1", { type: 1, text: "hello" }),
      item(conv, 2, b, "c2", { type: 2, data: bytes, customType: "image-ref+json" }),
      item(conv, 3, a, "c3", { type: 1, text: "" }),
    ], T0 + 10);
    const messages = results.map(stored);
    assert.deepEqual(seqs(messages), [1, 2, 3]);
    assert.deepEqual(messages[0], {
      messageId: messages[0].messageId,
      conversationId: conv,
      seq: 1n,
      senderId: a,
      clientMsgId: "c1",
      content: { type: 1, text: "hello" },
      createdAt: T0 + 10,
    });
    assert.deepEqual(messages[1].content, {
      type: 2,
      data: bytes,
      customType: "image-ref+json",
    });
    assert.deepEqual(messages[2].content, { type: 1, text: "" });
    for (const m of messages) assert.match(m.messageId, /^[1-9][0-9]*$/);
    assert.equal(new Set(messages.map((m) => m.messageId)).size, 3);
    assert.equal((await f.store.load(conv))?.lastSeq, 3n);
    assert.deepEqual((await f.store.page(conv, { limit: 10 })).messages, messages);
    assert.deepEqual(await f.store.byClientMsgId(b, "c2"), messages[1]);
  });

  test("appendBatch() message ids are unique across conversations", async (f) => {
    const one = await direct(f);
    const two = await direct(f);
    const results = await f.store.appendBatch([
      item(one.conv, 1, one.a, "x"),
      item(two.conv, 1, two.a, "x"),
    ], T0);
    const [m1, m2] = results.map(stored);
    assert.notEqual(m1.messageId, m2.messageId);
  });

  test("appendBatch() of an empty batch stores nothing", async (f) => {
    const { a, conv } = await direct(f);
    const before = await f.store.changesSince(a, 0n, 10);
    assert.deepEqual(await f.store.appendBatch([], T0), []);
    assert.deepEqual(await f.store.changesSince(a, 0n, 10), before);
    assert.equal((await f.store.load(conv))?.lastSeq, 0n);
  });

  test("appendBatch() stores one message for a clientMsgId repeated in a batch", async (f) => {
    const { a, conv } = await direct(f);
    const results = await f.store.appendBatch([
      item(conv, 1, a, "same", text("first")),
      item(conv, 2, a, "same", text("second")),
    ], T0);
    const original = stored(results[0]);
    assert.deepEqual(results[1], { status: "duplicate", message: original });
    assert.equal((await f.store.load(conv))?.lastSeq, 1n);
    assert.deepEqual(seqs((await f.store.page(conv, { limit: 10 })).messages), [1]);
  });

  test("appendBatch() answers a retry in a later batch with the original", async (f) => {
    const { a, b, conv } = await direct(f);
    const original = stored((await f.store.appendBatch([item(conv, 1, a, "c1")], T0))[0]);
    await f.store.appendBatch([item(conv, 2, b, "c2")], T0 + 1);
    const retry = await f.store.appendBatch([item(conv, 3, a, "c1", text("changed"))], T0 + 2);
    assert.deepEqual(retry, [{ status: "duplicate", message: original }]);
    assert.equal(original.seq, 1n);
    assert.equal((await f.store.load(conv))?.lastSeq, 2n);
    assert.equal((await f.store.page(conv, { limit: 10 })).messages.length, 2);
  });

  test("appendBatch() keys idempotency by sender: another sender may reuse the id", async (f) => {
    const { a, b, conv } = await direct(f);
    const results = await f.store.appendBatch([item(conv, 1, a, "k"), item(conv, 2, b, "k")], T0);
    assert.deepEqual(statuses(results), ["stored", "stored"]);
    assert.equal((await f.store.byClientMsgId(a, "k"))?.seq, 1n);
    assert.equal((await f.store.byClientMsgId(b, "k"))?.seq, 2n);
  });

  test("appendBatch() reports seq_conflict for taken seqs without touching other items", async (f) => {
    const { a, b, conv } = await direct(f);
    const other = await direct(f);
    await f.store.appendBatch([item(conv, 1, a, "w1"), item(conv, 2, b, "w2")], T0);
    const original = (await f.store.byClientMsgId(a, "w1"))!;
    // A stale writer that believes lastSeq is 1, in a batch shared with other work.
    const results = await f.store.appendBatch([
      item(conv, 2, a, "stale2"),
      item(other.conv, 1, other.a, "o1"),
      item(conv, 3, a, "stale3"),
      item(conv, 5, b, "w1-retry-other-sender"),
      item(conv, 4, a, "w1"),
      item(other.conv, 2, other.b, "o2"),
    ], T0 + 1);
    assert.deepEqual(statuses(results), [
      "seq_conflict",
      "stored",
      // After a conflict the writer is stale: nothing more of it is stored for `conv`.
      "seq_conflict",
      "seq_conflict",
      "duplicate",
      "stored",
    ]);
    assert.deepEqual(results[4], { status: "duplicate", message: original });
    assert.equal((await f.store.load(conv))?.lastSeq, 2n);
    assert.equal(await f.store.byClientMsgId(a, "stale3"), undefined);
    assert.equal((await f.store.load(other.conv))?.lastSeq, 2n);
  });

  test("appendBatch() reports seq_gap and keeps seqs gap-free", async (f) => {
    const { a, conv } = await direct(f);
    const results = await f.store.appendBatch([
      item(conv, 1, a, "c1"),
      item(conv, 2, a, "c1"), // a retry: not stored, so seq 2 stays free
      item(conv, 3, a, "c3"),
      item(conv, 2, a, "c2"),
    ], T0);
    assert.deepEqual(results.slice(1, 3), [
      { status: "duplicate", message: stored(results[0]) },
      { status: "seq_gap", expectedSeq: 2n },
    ]);
    assert.equal(stored(results[3]).seq, 2n);
    const again = await f.store.appendBatch([item(conv, 3, a, "c3")], T0);
    assert.equal(stored(again[0]).seq, 3n);
    assert.deepEqual(seqs((await f.store.page(conv, { limit: 10 })).messages), [1, 2, 3]);
  });

  test("appendBatch() refuses unknown conversations, outsiders and malformed items alone", async (f) => {
    const { a, b, conv } = await direct(f);
    const outsider = await f.createUser();
    const bad = (patch: Record<string, unknown>) =>
      ({ ...item(conv, 1, a, "bad"), ...patch }) as unknown as AppendItem;
    const results = await f.store.appendBatch([
      item("d:1:999999", 1, a, "u"),
      item(conv, 1, outsider, "o"),
      bad({ seq: 0n }),
      bad({ seq: 1 }),
      bad({ senderId: "01" }),
      bad({ clientMsgId: "" }),
      bad({ clientMsgId: "x".repeat(129) }),
      bad({ conversationId: "" }),
      bad({ content: { type: 1.5 } }),
      bad({ content: { type: 1, text: 7 } }),
      bad({ content: { type: 2, data: [1, 2] } }),
      bad({ content: null }),
      item(conv, 1, b, "good"),
    ], T0);
    assert.deepEqual(statuses(results), [
      "unknown_conversation",
      "not_member",
      ...Array(10).fill("invalid"),
      "stored",
    ]);
    for (const r of results.slice(2, 12)) {
      assert.ok(r.status === "invalid" && r.reason.length > 0);
    }
    assert.equal(await f.store.byClientMsgId(outsider, "o"), undefined);
  });

  test("appendBatch() rejects a batch as a whole when the database fails", async (f) => {
    const { a, b, conv } = await direct(f);
    const other = await direct(f);
    await f.store.appendBatch([item(conv, 1, a, "before")], T0);
    const changes = await f.store.changesSince(a, 0n, 10);
    await f.failMessagesWithText("boom");
    await assert.rejects(f.store.appendBatch([
      item(conv, 2, b, "ok1"),
      item(other.conv, 1, other.a, "ok2"),
      item(conv, 3, a, "boom", text("boom")),
    ], T0 + 1));
    assert.equal((await f.store.load(conv))?.lastSeq, 1n);
    assert.equal((await f.store.load(other.conv))?.lastSeq, 0n);
    assert.equal(await f.store.byClientMsgId(b, "ok1"), undefined);
    assert.equal(await f.store.byClientMsgId(other.a, "ok2"), undefined);
    assert.deepEqual(await f.store.changesSince(a, 0n, 10), changes);
    assert.deepEqual(
      (await f.store.load(conv))?.members.map((m) => m.readSeq).sort(),
      [0n, 1n],
    );
    await assert.rejects(
      f.store.appendBatch(Array(MAX_APPEND_BATCH + 1).fill(item(conv, 2, b, "x")), T0),
      RangeError,
    );
    // Nothing was acknowledged, so the same items may be sent again.
    const retry = await f.store.appendBatch([item(conv, 2, b, "ok1")], T0 + 2);
    assert.equal(stored(retry[0]).seq, 2n);
  });

  test("appendBatch() stores 1000 items of several conversations in one call", async (f) => {
    const one = await direct(f);
    const two = await direct(f);
    const items: AppendItem[] = [];
    for (let i = 0; i < 1000; i++) {
      const { conv, a, b } = i % 2 === 0 ? one : two;
      const seq = Math.floor(i / 2) + 1;
      items.push(item(conv, seq, i % 4 < 2 ? a : b, `bulk-${i}`));
    }
    const results = await f.store.appendBatch(items, T0);
    assert.equal(results.length, 1000);
    assert.ok(results.every((r) => r.status === "stored"));
    assert.equal((await f.store.load(one.conv))?.lastSeq, 500n);
    assert.equal((await f.store.load(two.conv))?.lastSeq, 500n);
    const last = await f.store.page(one.conv, { beforeSeq: 501n, limit: 3 });
    assert.deepEqual(seqs(last.messages), [498, 499, 500]);
    // One change per conversation per batch, not per message.
    const changes = await f.store.changesSince(one.a, 0n, 10);
    assert.deepEqual(changes.changes.map((c) => c.conversationId), [one.conv]);
  });

  test("appendBatch() moves the sender's watermarks to their message, not the peer's", async (f) => {
    const { a, b, conv } = await direct(f);
    await f.store.appendBatch([
      item(conv, 1, a, "a1"),
      item(conv, 2, b, "b1"),
      item(conv, 3, a, "a2"),
    ], T0);
    const members = new Map((await f.store.load(conv))!.members.map((m) => [m.userId, m]));
    assert.deepEqual([members.get(a)?.deliveredSeq, members.get(a)?.readSeq], [3n, 3n]);
    assert.deepEqual([members.get(b)?.deliveredSeq, members.get(b)?.readSeq], [2n, 2n]);
  });

  test("appendBatch(), page() and load() keep seqs above 2^53 exact", async (f) => {
    const { a, b, conv } = await direct(f);
    await f.setLastSeq(conv, BEYOND_2_53 - 1n);
    const results = await f.store.appendBatch([
      item(conv, BEYOND_2_53, a, "big1"),
      item(conv, BEYOND_2_53 + 1n, b, "big2"),
    ], T0);
    const [m1, m2] = results.map(stored);
    assert.equal(m1.seq, 9007199254740993n);
    assert.equal(m2.seq, 9007199254740994n);
    assert.equal((await f.store.load(conv))?.lastSeq, 9007199254740994n);
    const page = await f.store.page(conv, { afterSeq: BEYOND_2_53 - 1n, limit: 10 });
    assert.deepEqual(page.messages, [m1, m2]);
    assert.deepEqual(
      (await f.store.page(conv, { beforeSeq: BEYOND_2_53 + 1n, limit: 10 })).messages,
      [m1],
    );
    assert.equal((await f.store.byClientMsgId(a, "big1"))?.seq, BEYOND_2_53);
    const retry = await f.store.appendBatch([
      item(conv, BEYOND_2_53 + 2n, a, "big1"),
      item(conv, BEYOND_2_53 + 1n, a, "stale"),
    ], T0);
    assert.deepEqual(retry, [{ status: "duplicate", message: m1 }, { status: "seq_conflict" }]);
    const mark = await f.store.setWatermark(conv, b, "read", BEYOND_2_53 + 1n, T0);
    assert.deepEqual(mark, {
      ok: true,
      deliveredSeq: BEYOND_2_53 + 1n,
      readSeq: BEYOND_2_53 + 1n,
      changed: false,
    });
    const [summary] = (await f.store.conversationsOf(a, { limit: 10 })).conversations;
    assert.equal(summary.lastSeq, BEYOND_2_53 + 1n);
    assert.equal(summary.unread, 1n);
    assert.deepEqual(summary.lastMessage, m2);
    const [change] = (await f.store.changesSince(b, 0n, 10)).changes;
    assert.equal(change.lastSeq, BEYOND_2_53 + 1n);
  });

  // --- byClientMsgId / page ---------------------------------------------------------------

  test("byClientMsgId() finds nothing for unknown keys and malformed senders", async (f) => {
    const { a, conv } = await direct(f);
    await f.store.appendBatch([item(conv, 1, a, "c1")], T0);
    assert.equal(await f.store.byClientMsgId(a, "c2"), undefined);
    assert.equal(await f.store.byClientMsgId("x", "c1"), undefined);
    assert.equal(await f.store.byClientMsgId(`0${a}`, "c1"), undefined);
  });

  test("page() returns the oldest of the range after afterSeq, ascending", async (f) => {
    const { a, conv } = await direct(f);
    await fill(f.store, conv, a, 10);
    const first = await f.store.page(conv, { limit: 4 });
    assert.deepEqual(seqs(first.messages), [1, 2, 3, 4]);
    assert.equal(first.hasMore, true);
    assert.deepEqual(seqs((await f.store.page(conv, { afterSeq: 4n, limit: 4 })).messages), [
      5,
      6,
      7,
      8,
    ]);
    const tail = await f.store.page(conv, { afterSeq: 6n, limit: 4 });
    assert.deepEqual([seqs(tail.messages), tail.hasMore], [[7, 8, 9, 10], false]);
    const end = await f.store.page(conv, { afterSeq: 10n, limit: 4 });
    assert.deepEqual([end.messages, end.hasMore], [[], false]);
  });

  test("page() with beforeSeq returns the newest of the range, ascending", async (f) => {
    const { a, conv } = await direct(f);
    await fill(f.store, conv, a, 10);
    const latest = await f.store.page(conv, { beforeSeq: 11n, limit: 3 });
    assert.deepEqual([seqs(latest.messages), latest.hasMore], [[8, 9, 10], true]);
    const older = await f.store.page(conv, { beforeSeq: 4n, limit: 3 });
    assert.deepEqual([seqs(older.messages), older.hasMore], [[1, 2, 3], false]);
    const window = await f.store.page(conv, { afterSeq: 2n, beforeSeq: 8n, limit: 3 });
    assert.deepEqual([seqs(window.messages), window.hasMore], [[5, 6, 7], true]);
    const exact = await f.store.page(conv, { afterSeq: 2n, beforeSeq: 6n, limit: 3 });
    assert.deepEqual([seqs(exact.messages), exact.hasMore], [[3, 4, 5], false]);
    for (const range of [{ afterSeq: 5n, beforeSeq: 6n }, { afterSeq: 7n, beforeSeq: 3n }]) {
      assert.deepEqual(await f.store.page(conv, { ...range, limit: 3 }), {
        messages: [],
        hasMore: false,
      });
    }
    assert.deepEqual((await f.store.page(conv, { beforeSeq: 1n, limit: 3 })).messages, []);
    // Bounds beyond any 64-bit seq are fine.
    const huge = 2n ** 70n;
    assert.deepEqual(seqs((await f.store.page(conv, { beforeSeq: huge, limit: 2 })).messages), [
      9,
      10,
    ]);
    assert.deepEqual((await f.store.page(conv, { afterSeq: huge, limit: 2 })).messages, []);
  });

  test("page() clamps the limit to MAX_MESSAGE_PAGE and rejects bad arguments", async (f) => {
    const { a, conv } = await direct(f);
    await fill(f.store, conv, a, MAX_MESSAGE_PAGE + 5);
    const page = await f.store.page(conv, { limit: 10_000 });
    assert.equal(page.messages.length, MAX_MESSAGE_PAGE);
    assert.equal(page.hasMore, true);
    assert.deepEqual(await f.store.page("d:1:999999", { limit: 5 }), {
      messages: [],
      hasMore: false,
    });
    await assert.rejects(f.store.page(conv, { limit: 0 }), RangeError);
    await assert.rejects(f.store.page(conv, { limit: 1.5 }), RangeError);
    await assert.rejects(f.store.page(conv, { afterSeq: -1n, limit: 5 }), RangeError);
  });

  // --- setWatermark -----------------------------------------------------------------------------

  test("setWatermark() is monotonic, and read pulls delivered up", async (f) => {
    const { a, b, conv } = await direct(f);
    await fill(f.store, conv, a, 6);
    const mark = (kind: "delivered" | "read", seq: bigint) =>
      f.store.setWatermark(conv, b, kind, seq, T0 + 5);
    assert.deepEqual(await mark("delivered", 3n), {
      ok: true,
      deliveredSeq: 3n,
      readSeq: 0n,
      changed: true,
    });
    assert.deepEqual(await mark("delivered", 2n), {
      ok: true,
      deliveredSeq: 3n,
      readSeq: 0n,
      changed: false,
    });
    assert.deepEqual(await mark("read", 2n), {
      ok: true,
      deliveredSeq: 3n,
      readSeq: 2n,
      changed: true,
    });
    assert.deepEqual(await mark("read", 1n), {
      ok: true,
      deliveredSeq: 3n,
      readSeq: 2n,
      changed: false,
    });
    assert.deepEqual(await mark("read", 5n), {
      ok: true,
      deliveredSeq: 5n,
      readSeq: 5n,
      changed: true,
    });
    // Beyond the last message: clamped to it.
    assert.deepEqual(await mark("read", 99n), {
      ok: true,
      deliveredSeq: 6n,
      readSeq: 6n,
      changed: true,
    });
    const member = (await f.store.load(conv))!.members.find((m) => m.userId === b);
    assert.deepEqual([member?.deliveredSeq, member?.readSeq], [6n, 6n]);
  });

  test("setWatermark() refuses outsiders and rejects bad arguments", async (f) => {
    const { a, conv } = await direct(f);
    const outsider = await f.createUser();
    const notMember = { ok: false, reason: "not_member" };
    assert.deepEqual(await f.store.setWatermark(conv, outsider, "read", 1n, T0), notMember);
    assert.deepEqual(await f.store.setWatermark("d:1:999999", a, "read", 1n, T0), notMember);
    assert.deepEqual(await f.store.setWatermark(conv, "x", "read", 1n, T0), notMember);
    await assert.rejects(f.store.setWatermark(conv, a, "read", -1n, T0), RangeError);
    await assert.rejects(
      f.store.setWatermark(conv, a, "seen" as "read", 1n, T0),
      TypeError,
    );
  });

  test("setWatermark() bumps every member's change log, only when it moves", async (f) => {
    const { a, b, conv } = await direct(f);
    await fill(f.store, conv, a, 3);
    const cursorA = (await f.store.changesSince(a, 0n, 10)).cursor;
    const cursorB = (await f.store.changesSince(b, 0n, 10)).cursor;
    await f.store.setWatermark(conv, b, "read", 2n, T0 + 50);
    const forA = await f.store.changesSince(a, cursorA, 10);
    assert.equal(forA.changes.length, 1);
    assert.deepEqual(forA.changes[0].peer, {
      userId: b,
      joinedAt: T0,
      deliveredSeq: 2n,
      readSeq: 2n,
    });
    assert.equal(forA.changes[0].changedAt, T0 + 50);
    const forB = await f.store.changesSince(b, cursorB, 10);
    assert.deepEqual(
      [forB.changes.length, forB.changes[0].readSeq, forB.changes[0].deliveredSeq],
      [1, 2n, 2n],
    );
    // The same receipt again (another device) moves nothing and logs nothing.
    await f.store.setWatermark(conv, b, "delivered", 2n, T0 + 60);
    assert.equal((await f.store.changesSince(a, forA.cursor, 10)).changes.length, 0);
    assert.equal((await f.store.changesSince(b, forB.cursor, 10)).changes.length, 0);
  });

  // --- changesSince ------------------------------------------------------------------------

  test("changesSince() lists each changed conversation once, in change order, in pages", async (f) => {
    const me = await f.createUser();
    const peers = [await f.createUser(), await f.createUser(), await f.createUser()];
    const convs: string[] = [];
    for (const peer of peers) {
      const created = await f.store.ensureDirect(me, peer, T0);
      assert.ok(created.ok);
      convs.push(created.conversationId);
    }
    const start = (await f.store.changesSince(me, 0n, 10)).cursor;
    // Change all three, the first one twice: it must come last, once.
    await f.store.appendBatch([item(convs[0], 1, me, "x0")], T0 + 1);
    await f.store.appendBatch([item(convs[1], 1, peers[1], "x1")], T0 + 2);
    await f.store.appendBatch([item(convs[2], 1, me, "x2")], T0 + 3);
    await f.store.appendBatch([item(convs[0], 2, peers[0], "x3")], T0 + 4);
    const all = await f.store.changesSince(me, start, 10);
    assert.deepEqual(all.changes.map((c) => c.conversationId), [convs[1], convs[2], convs[0]]);
    const changeSeqs = all.changes.map((c) => c.changeSeq);
    assert.deepEqual(changeSeqs, [...changeSeqs].sort((x, y) => (x < y ? -1 : 1)));
    assert.equal(new Set(changeSeqs).size, 3);
    assert.ok(changeSeqs[0] > start);
    assert.equal(all.cursor, changeSeqs[2]);
    assert.equal(all.hasMore, false);
    assert.deepEqual(all.changes[2], {
      conversationId: convs[0],
      kind: "direct",
      changeSeq: changeSeqs[2],
      changedAt: T0 + 4,
      lastSeq: 2n,
      deliveredSeq: 1n,
      readSeq: 1n,
      peer: { userId: peers[0], joinedAt: T0, deliveredSeq: 2n, readSeq: 2n },
    });

    const page1 = await f.store.changesSince(me, start, 2);
    assert.deepEqual(page1.changes.map((c) => c.conversationId), [convs[1], convs[2]]);
    assert.equal(page1.hasMore, true);
    assert.equal(page1.cursor, changeSeqs[1]);
    const page2 = await f.store.changesSince(me, page1.cursor, 2);
    assert.deepEqual(page2.changes.map((c) => c.conversationId), [convs[0]]);
    assert.equal(page2.hasMore, false);
    const page3 = await f.store.changesSince(me, page2.cursor, 2);
    assert.deepEqual(page3, { changes: [], cursor: page2.cursor, hasMore: false, reset: false });
    assert.equal(page1.reset || page2.reset || all.reset, false);
  });

  test("changesSince() restarts from 0 with reset for a cursor ahead of the log", async (f) => {
    const { a, b, conv } = await direct(f);
    await f.store.appendBatch([item(conv, 1, b, "x")], T0);
    const current = await f.store.changesSince(a, 0n, 10);
    assert.equal(current.reset, false);
    const ahead = await f.store.changesSince(a, current.cursor + 1_000n, 10);
    assert.deepEqual(ahead, { ...current, reset: true });
    // The log's own cursor, however old, never resets.
    assert.equal((await f.store.changesSince(a, current.cursor, 10)).reset, false);
    const outsider = await f.createUser();
    assert.deepEqual(await f.store.changesSince(outsider, 7n, 10), {
      changes: [],
      cursor: 0n,
      hasMore: false,
      reset: true,
    });
  });

  test("changesSince() shows only the user's own conversations", async (f) => {
    const one = await direct(f);
    const two = await direct(f);
    await f.store.appendBatch([item(two.conv, 1, two.a, "t")], T0);
    const changes = await f.store.changesSince(one.a, 0n, 10);
    assert.deepEqual(changes.changes.map((c) => c.conversationId), [one.conv]);
    const outsider = await f.createUser();
    assert.deepEqual(await f.store.changesSince(outsider, 0n, 10), {
      changes: [],
      cursor: 0n,
      hasMore: false,
      reset: false,
    });
    assert.deepEqual(await f.store.changesSince("nope", 3n, 10), {
      changes: [],
      cursor: 3n,
      hasMore: false,
      reset: false,
    });
    await assert.rejects(f.store.changesSince(one.a, 0n, 0), RangeError);
    await assert.rejects(f.store.changesSince(one.a, -1n, 10), RangeError);
  });

  // --- conversationsOf -----------------------------------------------------------------------

  test("conversationsOf() orders by recent activity, with unread counts and last messages", async (f) => {
    const me = await f.createUser();
    const [p1, p2, p3] = [await f.createUser(), await f.createUser(), await f.createUser()];
    const c1 = await f.store.ensureDirect(me, p1, T0 + 1);
    const c2 = await f.store.ensureDirect(me, p2, T0 + 2);
    const c3 = await f.store.ensureDirect(p3, me, T0 + 3);
    assert.ok(c1.ok && c2.ok && c3.ok);
    const [r1, , r3] = await f.store.appendBatch([
      item(c1.conversationId, 1, p1, "p1-1"),
      item(c1.conversationId, 2, p1, "p1-2"),
      item(c1.conversationId, 3, p1, "p1-3"),
    ], T0 + 10);
    await f.store.appendBatch([item(c2.conversationId, 1, me, "me-1")], T0 + 20);
    await f.store.setWatermark(c1.conversationId, me, "read", 1n, T0 + 30); // not activity

    const page = await f.store.conversationsOf(me, { limit: 10 });
    assert.equal(page.hasMore, false);
    assert.deepEqual(page.conversations.map((c) => c.conversationId), [
      c2.conversationId,
      c1.conversationId,
      c3.conversationId,
    ]);
    const [s2, s1, s3] = page.conversations;
    assert.deepEqual(
      [s1.lastSeq, s1.readSeq, s1.unread, s1.activityAt, s1.kind],
      [3n, 1n, 2n, T0 + 10, "direct"],
    );
    assert.deepEqual(s1.lastMessage, stored(r3));
    assert.equal(stored(r1).seq, 1n);
    assert.deepEqual(s1.peer, { userId: p1, joinedAt: T0 + 1, deliveredSeq: 3n, readSeq: 3n });
    assert.deepEqual([s2.unread, s2.lastMessage?.clientMsgId, s2.peer?.userId], [0n, "me-1", p2]);
    assert.deepEqual([s3.unread, s3.lastMessage, s3.activityAt, s3.peer?.userId], [
      0n,
      undefined,
      T0 + 3,
      p3,
    ]);
    // The peer's view of c1: all three are its own.
    const peerView = (await f.store.conversationsOf(p1, { limit: 10 })).conversations[0];
    assert.equal(peerView.unread, 0n);
  });

  test("conversationsOf() pages with before, ties broken by conversation id", async (f) => {
    const me = await f.createUser();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const created = await f.store.ensureDirect(me, await f.createUser(), T0 + (i < 2 ? 0 : i));
      assert.ok(created.ok);
      ids.push(created.conversationId);
    }
    // Activity: ids[4] > ids[3] > ids[2] > the two at T0, larger id first.
    const tie = ids.slice(0, 2).sort().reverse();
    const expected = [ids[4], ids[3], ids[2], ...tie];
    const seen: string[] = [];
    let before: ConversationsCursor | undefined;
    for (let round = 0; round < 3; round++) {
      const page = await f.store.conversationsOf(me, { limit: 2, before });
      seen.push(...page.conversations.map((c) => c.conversationId));
      assert.equal(page.hasMore, round < 2);
      before = page.conversations.at(-1);
    }
    assert.deepEqual(seen, expected);
    assert.deepEqual(await f.store.conversationsOf("nope", { limit: 2 }), {
      conversations: [],
      hasMore: false,
    });
    await assert.rejects(f.store.conversationsOf(me, { limit: 0 }), RangeError);
  });
}
