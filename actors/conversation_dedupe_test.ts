// The conversation actor with an idempotency cache, in an ActorSystem: a resend after the
// actor passivated is answered from the cache without a store write, and a cache that
// fails or hangs never blocks a send nor makes it stored twice. `actors/` may only
// `import type` from `services/`, so the ports are small in-test implementations here;
// tests/conversation_dedupe_test.ts runs the same story on the real SQLite store,
// MemoryDedupeCache and Redis.

import assert from "node:assert/strict";
import { type Frame, u64ToBigInt } from "../protocol/mod.ts";
import { ActorSystem, type BoundRef, nullLogger, virtualRef } from "../runtime/mod.ts";
import type {
  AppendItem,
  AppendResult,
  ConversationRecord,
  DedupeCache,
  StoredMessage,
} from "../services/mod.ts";
import {
  CONVERSATION_KIND,
  type ConversationDeps,
  conversationFactory,
  type ConversationMessage,
} from "./conversation_actor.ts";
import { pushedFrame, type PushMessage } from "./frames.ts";
import { contentDigest } from "./conversation_state.ts";

const CONV = "d:1:2";

/** `MessageStore`'s load/appendBatch semantics for one conversation, counting calls. */
class CountingStore {
  readonly messages: StoredMessage[] = [];
  appends = 0;
  loads = 0;

  load(id: string): Promise<ConversationRecord | undefined> {
    this.loads++;
    if (id !== CONV) return Promise.resolve(undefined);
    const members = ["1", "2"].map((userId) => ({
      userId,
      joinedAt: 0,
      deliveredSeq: 0n,
      readSeq: 0n,
    }));
    const lastSeq = BigInt(this.messages.length);
    return Promise.resolve({ id, kind: "direct", createdAt: 0, lastSeq, members });
  }

  appendBatch(items: readonly AppendItem[], now: number): Promise<AppendResult[]> {
    this.appends++;
    return Promise.resolve(items.map((it): AppendResult => {
      const original = this.messages.find((m) =>
        m.senderId === it.senderId && m.clientMsgId === it.clientMsgId
      );
      if (original !== undefined) return { status: "duplicate", message: original };
      if (it.seq !== BigInt(this.messages.length + 1)) {
        return { status: "seq_gap", expectedSeq: BigInt(this.messages.length + 1) };
      }
      const message = {
        ...it,
        messageId: String(9_000_000_000_000_000_000n + it.seq),
        createdAt: now,
      };
      this.messages.push(message);
      return { status: "stored", message };
    }));
  }

  setWatermark(): Promise<never> {
    return Promise.reject(new Error("setWatermark is not used by this test"));
  }
}

/** A map as a `DedupeCache` (no TTL: the tests end long before one would run out). */
class MapCache implements DedupeCache {
  readonly values = new Map<string, string>();
  get(senderId: string, clientMsgId: string): Promise<string | undefined> {
    return Promise.resolve(this.values.get(`${senderId}/${clientMsgId}`));
  }
  put(senderId: string, clientMsgId: string, value: string): Promise<void> {
    this.values.set(`${senderId}/${clientMsgId}`, value);
    return Promise.resolve();
  }
}

/** A system with the conversation kind on `store` and `dedupe`, and a recording connection. */
function setup(store: CountingStore, dedupe: ConversationDeps["dedupe"]) {
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
    create: conversationFactory({ store, logger: nullLogger, dedupe }),
  });
  const conn = system.spawn("conn") as BoundRef;
  const conv = virtualRef<ConversationMessage>(CONVERSATION_KIND, CONV);
  let requests = 0;
  /** Sends and waits for the answer. */
  const send = async (clientMsgId: string, resend: boolean) => {
    const requestId = String(++requests);
    system.tell(conv, {
      type: "send",
      senderId: "1",
      clientMsgId,
      content: { type: 1, text: "hi" },
      policy: { allowed: true },
      replyTo: { conn, requestId },
      resend,
    });
    const frame = await until(() => frames.find((f) => String(f.id) === requestId));
    assert.ok(frame.sendAck, `an ack, got ${JSON.stringify(frame.error)}`);
    const ack = frame.sendAck;
    return {
      seq: u64ToBigInt(ack.seq!),
      messageId: u64ToBigInt(ack.serverMsgId!),
      duplicate: ack.duplicate === true,
    };
  };
  /** Passivates the conversation and waits until it is gone. */
  const passivate = async () => {
    system.stop(conv);
    await until(() => !system.isResident(conv) || undefined);
  };
  return { system, send, passivate };
}

/** Polls `probe` until it returns a value, for at most 2 s. */
async function until<T>(probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + 2000;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error("Gave up waiting after 2000 ms");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

Deno.test("conversation actor answers a resend after passivation from the dedupe cache", async () => {
  const store = new CountingStore();
  const cache = new MapCache();
  const { system, send, passivate } = setup(store, { cache, ttlMs: 60_000 });
  try {
    const first = await send("c-1", false);
    assert.equal(first.duplicate, false);
    await until(() => cache.values.size === 1);
    assert.deepEqual(JSON.parse(cache.values.get("1/c-1")!), {
      conversationId: CONV,
      seq: "1",
      messageId: "9000000000000000001",
      createdAt: store.messages[0].createdAt,
      digest: contentDigest(store.messages[0].content),
    });
    await passivate();
    const again = await send("c-1", true);
    assert.equal(store.loads, 2, "a new activation answered");
    assert.deepEqual(again, { ...first, duplicate: true });
    assert.equal(store.appends, 1, "no second store write");
    assert.equal(store.messages.length, 1);
  } finally {
    await system.shutdown();
  }
});

Deno.test("conversation actor sends exactly once when the dedupe cache rejects or hangs", async () => {
  const failing = [
    ["rejects", () => Promise.reject(new Error("cache down"))],
    ["hangs", () => new Promise<never>(() => {})],
  ] as const;
  for (const [how, get] of failing) {
    const store = new CountingStore();
    const cache: DedupeCache = { get, put: () => Promise.resolve() };
    const { system, send, passivate } = setup(store, { cache, ttlMs: 60_000, lookupTimeoutMs: 50 });
    try {
      // A message whose first attempt never arrived: its resend is new to the store.
      const started = Date.now();
      const first = await send("c-1", true);
      assert.equal(first.duplicate, false, how);
      if (how === "hangs") assert.ok(Date.now() - started >= 45, "waited for the deadline");
      // After passivation the store's own dedupe answers (a write attempt, no second copy).
      await passivate();
      const again = await send("c-1", true);
      assert.deepEqual(again, { ...first, duplicate: true }, how);
      assert.equal(store.appends, 2, how);
      assert.equal(store.messages.length, 1, how);
    } finally {
      await system.shutdown();
    }
  }
});
