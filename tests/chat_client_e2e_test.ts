/**
 * `ChatClient` end to end: a real node process, two users, in-order exactly-once delivery
 * live and after an offline period (sync + pull), new ids per logical send, read receipts,
 * and sends that survive a node restart (kill -9) through retries with the same id.
 */

import assert from "node:assert/strict";
import {
  ChatClient,
  type ChatClientState,
  type ChatMessageEvent,
  type ChatReceiptEvent,
  type ChatSendResult,
  ErrorCode,
  ServerError,
} from "../client/mod.ts";
import { freePorts, removeDataDir, startServer, type TestServer, userTokens } from "./harness.ts";

type Tokens = Awaited<ReturnType<typeof userTokens>>;

function chat(server: TestServer, user: Tokens, deviceId: string, state?: ChatClientState) {
  const client = new ChatClient({
    url: `tcp://127.0.0.1:${server.tcpPort}`,
    token: user.accessToken,
    deviceId,
    reconnect: { minDelayMs: 50, maxDelayMs: 500 },
  }, { state });
  const messages: ChatMessageEvent[] = [];
  const receipts: ChatReceiptEvent[] = [];
  client.on("message", (m) => messages.push(m));
  client.on("receipt", (r) => receipts.push(r));
  return { client, messages, receipts };
}

async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => BigInt(from + i));

Deno.test("ChatClient e2e: ordered exactly-once delivery, catch-up, receipts, restart", async (t) => {
  const dataDir = await Deno.makeTempDir({ prefix: "flash-im-chat-client-e2e-" });
  const args = ["--require-friends", "false", "--rate-limit", "5000", "--rate-burst", "2000"];
  const [tcp, http] = freePorts(2);
  const ports = { tcp: tcp!, http: http! };
  let server = await startServer({ dataDir, args, ports });
  const open: ChatClient[] = [];
  try {
    const alice = await userTokens(server, "alice");
    const bob = await userTokens(server, "bob");
    const a = chat(server, alice, "alice-laptop");
    let b = chat(server, bob, "bob-phone");
    open.push(a.client, b.client);
    await a.client.connect();
    await b.client.connect();
    let conversationId = "";

    await t.step("50 live sends arrive at the peer in seq order, exactly once", async () => {
      for (let i = 1; i <= 50; i++) {
        const ack = await a.client.send({ userId: bob.userId }, `m${i}`);
        assert.equal(ack.seq, BigInt(i));
        assert.equal(ack.duplicate, false);
        conversationId = ack.conversationId;
      }
      await until(() => b.messages.length >= 50, "50 messages at bob");
      assert.deepEqual(b.messages.map((m) => m.seq), range(1, 50));
      assert.deepEqual(b.messages.map((m) => m.text), range(1, 50).map((i) => `m${i}`));
      assert.ok(b.messages.every((m) => !m.mine && m.senderUserId === alice.userId));
      assert.ok(b.messages.every((m) => m.conversationId === conversationId));
      // The sender's own sends are delivered to it too, in order, marked as its own.
      assert.deepEqual(a.messages.map((m) => m.seq), range(1, 50));
      assert.ok(a.messages.every((m) => m.mine));
      assert.equal(b.client.position(conversationId), 50n);
    });

    await t.step("offline: a new client resumes from a snapshot, gets 51..350 once", async () => {
      const state = b.client.snapshot();
      await b.client.close();
      const acks = await Promise.all(
        Array.from(
          { length: 300 },
          (_, i) => a.client.send({ conversationId }, `o${i}`, { timeoutMs: 30_000 }),
        ),
      );
      assert.deepEqual(acks.map((x) => x.seq).sort((x, y) => (x < y ? -1 : 1)), range(51, 350));
      b = chat(server, bob, "bob-phone", state);
      open.push(b.client);
      await b.client.connect(); // sync + pull before it resolves
      assert.deepEqual(b.messages.map((m) => m.seq), range(51, 350));
      await new Promise((r) => setTimeout(r, 200)); // nothing late or twice
      assert.equal(b.messages.length, 300);
      assert.equal(b.client.position(conversationId), 350n);
      await until(() => a.client.position(conversationId) === 350n, "alice's own position");
    });

    await t.step("each logical send has its own clientMsgId", async () => {
      const first = await a.client.send({ userId: bob.userId }, "same text");
      const second = await a.client.send({ userId: bob.userId }, "same text");
      assert.notEqual(first.clientMsgId, second.clientMsgId);
      assert.deepEqual([first.seq, second.seq], [351n, 352n]);
      assert.ok(!first.duplicate && !second.duplicate);
      await until(() => b.messages.length === 302, "both at bob");
      assert.deepEqual(b.messages.slice(-2).map((m) => m.messageId), [
        first.messageId,
        second.messageId,
      ]);
    });

    await t.step("a non-temporary server error rejects at once, without retries", async () => {
      const started = Date.now();
      const refused = await a.client.send({ conversationId: "d:100:200" }, "no")
        .then(() => undefined, (e) => e);
      assert.ok(refused instanceof ServerError, String(refused));
      assert.equal(refused.code, ErrorCode.NotMember);
      assert.ok(Date.now() - started < 1000, "no backoff");
    });

    await t.step("a read receipt reaches the sender", async () => {
      await b.client.markRead(conversationId, 352n);
      await until(() => a.receipts.some((r) => r.kind === "read"), "a receipt at alice");
      const receipt = a.receipts.find((r) => r.kind === "read")!;
      assert.equal(receipt.userId, bob.userId);
      assert.equal(receipt.conversationId, conversationId);
      assert.equal(receipt.upToSeq, 352n);
    });

    await t.step("sends survive a node restart (kill -9) mid-stream", async () => {
      const acks: ChatSendResult[] = [];
      const sending = (async () => {
        for (let i = 0; i < 20; i++) {
          acks.push(
            await a.client.send({ conversationId }, `r${i}`, { timeoutMs: 5000, retries: 10 }),
          );
        }
      })();
      await until(() => acks.length >= 5, "5 acks before the restart");
      await server.stop("SIGKILL");
      server = await startServer({ dataDir, args, ports });
      await sending;
      assert.deepEqual(acks.map((x) => x.seq), range(353, 372));
      assert.equal(new Set(acks.map((x) => x.clientMsgId)).size, 20);
      // Bob's connection reconnected by itself; sync + pull + live pushes: once, in order.
      await until(() => b.client.position(conversationId) === 372n, "bob at 372");
      assert.deepEqual(b.messages.map((m) => m.seq), range(51, 372));
    });
  } finally {
    await Promise.all(open.map((c) => c.close()));
    await server.stop("SIGKILL");
    await removeDataDir(dataDir);
  }
});
