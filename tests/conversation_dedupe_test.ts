/**
 * The idempotency cache in front of the message store, on real backends: the conversation
 * actor on the real SQLite store (appends counted) with a `MemoryDedupeCache`, and with a
 * `RedisDedupeCache` when the real-backend pass runs (`FLASH_TEST_BACKENDS=real`). A resend
 * after the conversation passivated is answered from the cache: same seq and message id,
 * `duplicate`, and no second append. (Here rather than in `actors/`, which may only
 * `import type` from `services/`; actors/conversation_dedupe_test.ts covers the shell with
 * in-test ports, failing and hanging caches included.)
 */

import assert from "node:assert/strict";
import {
  CONVERSATION_KIND,
  conversationFactory,
  type ConversationMessage,
  pushedFrame,
  type PushMessage,
} from "../actors/mod.ts";
import { type Frame, u64ToBigInt } from "../protocol/mod.ts";
import { ActorSystem, type BoundRef, nullLogger, virtualRef } from "../runtime/mod.ts";
import {
  type DedupeCache,
  MemoryDedupeCache,
  openRedis,
  openSqlite,
  RedisDedupeCache,
  SQLITE_MIGRATIONS,
  SqliteMessageStore,
  SqliteUserStore,
} from "../services/mod.ts";
import { deleteKeys, TEST_BACKENDS, TEST_REDIS_URL } from "./backends.ts";

/** Sends, passivates, resends; checks the resend was answered without a store write. */
async function resendAfterPassivation(cache: DedupeCache): Promise<void> {
  using db = openSqlite(":memory:", SQLITE_MIGRATIONS);
  const users = new SqliteUserStore(db);
  const [a, b] = await Promise.all(["alice", "bob"].map(async (name) => {
    const created = await users.create(name, "h");
    assert.ok(created.ok);
    return created.user.id;
  }));
  const messages = new SqliteMessageStore(db);
  const direct = await messages.ensureDirect(a, b, Date.now());
  assert.ok(direct.ok);
  let appends = 0;
  const store = {
    load: (id: string) => messages.load(id),
    appendBatch: (...args: Parameters<SqliteMessageStore["appendBatch"]>) => {
      appends++;
      return messages.appendBatch(...args);
    },
    setWatermark: (...args: Parameters<SqliteMessageStore["setWatermark"]>) =>
      messages.setWatermark(...args),
  };

  const system = new ActorSystem();
  const frames: Frame[] = [];
  system.register("conn", {
    create: () => ({
      receive(m: PushMessage) {
        frames.push(pushedFrame(m) as Frame);
      },
    }),
  });
  system.register(CONVERSATION_KIND, {
    virtual: true,
    create: conversationFactory({ store, logger: nullLogger, dedupe: { cache, ttlMs: 60_000 } }),
  });
  const conn = system.spawn("conn") as BoundRef;
  const conv = virtualRef<ConversationMessage>(CONVERSATION_KIND, direct.conversationId);
  const clientMsgId = crypto.randomUUID();
  let requests = 0;
  const send = async (resend: boolean) => {
    const requestId = String(++requests);
    system.tell(conv, {
      type: "send",
      senderId: a,
      clientMsgId,
      content: { type: 1, text: "hi" },
      policy: { allowed: true },
      replyTo: { conn, requestId },
      resend,
    });
    const frame = await until(() => frames.find((f) => String(f.id) === requestId));
    assert.ok(frame.sendAck, `an ack, got ${JSON.stringify(frame.error)}`);
    return {
      seq: u64ToBigInt(frame.sendAck.seq!),
      messageId: u64ToBigInt(frame.sendAck.serverMsgId!),
      duplicate: frame.sendAck.duplicate === true,
    };
  };
  try {
    const first = await send(false);
    assert.deepEqual([first.seq, first.duplicate], [1n, false]);
    await until(async () => (await cache.get(a, clientMsgId)) !== undefined);
    system.stop(conv);
    await until(() => !system.isResident(conv));
    const again = await send(true);
    assert.deepEqual(again, { ...first, duplicate: true });
    assert.equal(appends, 1, "the resend cost no store write");
    const page = await messages.page(direct.conversationId, { afterSeq: 0n, limit: 10 });
    assert.equal(page.messages.length, 1);
  } finally {
    await system.shutdown();
  }
}

/** Polls `probe` until it returns a value other than `undefined`/`false`, for at most 2 s. */
async function until<T>(probe: () => T | Promise<T>): Promise<Exclude<T, false | undefined>> {
  const deadline = Date.now() + 2000;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value as Exclude<T, false | undefined>;
    if (Date.now() > deadline) throw new Error("Gave up waiting after 2000 ms");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

Deno.test("dedupe cache (memory) answers a resend after passivation without a store write", async () => {
  await resendAfterPassivation(new MemoryDedupeCache({ maxEntries: 100 }));
});

Deno.test({
  name: "dedupe cache (Redis) answers a resend after passivation without a store write",
  ignore: TEST_BACKENDS !== "real",
  async fn() {
    const prefix = `e2e-dedupe-${crypto.randomUUID().slice(0, 8)}:`;
    const redis = await openRedis(TEST_REDIS_URL);
    try {
      await resendAfterPassivation(new RedisDedupeCache({ redis, prefix }));
    } finally {
      await deleteKeys(redis, prefix);
      await redis.quit();
    }
  },
});
