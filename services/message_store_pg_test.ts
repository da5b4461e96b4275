import assert from "node:assert/strict";
import { openTestSchema, PG_TEST_URL } from "./_pg_testing.ts";
import { openPostgres, type Sql } from "./postgres.ts";
import { PG_MIGRATIONS } from "./pg_migrations.ts";
import { messageStoreContract, type MessageStoreFixture } from "./message_store_contract.ts";
import { PgMessageStore } from "./message_store_pg.ts";
import type { AppendItem, AppendResult } from "./message_store.ts";

const T0 = 1_700_000_000_000;

/** A store on a fresh schema; the scene-setting helpers write with plain SQL. */
async function fixture(): Promise<MessageStoreFixture & { sql: Sql; schema: string }> {
  const test = await openTestSchema(PG_MIGRATIONS);
  const { sql } = test;
  let n = 0;
  let failing = false;
  return {
    sql,
    schema: test.schema,
    store: new PgMessageStore(sql),
    createUser: async () => {
      const [row] = await sql`
        INSERT INTO users (username, password_hash, created_at)
        VALUES (${`user${++n}`}, 'h', 0) RETURNING id`;
      return String(row!.id);
    },
    setLastSeq: async (conversationId, seq) => {
      await sql`UPDATE conversations SET last_seq = ${seq.toString()}::bigint
        WHERE id = ${conversationId}`;
    },
    // The texts live in a table that a trigger consults, so no value enters the DDL.
    failMessagesWithText: async (text) => {
      if (!failing) {
        failing = true;
        await sql.unsafe(`
          CREATE TABLE failing_texts (text text PRIMARY KEY);
          CREATE FUNCTION fail_messages() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN
            IF EXISTS (SELECT 1 FROM failing_texts f WHERE f.text = NEW.text) THEN
              RAISE EXCEPTION 'injected failure';
            END IF;
            RETURN NEW;
          END $$;
          CREATE TRIGGER fail_messages BEFORE INSERT ON messages
            FOR EACH ROW EXECUTE FUNCTION fail_messages();`);
      }
      await sql`INSERT INTO failing_texts (text) VALUES (${text}) ON CONFLICT DO NOTHING`;
    },
    close: () => test.drop(),
  };
}

messageStoreContract("PgMessageStore", fixture);

const item = (
  conversationId: string,
  seq: bigint | number,
  senderId: string,
  clientMsgId: string,
): AppendItem => ({
  conversationId,
  seq: BigInt(seq),
  senderId,
  clientMsgId,
  content: { type: 1, text: clientMsgId },
});

/** Two users and their direct conversation. */
async function direct(f: MessageStoreFixture) {
  const a = await f.createUser();
  const b = await f.createUser();
  const created = await f.store.ensureDirect(a, b, T0);
  assert.ok(created.ok);
  return { a, b, conv: created.conversationId };
}

Deno.test("PgMessageStore gives each seq to exactly one of two nodes racing for it", async () => {
  const f = await fixture();
  // A second node: its own pool on the same schema.
  const other = await openPostgres(PG_TEST_URL, PG_MIGRATIONS, { schema: f.schema, poolSize: 4 });
  try {
    const nodes = [f.store, new PgMessageStore(other)];
    const convs = [await direct(f), await direct(f), await direct(f)];
    const rounds = 20;
    const perRound = 3;
    for (let round = 0; round < rounds; round++) {
      const from = round * perRound + 1;
      // Both nodes believe they own every conversation and hold the same next seqs; they
      // list the conversations in opposite orders (their locks must not deadlock).
      const batches = nodes.map((_, node) => {
        const order = node === 0 ? convs : [...convs].reverse();
        return order.flatMap(({ conv, a }) =>
          Array.from(
            { length: perRound },
            (_, i) => item(conv, from + i, a, `n${node}-r${round}-${i}-${conv}`),
          )
        );
      });
      const results = await Promise.all(
        nodes.map((store, node) => store.appendBatch(batches[node]!, T0 + round)),
      );
      for (const { conv } of convs) {
        const of = (node: number) =>
          results[node]!.filter((_, i) => batches[node]![i]!.conversationId === conv)
            .map((r: AppendResult) => r.status);
        const [zero, one] = [of(0), of(1)];
        // Each conversation's items all went to one node, the other was refused them all.
        const stored = Array(perRound).fill("stored");
        const refused = Array(perRound).fill("seq_conflict");
        assert.ok(
          (zero.join() === stored.join() && one.join() === refused.join()) ||
            (one.join() === stored.join() && zero.join() === refused.join()),
          `round ${round} ${conv}: ${zero} / ${one}`,
        );
      }
    }
    for (const { conv } of convs) {
      const page = await f.store.page(conv, { limit: 200 });
      assert.deepEqual(
        page.messages.map((m) => Number(m.seq)),
        Array.from({ length: rounds * perRound }, (_, i) => i + 1),
      );
      assert.equal((await f.store.load(conv))?.lastSeq, BigInt(rounds * perRound));
    }
  } finally {
    await other.end();
    await f.close();
  }
});

