import assert from "node:assert/strict";
import { ErrorCode } from "../protocol/mod.ts";
import type {
  AppendItem,
  AppendResult,
  ConversationRecord,
  SetWatermarkResult,
  StoredMessage,
  WatermarkKind,
} from "../services/mod.ts";
import {
  type CachedAck,
  contentDigest,
  type ConversationEffect,
  conversationIdle,
  type ConversationInput,
  type ConversationLimits,
  type ConversationState,
  createConversationState,
  stepConversation,
} from "./conversation_state.ts";

const ID = "g:1";

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
function prng(seed: number): (max: number) => number {
  let t = seed >>> 0;
  return (max) => {
    t = (t + 0x6d2b79f5) >>> 0;
    let x = Math.imul(t ^ (t >>> 15), t | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return Math.floor((((x ^ (x >>> 14)) >>> 0) / 4294967296) * max);
  };
}

/** An in-memory model of `MessageStore.appendBatch`/`setWatermark` semantics. */
class ModelStore {
  readonly messages: StoredMessage[] = [];
  readonly byKey = new Map<string, StoredMessage>();
  readonly marks = new Map<string, { deliveredSeq: bigint; readSeq: bigint }>();
  #ids = 100;

  constructor(readonly members: string[], prior = 0) {
    for (const m of members) this.marks.set(m, { deliveredSeq: 0n, readSeq: 0n });
    const items = Array.from({ length: prior }, (_, i) => item(BigInt(i + 1), members[0], `p${i}`));
    this.append(items, 1);
  }

  get lastSeq(): bigint {
    return BigInt(this.messages.length);
  }

  record(): ConversationRecord {
    const members = this.members.map((userId) => ({
      userId,
      joinedAt: 0,
      ...this.marks.get(userId)!,
    }));
    return { id: ID, kind: "group", createdAt: 0, lastSeq: this.lastSeq, members };
  }

  append(items: readonly AppendItem[], now: number): AppendResult[] {
    let conflicted = false;
    return items.map((it): AppendResult => {
      if (it.content.type < 0) return { status: "invalid", reason: "content.type is negative" };
      const original = this.byKey.get(`${it.senderId}/${it.clientMsgId}`);
      if (original !== undefined) return { status: "duplicate", message: original };
      if (!this.members.includes(it.senderId)) return { status: "not_member" };
      if (conflicted || it.seq <= this.lastSeq) {
        conflicted = true;
        return { status: "seq_conflict" };
      }
      if (it.seq !== this.lastSeq + 1n) {
        return { status: "seq_gap", expectedSeq: this.lastSeq + 1n };
      }
      const message: StoredMessage = { ...it, messageId: String(this.#ids++), createdAt: now };
      this.messages.push(message);
      this.byKey.set(`${it.senderId}/${it.clientMsgId}`, message);
      const mark = this.marks.get(it.senderId)!;
      mark.deliveredSeq = mark.readSeq = it.seq;
      return { status: "stored", message };
    });
  }

  setWatermark(userId: string, kind: WatermarkKind, seq: bigint): SetWatermarkResult {
    const mark = this.marks.get(userId);
    if (mark === undefined) return { ok: false, reason: "not_member" };
    const to = seq < this.lastSeq ? seq : this.lastSeq;
    const before = { ...mark };
    if (kind === "read" && to > mark.readSeq) mark.readSeq = to;
    const delivered = kind === "read" ? mark.readSeq : to;
    if (delivered > mark.deliveredSeq) mark.deliveredSeq = delivered;
    const changed = before.readSeq !== mark.readSeq || before.deliveredSeq !== mark.deliveredSeq;
    return { ok: true, ...mark, changed };
  }
}

function item(seq: bigint, senderId: string, clientMsgId: string): AppendItem {
  return { conversationId: ID, seq, senderId, clientMsgId, content: { type: 1, text: "hi" } };
}

function loaded(store: ModelStore, limits: Partial<ConversationLimits> = {}): ConversationState {
  const state = createConversationState(ID, limits);
  const { effects } = stepConversation(state, { type: "loaded", now: 1, record: store.record() });
  assert.deepEqual(effects, []);
  return state;
}

function send(
  senderId: string,
  clientMsgId: string,
  replyTo: unknown,
  extra = {},
): ConversationInput {
  return {
    type: "send",
    now: 10,
    senderId,
    clientMsgId,
    content: { type: 1, text: "hi" },
    replyTo,
    ...extra,
  };
}

function of<T extends ConversationEffect["type"]>(effects: ConversationEffect[], type: T) {
  return effects.filter((e): e is Extract<ConversationEffect, { type: T }> => e.type === type);
}

/** Feeds the in-flight batch of `effects` to `store` and returns the step's effects. */
function persist(state: ConversationState, store: ModelStore, effects: ConversationEffect[]) {
  const [batch] = of(effects, "persist");
  assert.ok(batch, "a persist effect");
  return stepConversation(state, {
    type: "persisted",
    now: 20,
    results: store.append(batch.items, 20),
  }).effects;
}

Deno.test("createConversationState() rejects limits that are not positive integers", () => {
  for (const bad of [0, -1, 1.5, NaN]) {
    assert.throws(() => createConversationState(ID, { maxBatch: bad }), RangeError);
  }
  assert.equal(createConversationState(ID).limits.maxPending, 1024);
});

Deno.test("stepConversation() loaded: a missing conversation refuses sends and passivates", () => {
  const state = createConversationState(ID);
  const { effects } = stepConversation(state, { type: "loaded", now: 1, record: undefined });
  assert.deepEqual(effects, [{ type: "passivate", reason: "not_found" }]);
  const [reject] = of(stepConversation(state, send("1", "a", "r")).effects, "reject");
  assert.equal(reject.code, ErrorCode.ConversationNotFound);
  assert.throws(
    () => stepConversation(state, { type: "loaded", now: 1, record: undefined }),
    RangeError,
  );
});

Deno.test("stepConversation() send: acks only after persisted, then fans out to all members", () => {
  const store = new ModelStore(["1", "2"], 3);
  const state = loaded(store);
  const first = stepConversation(state, send("1", "a", "r1")).effects;
  assert.deepEqual(first, [{ type: "persist", items: [item(4n, "1", "a")], now: 10 }]);
  assert.equal(state.nextSeq, 5n);
  assert.equal(conversationIdle(state), false);
  const effects = persist(state, store, first);
  const message = store.messages[3];
  assert.deepEqual(effects, [
    {
      type: "ack",
      replyTo: "r1",
      conversationId: ID,
      clientMsgId: "a",
      seq: 4n,
      messageId: message.messageId,
      createdAt: 20,
      duplicate: false,
    },
    { type: "fanout", message, recipients: ["1", "2"], origin: "r1" },
  ]);
  assert.equal(state.lastSeq, 4n);
  assert.deepEqual(state.members.get("1"), { deliveredSeq: 4n, readSeq: 4n });
  assert.equal(conversationIdle(state), true);
});

Deno.test("stepConversation() send: group-commits everything queued behind the write, up to maxBatch", () => {
  const store = new ModelStore(["1", "2"]);
  const state = loaded(store, { maxBatch: 3 });
  const first = stepConversation(state, send("1", "a", 0)).effects;
  for (let i = 1; i <= 4; i++) {
    assert.deepEqual(stepConversation(state, send("2", `b${i}`, i)).effects, []);
  }
  const second = persist(state, store, first);
  assert.deepEqual(of(second, "persist")[0].items.map((i) => i.seq), [2n, 3n, 4n]);
  const third = persist(state, store, second);
  assert.deepEqual(of(third, "ack").map((a) => a.seq), [2n, 3n, 4n]);
  assert.deepEqual(of(third, "persist")[0].items, [item(5n, "2", "b4")]);
});

Deno.test("stepConversation() persisted: a duplicate acks the original and re-numbers the rest", () => {
  const store = new ModelStore(["1", "2"], 2); // p0, p1 stored by an earlier activation
  const state = loaded(store);
  const first = stepConversation(state, send("2", "x", "rx")).effects;
  stepConversation(state, send("1", "p0", "retry"));
  stepConversation(state, send("2", "y", "ry"));
  const second = persist(state, store, first);
  const third = persist(state, store, second);
  assert.deepEqual(of(third, "ack").map((a) => [a.replyTo, a.seq, a.duplicate]), [[
    "retry",
    1n,
    true,
  ]]);
  assert.deepEqual(of(third, "fanout"), []);
  assert.deepEqual(of(third, "persist")[0].items, [item(4n, "2", "y")]); // re-numbered 5 -> 4
  const fourth = persist(state, store, third);
  assert.deepEqual(of(fourth, "ack").map((a) => [a.replyTo, a.seq, a.duplicate]), [[
    "ry",
    4n,
    false,
  ]]);
  assert.deepEqual(of(fourth, "fanout").map((f) => f.message.seq), [4n]);
  assert.deepEqual([state.lastSeq, state.nextSeq, store.lastSeq], [4n, 5n, 4n]);
});

Deno.test("stepConversation() persistFailed: answers Unavailable and releases the seqs", () => {
  const store = new ModelStore(["1", "2"], 5);
  const state = loaded(store);
  stepConversation(state, send("1", "a", "ra"));
  stepConversation(state, send("1", "b", "rb"));
  const { effects } = stepConversation(state, { type: "persistFailed", now: 30 });
  assert.deepEqual(of(effects, "reject").map((r) => [r.replyTo, r.code, r.temporary]), [[
    "ra",
    ErrorCode.Unavailable,
    true,
  ]]);
  assert.deepEqual(of(effects, "persist")[0].items.map((i) => i.seq), [6n]);
  assert.throws(
    () => stepConversation(state, { type: "persisted", now: 30, results: [] }),
    RangeError,
  );
});

Deno.test("stepConversation() persisted: seq_conflict refuses everything waiting and passivates", () => {
  const store = new ModelStore(["1", "2"], 1);
  const state = loaded(store);
  const first = stepConversation(state, send("1", "a", "ra")).effects;
  stepConversation(state, send("2", "b", "rb"));
  store.append([item(2n, "2", "other-writer")], 5);
  const effects = persist(state, store, first);
  assert.deepEqual(
    effects.map((e) => e.type === "reject" ? [e.replyTo, e.code, e.temporary] : e.type),
    [
      ["ra", ErrorCode.Unavailable, true],
      ["rb", ErrorCode.Unavailable, true],
      "passivate",
    ],
  );
  assert.equal(state.status, "fenced");
  assert.equal(
    of(stepConversation(state, send("1", "c", "rc")).effects, "reject")[0].code,
    ErrorCode.Unavailable,
  );
});

Deno.test("stepConversation() persisted: seq_gap re-numbers from the store's expectedSeq", () => {
  const store = new ModelStore(["1", "2"], 2); // p0, p1 at seqs 1, 2 from an earlier activation
  const state = loaded(store);
  const first = stepConversation(state, send("2", "a", "ra")).effects;
  for (const [id, replyTo] of [["p0", "r0"], ["p1", "r1"]]) {
    stepConversation(state, send("1", id, replyTo));
  }
  stepConversation(state, send("2", "b", "rb"));
  store.append(of(first, "persist")[0].items, 15); // committed, but the shell saw a timeout
  const failed = stepConversation(state, { type: "persistFailed", now: 16 }).effects;
  assert.equal(of(failed, "reject")[0].code, ErrorCode.Unavailable);
  assert.deepEqual(of(failed, "persist")[0].items.map((i) => i.seq), [3n, 4n, 5n]);
  const second = persist(state, store, failed); // p0, p1 duplicates; b: seq_gap, expected 4
  assert.deepEqual(of(second, "ack").map((a) => [a.replyTo, a.seq, a.duplicate]), [
    ["r0", 1n, true],
    ["r1", 2n, true],
  ]);
  assert.deepEqual(of(second, "persist")[0].items, [item(4n, "2", "b")]);
  const third = persist(state, store, second);
  assert.deepEqual(of(third, "ack").map((a) => [a.replyTo, a.seq]), [["rb", 4n]]);
  assert.deepEqual([state.lastSeq, state.nextSeq, store.lastSeq], [4n, 5n, 4n]);
});

Deno.test("stepConversation() persisted: unknown_conversation refuses everything and passivates", () => {
  const state = loaded(new ModelStore(["1", "2"]));
  stepConversation(state, send("1", "a", "ra"));
  stepConversation(state, send("1", "b", "rb"));
  const results: AppendResult[] = [{ status: "unknown_conversation" }];
  const { effects } = stepConversation(state, { type: "persisted", now: 20, results });
  assert.deepEqual(effects.map((e) => e.type === "reject" ? e.code : e.type), [
    ErrorCode.ConversationNotFound,
    ErrorCode.ConversationNotFound,
    "passivate",
  ]);
  assert.equal(state.status, "missing");
  assert.ok(conversationIdle(state));
});

Deno.test("stepConversation() send: a retry joins the unanswered original and is never written twice", () => {
  const store = new ModelStore(["1", "2"]);
  const state = loaded(store, { maxWaiters: 2 });
  const first = stepConversation(state, send("1", "a", "r1")).effects;
  assert.deepEqual(stepConversation(state, send("1", "a", "r2")).effects, []);
  const busy = of(stepConversation(state, send("1", "a", "r3")).effects, "reject");
  assert.equal(busy[0].code, ErrorCode.Busy);
  const acks = of(persist(state, store, first), "ack");
  assert.deepEqual(acks.map((a) => [a.replyTo, a.seq, a.duplicate]), [["r1", 1n, false], [
    "r2",
    1n,
    true,
  ]]);
  assert.equal(store.messages.length, 1);
  const again = stepConversation(state, send("1", "a", "r4")).effects; // recent cache
  assert.deepEqual(again, [{ ...acks[0], replyTo: "r4", duplicate: true }]);
});

Deno.test("stepConversation() send: the recent-ack cache is bounded, the store dedupes past it", () => {
  const store = new ModelStore(["1", "2"]);
  const state = loaded(store, { maxRecent: 2 });
  for (const id of ["a", "b", "c"]) {
    persist(state, store, stepConversation(state, send("1", id, id)).effects);
  }
  assert.deepEqual([...state.recent.keys()], ["1:1:b", "1:1:c"]);
  const effects = persist(state, store, stepConversation(state, send("1", "a", "again")).effects);
  assert.deepEqual(of(effects, "ack").map((a) => [a.seq, a.duplicate]), [[1n, true]]);
  assert.equal(store.messages.length, 3);
});

Deno.test("stepConversation() send: refuses bad ids, large content, non-members, policy and overflow", () => {
  const store = new ModelStore(["1", "2"]);
  const state = loaded(store, { maxPending: 1 });
  const code = (input: ConversationInput) =>
    of(stepConversation(state, input).effects, "reject")[0]?.code;
  assert.equal(code(send("1", "", 1)), ErrorCode.ClientMsgIdInvalid);
  assert.equal(code(send("1", "é".repeat(33), 1)), ErrorCode.ClientMsgIdInvalid);
  assert.equal(
    code(send("1", "a", 1, { content: { type: 1, text: "😀".repeat(8193) } })),
    ErrorCode.ContentTooLarge,
  );
  assert.equal(code(send("3", "a", 1)), ErrorCode.NotMember);
  assert.equal(
    code(send("1", "a", 1, { policy: { allowed: false, code: ErrorCode.Blocked } })),
    ErrorCode.Blocked,
  );
  assert.equal(code(send("1", "a", 1, { policy: { allowed: true } })), undefined); // in flight
  assert.equal(code(send("1", "b", 2)), undefined); // pending
  const busy = of(stepConversation(state, send("1", "c", 3)).effects, "reject")[0];
  assert.deepEqual([busy.code, busy.temporary], [ErrorCode.Busy, true]);
});

Deno.test("stepConversation() persisted: not_member and invalid items are refused alone", () => {
  const store = new ModelStore(["1", "2"]);
  const state = loaded(store);
  state.members.set("9", { deliveredSeq: 0n, readSeq: 0n }); // stale membership
  const first = stepConversation(state, send("9", "a", "r9")).effects;
  stepConversation(state, send("1", "bad", "rbad", { content: { type: -1 } }));
  stepConversation(state, send("2", "ok", "rok"));
  const second = persist(state, store, first);
  assert.equal(of(second, "reject")[0].code, ErrorCode.NotMember);
  assert.equal(state.members.has("9"), false);
  const third = persist(state, store, second);
  assert.deepEqual(of(third, "reject").map((r) => r.code), [ErrorCode.InvalidField]);
  const fourth = persist(state, store, third);
  assert.deepEqual(of(fourth, "ack").map((a) => [a.replyTo, a.seq]), [["rok", 1n]]);
});

Deno.test("stepConversation() watermark: monotonic, clamped, read implies delivered, receipts to others", () => {
  const store = new ModelStore(["1", "2", "3"], 5);
  const state = loaded(store);
  const mark = (userId: string, kind: WatermarkKind, seq: bigint, replyTo?: unknown) =>
    stepConversation(state, { type: "watermark", now: 40, userId, kind, seq, replyTo }).effects;
  const [store1] = mark("2", "read", 9n, "w1");
  assert.deepEqual(store1, {
    type: "storeWatermark",
    conversationId: ID,
    userId: "2",
    kind: "read",
    seq: 5n,
    replyTo: "w1",
    now: 40,
  });
  const result = store.setWatermark("2", "read", 5n);
  const effects = stepConversation(state, {
    type: "watermarkStored",
    now: 41,
    userId: "2",
    kind: "read",
    replyTo: "w1",
    result,
  }).effects;
  assert.deepEqual(effects, [
    {
      type: "receipt",
      conversationId: ID,
      userId: "2",
      kind: "read",
      seq: 5n,
      at: 41,
      recipients: ["1", "3"],
    },
    { type: "ok", replyTo: "w1" },
  ]);
  assert.deepEqual(state.members.get("2"), { deliveredSeq: 5n, readSeq: 5n });
  assert.deepEqual(mark("2", "delivered", 4n, "w2"), [{ type: "ok", replyTo: "w2" }]);
  assert.deepEqual(mark("2", "delivered", 4n), []);
  assert.equal(of(mark("7", "read", 1n, "w3"), "reject")[0].code, ErrorCode.NotMember);
  assert.equal(of(mark("1", "read", -1n, "w4"), "reject")[0].code, ErrorCode.InvalidField);
  const gone = {
    type: "watermarkStored",
    now: 42,
    userId: "3",
    kind: "read",
    replyTo: "w6",
  } as const;
  const left = stepConversation(state, { ...gone, result: { ok: false, reason: "not_member" } });
  assert.equal(of(left.effects, "reject")[0].code, ErrorCode.NotMember);
  assert.equal(state.members.has("3"), false);
  const failed = stepConversation(state, {
    type: "watermarkFailed",
    now: 42,
    userId: "1",
    kind: "read",
    replyTo: "w5",
  });
  assert.deepEqual(of(failed.effects, "reject").map((r) => [r.code, r.temporary]), [[
    ErrorCode.Unavailable,
    true,
  ]]);
});

interface RunOptions {
  readonly seed: number;
  readonly steps: number;
  readonly limits: Partial<ConversationLimits>;
  readonly prior: number;
  /** Chance that a failed write was in fact committed (outcome unknown): leads to fencing. */
  readonly ghostCommit: number;
}

/** Random interleavings of sends and write outcomes against the model store; checks invariants. */
function run(o: RunOptions): { stored: number; duplicates: number; fenced: boolean } {
  const rand = prng(o.seed);
  const store = new ModelStore(["1", "2", "3"], o.prior);
  const state = loaded(store, o.limits);
  const limits = state.limits;
  const answers = new Map<number, number>();
  let tokens = 0;
  let inFlight: AppendItem[] | undefined;
  let fanned = BigInt(o.prior);
  let duplicates = 0;
  let passivated = 0;
  let stored = new Set<StoredMessage>();

  const apply = (input: ConversationInput) => {
    const pendingBefore = state.pending.length;
    const { effects } = stepConversation(state, input);
    for (const e of effects) {
      switch (e.type) {
        case "persist": {
          assert.equal(inFlight, undefined, "one batch at a time");
          assert.ok(e.items.length >= 1 && e.items.length <= limits.maxBatch);
          const keys = new Set(e.items.map((i) => `${i.senderId}/${i.clientMsgId}`));
          assert.equal(keys.size, e.items.length, "a key is written once per batch");
          e.items.forEach((i, n) =>
            assert.equal(i.seq, state.lastSeq + 1n + BigInt(n), "gap-free seqs")
          );
          if (o.ghostCommit === 0) {
            assert.equal(e.items[0].seq, store.lastSeq + 1n, "seqs continue the store");
          }
          inFlight = [...e.items];
          break;
        }
        case "ack": {
          answers.set(e.replyTo as number, (answers.get(e.replyTo as number) ?? 0) + 1);
          const message = store.messages.find((m) => m.seq === e.seq)!;
          assert.ok(message, "acked only when stored");
          assert.deepEqual([e.messageId, e.clientMsgId], [message.messageId, message.clientMsgId]);
          if (!e.duplicate) {
            assert.ok(stored.has(message), "a fresh ack follows its persisted result");
          }
          break;
        }
        case "reject":
          answers.set(e.replyTo as number, (answers.get(e.replyTo as number) ?? 0) + 1);
          if (e.code === ErrorCode.Busy && input.type === "send") {
            const waiting = state.sending.get(
              `${input.senderId.length}:${input.senderId}:${input.clientMsgId}`,
            );
            assert.ok(
              pendingBefore === limits.maxPending || waiting?.waiters.length === limits.maxWaiters,
            );
          }
          break;
        case "fanout":
          assert.ok(stored.has(e.message), "fanout only for messages stored by this step");
          // After an unknown outcome the messages it committed are never pushed (recipients
          // pull the gap), but the order still holds.
          if (o.ghostCommit === 0) assert.equal(e.message.seq, fanned + 1n, "fanout each once");
          assert.ok(e.message.seq > fanned, "fanout in seq order");
          fanned = e.message.seq;
          assert.deepEqual(e.recipients, ["1", "2", "3"]);
          break;
        case "passivate":
          passivated++;
          break;
        default:
          assert.fail(`unexpected ${e.type}`);
      }
    }
    assert.ok(state.pending.length <= limits.maxPending, "pending bound");
    const waiting = state.pending.length + (state.inFlight?.length ?? 0);
    assert.equal(state.sending.size, waiting);
    assert.equal(state.nextSeq, state.lastSeq + 1n + BigInt(state.inFlight?.length ?? 0));
  };

  const resolve = (ghost: boolean) => {
    const items = inFlight!;
    inFlight = undefined;
    const before = new Set(store.messages);
    if (ghost || rand(10) > 0) {
      const results = store.append(items, 20);
      duplicates += results.filter((r) => r.status === "duplicate").length;
      stored = new Set(store.messages.filter((m) => !before.has(m)));
      if (!ghost) return apply({ type: "persisted", now: 20, results });
    }
    stored = new Set();
    apply({ type: "persistFailed", now: 20 });
  };

  for (let step = 0; step < o.steps; step++) {
    if (inFlight !== undefined && rand(3) === 0) {
      resolve(rand(1000) < o.ghostCommit * 1000);
    } else {
      stored = new Set();
      const senderId = ["1", "2", "3", "4"][rand(4)];
      const content = { type: rand(40) === 0 ? -1 : 1, text: "x" };
      apply({
        type: "send",
        now: step,
        senderId,
        clientMsgId: `c${rand(60)}`,
        content,
        replyTo: ++tokens,
      });
    }
  }
  while (inFlight !== undefined) resolve(false);
  for (let t = 1; t <= tokens; t++) assert.equal(answers.get(t), 1, `send ${t} answered once`);
  assert.ok(conversationIdle(state));
  const keys = new Set(store.messages.map((m) => `${m.senderId}/${m.clientMsgId}`));
  assert.equal(keys.size, store.messages.length, "one stored message per (sender, clientMsgId)");
  const fenced = state.status === "fenced";
  assert.equal(passivated, fenced ? 1 : 0);
  if (o.ghostCommit === 0) {
    assert.deepEqual([fanned, state.lastSeq], [store.lastSeq, store.lastSeq]);
  }
  return { stored: store.messages.length - o.prior, duplicates, fenced };
}

Deno.test("stepConversation() invariants hold over random interleavings (single writer)", () => {
  let total = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const limits = { maxPending: 6, maxBatch: 4, maxWaiters: 2, maxRecent: seed % 2 ? 8 : 4096 };
    const result = run({
      seed,
      steps: 1500,
      limits,
      prior: seed % 3 === 0 ? 10 : 0,
      ghostCommit: 0,
    });
    // With a big enough cache and no earlier activation the store never sees a retry.
    if (limits.maxRecent === 4096 && seed % 3 !== 0) assert.equal(result.duplicates, 0);
    assert.equal(result.fenced, false);
    total += result.stored;
  }
  assert.ok(total > 1000, `stored ${total}`);
});

Deno.test("stepConversation() invariants hold when a failed write was in fact committed (fencing)", () => {
  let fenced = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const limits = { maxPending: 6, maxBatch: 4, maxWaiters: 2, maxRecent: 8 };
    if (run({ seed, steps: 800, limits, prior: 0, ghostCommit: 0.05 }).fenced) fenced++;
  }
  assert.ok(fenced > 10, `fenced ${fenced}`);
});

Deno.test("stepConversation() watermarks stay monotonic over random receipts and replies", () => {
  for (let seed = 1; seed <= 30; seed++) {
    const rand = prng(seed);
    const store = new ModelStore(["1", "2", "3"], 20);
    const state = loaded(store);
    const queue: Extract<ConversationEffect, { type: "storeWatermark" }>[] = [];
    const answered = new Map<number, number>();
    let tokens = 0;
    const apply = (input: ConversationInput) => {
      const before = new Map([...state.members].map(([id, m]) => [id, { ...m }]));
      for (const e of stepConversation(state, input).effects) {
        if (e.type === "storeWatermark") {
          const m = state.members.get(e.userId)!;
          assert.ok(
            e.seq > (e.kind === "read" ? m.readSeq : m.deliveredSeq) && e.seq <= state.lastSeq,
          );
          queue.push(e);
        } else if (e.type === "receipt") {
          assert.equal(
            input.type === "watermarkStored" && input.result.ok && input.result.changed,
            true,
          );
          assert.deepEqual(e.recipients, ["1", "2", "3"].filter((id) => id !== e.userId));
        } else if (e.type === "ok" || e.type === "reject") {
          answered.set(e.replyTo as number, (answered.get(e.replyTo as number) ?? 0) + 1);
        } else assert.fail(`unexpected ${e.type}`);
      }
      for (const [id, m] of state.members) {
        const old = before.get(id)!;
        assert.ok(m.deliveredSeq >= old.deliveredSeq && m.readSeq >= old.readSeq, "never back");
        assert.ok(m.readSeq <= m.deliveredSeq, "read implies delivered");
      }
    };
    type Reply = Extract<ConversationInput, { type: "watermarkStored" | "watermarkFailed" }>;
    const replies: Reply[] = [];
    const execute = (e: (typeof queue)[number], now: number) => {
      const base = { now, userId: e.userId, kind: e.kind, replyTo: e.replyTo };
      replies.push(
        rand(10) === 0 ? { type: "watermarkFailed", ...base } : {
          type: "watermarkStored",
          ...base,
          result: store.setWatermark(e.userId, e.kind, e.seq),
        },
      );
    };
    for (let step = 0; step < 600; step++) {
      const r = rand(3);
      if (r === 0 && queue.length > 0) execute(queue.splice(rand(queue.length), 1)[0], step);
      else if (r === 1 && replies.length > 0) apply(replies.splice(rand(replies.length), 1)[0]); // any order
      else {
        const [userId, kind] = [
          ["1", "2", "3", "4"][rand(4)],
          rand(2) ? "read" : "delivered",
        ] as const;
        const seq = BigInt(rand(25) - 1);
        apply({ type: "watermark", now: step, userId, kind, seq, replyTo: ++tokens });
      }
    }
    while (queue.length > 0) execute(queue.shift()!, 999);
    while (replies.length > 0) apply(replies.splice(rand(replies.length), 1)[0]);
    for (let t = 1; t <= tokens; t++) {
      assert.equal(answered.get(t), 1, `watermark ${t} answered once`);
    }
    for (const [id, m] of state.members) assert.deepEqual(m, store.marks.get(id));
  }
});

/** A loaded core with dedupe-cache lookups on. */
function cached(store: ModelStore, limits: Partial<ConversationLimits> = {}): ConversationState {
  const state = createConversationState(ID, limits, { cacheLookups: true });
  stepConversation(state, { type: "loaded", now: 1, record: store.record() });
  return state;
}

/** Stores `clientMsgId` from sender "1" in an earlier activation; returns its cached ack. */
function storedBefore(store: ModelStore, clientMsgId: string): CachedAck {
  const earlier = cached(store);
  const effects = persist(
    earlier,
    store,
    stepConversation(earlier, send("1", clientMsgId, 0)).effects,
  );
  const [remember] = of(effects, "remember");
  assert.ok(remember, "a remember effect");
  return remember.ack;
}

Deno.test("stepConversation() send: a resend the cache knows is acked as duplicate, never written", () => {
  const store = new ModelStore(["1", "2"]);
  const ack = storedBefore(store, "a");
  const state = cached(store); // a new activation: `recent` is empty
  const resend = { resend: true };
  assert.deepEqual(stepConversation(state, send("1", "a", "r1", resend)).effects, [
    { type: "lookup", senderId: "1", clientMsgId: "a" },
  ]);
  assert.equal(conversationIdle(state), false);
  // Any send of the parked key joins the one lookup.
  assert.deepEqual(stepConversation(state, send("1", "a", "r2")).effects, []);
  const { effects } = stepConversation(state, {
    type: "lookedUp",
    now: 30,
    senderId: "1",
    clientMsgId: "a",
    ack,
  });
  assert.deepEqual(of(effects, "persist"), []);
  assert.deepEqual(of(effects, "remember"), []);
  assert.deepEqual(
    of(effects, "ack").map((a) => [a.replyTo, a.seq, a.messageId, a.createdAt, a.duplicate]),
    [["r1", 1n, ack.messageId, 20, true], ["r2", 1n, ack.messageId, 20, true]],
  );
  assert.equal(store.messages.length, 1);
  assert.equal(conversationIdle(state), true);
  // Now in `recent`: the next resend needs no lookup.
  const again = stepConversation(state, send("1", "a", "r3", resend)).effects;
  assert.deepEqual(of(again, "ack").map((a) => [a.replyTo, a.seq, a.duplicate]), [[
    "r3",
    1n,
    true,
  ]]);
  assert.deepEqual(of(again, "lookup"), []);
});

Deno.test("stepConversation() lookedUp: a miss is stored as an ordinary send and remembered", () => {
  const store = new ModelStore(["1", "2"], 2);
  const state = cached(store);
  const [lookup] = stepConversation(state, send("1", "b", "r1", { resend: true })).effects;
  assert.deepEqual(lookup, { type: "lookup", senderId: "1", clientMsgId: "b" });
  const missed =
    stepConversation(state, { type: "lookedUp", now: 30, senderId: "1", clientMsgId: "b" })
      .effects;
  assert.deepEqual(missed, [{ type: "persist", items: [item(3n, "1", "b")], now: 30 }]);
  const effects = persist(state, store, missed);
  const message = store.messages[2];
  assert.deepEqual(of(effects, "ack").map((a) => [a.replyTo, a.seq, a.duplicate]), [[
    "r1",
    3n,
    false,
  ]]);
  assert.deepEqual(of(effects, "remember"), [{
    type: "remember",
    senderId: "1",
    clientMsgId: "b",
    ack: {
      conversationId: ID,
      seq: 3n,
      messageId: message.messageId,
      createdAt: 20,
      digest: contentDigest(message.content),
    },
  }]);
});

Deno.test("stepConversation() lookupFailed: the send goes on and the store dedupes it", () => {
  const store = new ModelStore(["1", "2"]);
  storedBefore(store, "a");
  const state = cached(store);
  stepConversation(state, send("1", "a", "r1", { resend: true }));
  stepConversation(state, send("1", "a", "r2", { resend: true }));
  const failed = stepConversation(state, {
    type: "lookupFailed",
    now: 30,
    senderId: "1",
    clientMsgId: "a",
  }).effects;
  assert.deepEqual(of(failed, "persist")[0].items, [item(2n, "1", "a")]);
  const effects = persist(state, store, failed);
  assert.deepEqual(of(effects, "ack").map((a) => [a.replyTo, a.seq, a.duplicate]), [
    ["r1", 1n, true],
    ["r2", 1n, true],
  ]);
  // Only a newly stored message is remembered.
  assert.deepEqual(of(effects, "remember"), []);
  assert.equal(store.messages.length, 1);
});

Deno.test("stepConversation() send: only a resend with lookups on asks the cache", () => {
  const store = new ModelStore(["1", "2"]);
  const on = cached(store);
  assert.deepEqual(of(stepConversation(on, send("1", "a", "r1")).effects, "persist").length, 1);
  const off = loaded(store);
  const plain = stepConversation(off, send("1", "b", "r2", { resend: true })).effects;
  assert.deepEqual(plain.map((e) => e.type), ["persist"]);
  assert.deepEqual(of(persist(off, store, plain), "remember"), []);
  // A refused send never costs a lookup.
  const [refused] = stepConversation(on, send("9", "c", "r3", { resend: true })).effects;
  assert.equal(refused.type === "reject" && refused.code, ErrorCode.NotMember);
});

Deno.test("stepConversation() lookedUp: a cached ack of another conversation counts as a miss", () => {
  const store = new ModelStore(["1", "2"]);
  const state = cached(store);
  stepConversation(state, send("1", "a", "r1", { resend: true }));
  const ack = { conversationId: "g:other", seq: 9n, messageId: "7", createdAt: 5 };
  const { effects } = stepConversation(state, {
    type: "lookedUp",
    now: 30,
    senderId: "1",
    clientMsgId: "a",
    ack,
  });
  assert.deepEqual(effects.map((e) => e.type), ["persist"]);
});

Deno.test("stepConversation() send: parked lookups count against maxPending and maxWaiters", () => {
  const store = new ModelStore(["1", "2"]);
  const state = cached(store, { maxPending: 1, maxWaiters: 2 });
  stepConversation(state, send("1", "a", "r1", { resend: true }));
  const busy = of(
    stepConversation(state, send("1", "b", "r2", { resend: true })).effects,
    "reject",
  );
  assert.deepEqual(busy.map((r) => r.code), [ErrorCode.Busy]);
  assert.deepEqual(stepConversation(state, send("1", "a", "r3")).effects, []);
  const tooMany = of(stepConversation(state, send("1", "a", "r4")).effects, "reject");
  assert.deepEqual(tooMany.map((r) => r.code), [ErrorCode.Busy]);
  assert.equal(state.lookups.get("1:1:a")?.sends.length, 2);
});

Deno.test("stepConversation() send: past maxLookups a resend skips the cache", () => {
  const store = new ModelStore(["1", "2"]);
  const state = cached(store, { maxLookups: 1 });
  const parked = stepConversation(state, send("1", "a", "r1", { resend: true })).effects;
  assert.deepEqual(parked.map((e) => e.type), ["lookup"]);
  const direct = stepConversation(state, send("1", "b", "r2", { resend: true })).effects;
  assert.deepEqual(of(direct, "persist")[0].items, [item(1n, "1", "b")]);
});

Deno.test("stepConversation() persisted: a fenced core refuses parked lookups and ignores their answer", () => {
  const store = new ModelStore(["1", "2"]);
  const state = cached(store);
  const first = stepConversation(state, send("2", "x", "rx")).effects;
  stepConversation(state, send("1", "a", "ra", { resend: true }));
  store.append([item(1n, "2", "other-writer")], 15); // another writer took seq 1
  const effects = persist(state, store, first);
  assert.deepEqual(of(effects, "reject").map((r) => r.replyTo).sort(), ["ra", "rx"]);
  assert.equal(state.lookups.size, 0);
  const late = stepConversation(state, {
    type: "lookupFailed",
    now: 40,
    senderId: "1",
    clientMsgId: "a",
  });
  assert.deepEqual(late.effects, []);
});

Deno.test("stepConversation() refuses a client_msg_id the store holds for another message", () => {
  const store = new ModelStore(["1", "2"]);
  const state = loaded(store);
  const sent = stepConversation(state, send("1", "reused", "r1")).effects;
  const [batch] = of(sent, "persist");
  const elsewhere = {
    messageId: "77",
    conversationId: "d:1:3",
    seq: 9n,
    senderId: "1",
    clientMsgId: "reused",
    content: { type: 1, text: "hi" },
    createdAt: 5,
  };
  const effects = stepConversation(state, {
    type: "persisted",
    now: 20,
    results: [{ status: "duplicate", message: elsewhere }],
  }).effects;
  assert.deepEqual(effects.map((e) => e.type), ["reject"]);
  assert.equal((effects[0] as { code: ErrorCode }).code, ErrorCode.ClientMsgIdConflict);
  assert.ok(batch);
  // Not remembered as answered: the same key is refused again, by the store's answer.
  const again = stepConversation(state, send("1", "reused", "r2")).effects;
  assert.deepEqual(of(again, "persist").length, 1);
  const other = stepConversation(state, {
    type: "persisted",
    now: 21,
    results: [{ status: "duplicate", message: { ...elsewhere, conversationId: ID, seq: 1n } }],
  }).effects;
  assert.deepEqual(other.map((e) => e.type), ["ack"], "same conversation, same content");
});

Deno.test("stepConversation() refuses a retry whose content differs from the original", () => {
  const store = new ModelStore(["1", "2"]);
  const state = loaded(store);
  const other = { content: { type: 1, text: "something else" } };
  // While the original is in flight.
  const first = stepConversation(state, send("1", "m", "r1")).effects;
  const joined = stepConversation(state, send("1", "m", "r2", other)).effects;
  assert.equal((joined[0] as { code: ErrorCode }).code, ErrorCode.ClientMsgIdConflict);
  const stored = persist(state, store, first);
  assert.deepEqual(of(stored, "ack").map((a) => a.replyTo), ["r1"]);
  // After it was stored (answered from the recent acks).
  const later = stepConversation(state, send("1", "m", "r3", other)).effects;
  assert.equal((later[0] as { code: ErrorCode }).code, ErrorCode.ClientMsgIdConflict);
  const same = stepConversation(state, send("1", "m", "r4")).effects;
  assert.deepEqual(of(same, "ack").map((a) => [a.replyTo, a.duplicate]), [["r4", true]]);
});

Deno.test("contentDigest() tells contents apart by type, text, data and custom type", () => {
  const base = { type: 1, text: "hi" };
  const digests = [
    base,
    { type: 2, text: "hi" },
    { type: 1, text: "ho" },
    { type: 1, text: "hi", customType: "x" },
    { type: 1, text: "hi", data: new Uint8Array([1]) },
    { type: 1, text: "hi", data: new Uint8Array([2]) },
  ].map(contentDigest);
  assert.equal(new Set(digests).size, digests.length);
  assert.equal(contentDigest({ type: 1, text: "hi" }), digests[0]);
});
