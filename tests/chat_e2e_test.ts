/**
 * One-node chat end to end (the first slice: durable sends, idempotent retries, ordering,
 * live delivery to every device, the friends-only policy, no acknowledged message lost to
 * kill -9). Real node process, real sockets, the client SDK.
 */

import assert from "node:assert/strict";
import { ContentType, ErrorCode, type Frame, type SendAck, ServerError } from "../client/mod.ts";
import { ReceiptKind, TypingState, u64, u64ToBigInt, u64ToString } from "../protocol/mod.ts";
import { openedStores } from "./backends.ts";
import { device, removeDataDir, startServer, userTokens } from "./harness.ts";

function text(peerUserId: string, clientMsgId: string, body: string) {
  return { peerUserId, clientMsgId, content: { type: ContentType.TEXT, text: body } };
}

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Seqs of the message notifications received, in arrival order. */
function notifiedSeqs(notes: Frame[]): bigint[] {
  return notes.filter((f) => f.body === "messageNotify")
    .map((f) => u64ToBigInt(f.messageNotify!.message!.seq));
}

Deno.test("chat e2e: durable acks, retries, ordering, fan-out, catch-up, policy, kill -9", async (t) => {
  const dataDir = await Deno.makeTempDir({ prefix: "flash-im-chat-e2e-" });
  // The burst below is about ordering, not rate limits: let 1,000 requests through at once.
  const args = ["--rate-limit", "5000", "--rate-burst", "2000"];
  let server = await startServer({ dataDir, args });
  try {
    const alice = await userTokens(server, "alice");
    const bob = await userTokens(server, "bob");
    const carol = await userTokens(server, "carol");
    // The HTTP friends API comes next; the store is the same one the node uses.
    {
      await using stores = await openedStores(dataDir);
      await stores.friends.request(alice.userId, bob.userId, Date.now());
      assert.deepEqual(await stores.friends.accept(bob.userId, alice.userId, Date.now()), {
        ok: true,
      });
    }
    const laptop = await device(server, alice, "alice-laptop");
    const phone = await device(server, alice, "alice-phone");
    const bobs = await device(server, bob, "bob-phone");
    const acked: SendAck[] = [];

    await t.step("a send is acked with seq 1 and delivered to the peer", async () => {
      const ack = await laptop.conn.sendMessage(text(bob.userId, "m-1", "hello bob"));
      acked.push(ack);
      assert.equal(u64ToBigInt(ack.seq), 1n);
      assert.equal(ack.duplicate, false);
      await until(() => notifiedSeqs(bobs.notes).length === 1, "bob's notification");
      const note = bobs.notes.find((f) => f.body === "messageNotify")!.messageNotify!.message!;
      assert.equal(note.senderUserId, alice.userId);
      assert.equal(note.content?.text, "hello bob");
      assert.equal(u64ToString(note.serverMsgId), u64ToString(ack.serverMsgId));
    });

    await t.step("a retry with the same clientMsgId returns the original ack", async () => {
      const again = await laptop.conn.sendMessage(text(bob.userId, "m-1", "hello bob"));
      assert.equal(again.duplicate, true);
      assert.equal(u64ToBigInt(again.seq), 1n);
      assert.equal(u64ToString(again.serverMsgId), u64ToString(acked[0]!.serverMsgId));
      // The same clientMsgId for other content is a client bug, not a retry: refused.
      const reused = await laptop.conn.sendMessage(text(bob.userId, "m-1", "other text")).then(
        () => undefined,
        (error) => error,
      );
      assert.ok(reused instanceof ServerError, String(reused));
      assert.equal(reused.code, ErrorCode.ClientMsgIdConflict);
    });

    await t.step("1,000 concurrent sends from two devices: gap-free seqs, in order", async () => {
      const sends = Array.from({ length: 1000 }, (_, i) => {
        const from = i % 2 === 0 ? laptop : phone;
        return from.conn.sendMessage(text(bob.userId, `burst-${i}`, `n${i}`), {
          timeoutMs: 30_000,
        });
      });
      const acks = await Promise.all(sends);
      acked.push(...acks);
      const seqs = acks.map((a) => u64ToBigInt(a.seq)).sort((a, b) => (a < b ? -1 : 1));
      assert.deepEqual(seqs, Array.from({ length: 1000 }, (_, i) => BigInt(i + 2)));
      await until(() => notifiedSeqs(bobs.notes).length === 1001, "1001 notifications at bob");
      const got = notifiedSeqs(bobs.notes);
      assert.deepEqual(got, Array.from({ length: 1001 }, (_, i) => BigInt(i + 1)));
      // The sender's other devices see the messages too; the sending device only gets the
      // ack of its own (no copy of what it sent).
      const phoneAcks = acks.filter((_, i) => i % 2 === 1).map((a) => u64ToBigInt(a.seq));
      await until(
        () => notifiedSeqs(phone.notes).length === 1001 - phoneAcks.length,
        `${1001 - phoneAcks.length} notifications at the phone`,
      );
      const atPhone = notifiedSeqs(phone.notes);
      assert.ok(atPhone.every((seq) => !phoneAcks.includes(seq)), "no copy of its own sends");
      assert.deepEqual(
        [...atPhone, ...phoneAcks].sort((a, b) => (a < b ? -1 : 1)),
        Array.from({ length: 1001 }, (_, i) => BigInt(i + 1)),
      );
    });

    await t.step("an offline device catches up by sync, then pulls pages in order", async () => {
      await bobs.conn.close();
      const offline = await Promise.all(
        Array.from(
          { length: 450 },
          (_, i) =>
            laptop.conn.sendMessage(text(bob.userId, `offline-${i}`, `o${i}`), {
              timeoutMs: 30_000,
            }),
        ),
      );
      acked.push(...offline);
      const back = await device(server, bob, "bob-phone");
      const sync = await back.conn.sync({ cursor: u64(0) });
      assert.equal(sync.conversations?.length, 1);
      const state = sync.conversations![0]!;
      assert.equal(u64ToBigInt(state.latestSeq), 1451n);
      const conversationId = state.conversationId!;
      // Bob had seen up to 1001 live; pull the rest, page by page.
      const seqs: bigint[] = [];
      let after = 1001n;
      for (let pages = 0; pages < 10; pages++) {
        const page = await back.conn.pullMessages({
          conversationId,
          afterSeq: u64(after),
          limit: 200,
        });
        for (const m of page.messages ?? []) seqs.push(u64ToBigInt(m.seq));
        after = seqs.at(-1) ?? after;
        if (!page.hasMore) break;
      }
      assert.deepEqual(seqs, Array.from({ length: 450 }, (_, i) => BigInt(1002 + i)));
      // Someone else's conversation is not readable.
      const foreign = await back.conn.pullMessages({ conversationId: "d:100:200", limit: 10 })
        .then(() => undefined, (e) => e);
      assert.equal((foreign as ServerError).code, ErrorCode.NotMember);
      await back.conn.close();
    });

    await t.step("read receipts and typing reach the sender's devices", async () => {
      const reader = await device(server, bob, "bob-tablet");
      const conversationId = `d:${alice.userId}:${bob.userId}`;
      const ok = await reader.conn.request({ readReceipt: { conversationId, upToSeq: u64(1001) } });
      assert.equal(ok.body, "ok");
      await until(
        () => laptop.notes.some((f) => f.body === "receiptNotify"),
        "a receipt at alice's laptop",
      );
      const receipt = laptop.notes.find((f) => f.body === "receiptNotify")!.receiptNotify!;
      assert.equal(receipt.userId, bob.userId);
      assert.equal(receipt.kind, ReceiptKind.READ);
      assert.equal(u64ToBigInt(receipt.upToSeq), 1001n);
      assert.ok(reader.conn.notify({ typing: { conversationId, state: TypingState.TYPING } }));
      await until(() => phone.notes.some((f) => f.body === "typing"), "typing at alice's phone");
      const typing = phone.notes.find((f) => f.body === "typing")!.typing!;
      assert.equal(typing.userId, bob.userId);
      assert.equal(typing.state, TypingState.TYPING);
      await reader.conn.close();
    });

    await t.step("strangers cannot message each other", async () => {
      const stranger = await device(server, carol, "carol-phone");
      const refused = await stranger.conn.sendMessage(text(bob.userId, "c-1", "hi"))
        .then(() => undefined, (e) => e);
      assert.ok(refused instanceof ServerError, String(refused));
      assert.equal(refused.code, ErrorCode.NotFriends);
      // Nor plant an empty conversation in someone's list with a receipt.
      const ids = [BigInt(carol.userId), BigInt(bob.userId)].sort((x, y) => (x < y ? -1 : 1));
      const planted = await stranger.conn.request({
        readReceipt: { conversationId: `d:${ids[0]}:${ids[1]}`, upToSeq: u64(5) },
      }).then(() => undefined, (e) => e);
      assert.ok(planted instanceof ServerError, String(planted));
      await using stores = await openedStores(dataDir);
      const list = await stores.messages.conversationsOf(bob.userId, { limit: 10 });
      assert.equal(list.conversations.length, 1, "only the conversation with alice exists");
      await stranger.conn.close();
    });

    await t.step("kill -9 loses no acknowledged message", async () => {
      await Promise.all([laptop.conn.close(), phone.conn.close()]);
      await server.stop("SIGKILL");
      {
        await using stores = await openedStores(dataDir);
        for (const ack of acked) {
          const stored = await stores.messages.byClientMsgId(alice.userId, ack.clientMsgId!);
          assert.ok(stored, `acked message ${ack.clientMsgId} is missing`);
          assert.equal(stored.seq, u64ToBigInt(ack.seq));
        }
      }
      server = await startServer({ dataDir, args });
      const back = await device(server, alice, "alice-laptop");
      const next = await back.conn.sendMessage(text(bob.userId, "after-restart", "still here"));
      assert.equal(u64ToBigInt(next.seq), 1452n, "seqs continue after the restart");
      await back.conn.close();
    });

    await t.step("a WebSocket device gets its acks and notifications", async () => {
      const tcp = await device(server, alice, "alice-laptop");
      const web = await device(server, bob, "bob-web", "ws");
      try {
        const ack = await web.conn.sendMessage(text(alice.userId, "w-1", "from the web"));
        assert.equal(ack.clientMsgId, "w-1");
        await until(() => notifiedSeqs(tcp.notes).includes(u64ToBigInt(ack.seq)), "at alice");
        const back = await tcp.conn.sendMessage(text(bob.userId, "w-2", "to the web"));
        await until(() => notifiedSeqs(web.notes).includes(u64ToBigInt(back.seq)), "at the web");
      } finally {
        await Promise.all([tcp.conn.close(), web.conn.close()]);
      }
    });
  } finally {
    await server.stop("SIGKILL");
    await removeDataDir(dataDir);
  }
});