Deno.test("PgMessageStore stores one message when two nodes race with one idempotency key", async () => {
  const f = await fixture();
  const other = await openPostgres(PG_TEST_URL, PG_MIGRATIONS, { schema: f.schema, poolSize: 4 });
  try {
    const nodes = [f.store, new PgMessageStore(other)];
    const me = await f.createUser();
    // Two conversations, so the conversation locks do not serialize the two batches: only
    // the unique (sender, clientMsgId) does.
    const convs: string[] = [];
    for (let i = 0; i < 2; i++) {
      const created = await f.store.ensureDirect(me, await f.createUser(), T0);
      assert.ok(created.ok);
      convs.push(created.conversationId);
    }
    const next = [1, 1];
    for (let round = 0; round < 20; round++) {
      const results = await Promise.all(
        nodes.map((store, node) =>
          store.appendBatch([item(convs[node]!, next[node]!, me, `k${round}`)], T0)
        ),
      );
      const statuses = results.map(([r]) => r!.status).sort();
      assert.deepEqual(statuses, ["duplicate", "stored"], `round ${round}`);
      const winner = results.findIndex(([r]) => r!.status === "stored");
      next[winner]!++;
      const [won, lost] = [results[winner]![0]!, results[1 - winner]![0]!];
      assert.ok(won.status === "stored" && lost.status === "duplicate");
      assert.deepEqual(lost.message, won.message);
    }
  } finally {
    await other.end();
    await f.close();
  }
});

Deno.test("PgMessageStore keeps message ids above 2^53 exact", async () => {
  const f = await fixture();
  try {
    const { a, b, conv } = await direct(f);
    await f.sql`ALTER TABLE messages ALTER COLUMN message_id RESTART WITH 9007199254740993`;
    const results = await f.store.appendBatch([item(conv, 1, a, "x"), item(conv, 2, b, "y")], T0);
    const ids = results.map((r) => r.status === "stored" ? r.message.messageId : r.status);
    assert.deepEqual(ids, ["9007199254740993", "9007199254740994"]);
    assert.equal((await f.store.byClientMsgId(b, "y"))?.messageId, "9007199254740994");
    assert.deepEqual(
      (await f.store.page(conv, { limit: 5 })).messages.map((m) => m.messageId),
      ids,
    );
    const [summary] = (await f.store.conversationsOf(a, { limit: 5 })).conversations;
    assert.equal(summary?.lastMessage?.messageId, "9007199254740994");
    const retry = await f.store.appendBatch([item(conv, 3, a, "x")], T0);
    assert.equal(retry[0]?.status === "duplicate" && retry[0].message.messageId, ids[0]);
  } finally {
    await f.close();
  }
});

Deno.test("PgMessageStore bumps each member's counter once per batch", async () => {
  const f = await fixture();
  try {
    const { a, b, conv } = await direct(f);
    const counter = async () =>
      Number((await f.sql`SELECT seq FROM user_change_counters WHERE user_id = ${b}`)[0]!.seq);
    const before = await counter();
    const items = Array.from({ length: 50 }, (_, i) => item(conv, i + 1, i % 2 ? a : b, `c${i}`));
    await f.store.appendBatch(items, T0 + 1);
    assert.equal(await counter(), before + 1);
  } finally {
    await f.close();
  }
});

Deno.test("PgMessageStore refuses text Postgres cannot hold, alone", async () => {
  const f = await fixture();
  try {
    const { a, b, conv } = await direct(f);
    const results = await f.store.appendBatch([
      { ...item(conv, 1, a, "nul"), content: { type: 1, text: "a\0b" } },
      item(conv, 1, b, "ok"),
    ], T0);
    assert.deepEqual(results.map((r) => r.status), ["invalid", "stored"]);
    assert.equal(await f.store.load("d:1:\0"), undefined);
    assert.equal(await f.store.byClientMsgId(a, "\0"), undefined);
    assert.equal(await f.store.isMember("\0", a), false);
  } finally {
    await f.close();
  }
});
