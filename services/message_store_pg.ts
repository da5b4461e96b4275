/**
 * The real {@link MessageStore} backend on PostgreSQL (`npm:postgres`).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import postgres from "postgres";
import type { Sql } from "./postgres.ts";
import { checkTime, clampLimit, parseUserId } from "./_store_util.ts";
import { invalidReason } from "./_append_item.ts";
import { type AppendPlan, planAppend } from "./_append_plan.ts";
import {
  changesPage,
  checkSeq,
  checkWatermarkKind,
  pageRange,
  watermarkAfter,
} from "./_message_store_core.ts";
import {
  type ChangeRow,
  type ConversationRow,
  type MemberRow,
  type MessageRow,
  type SummaryRow,
  toMember,
  toMessage,
  toSummary,
} from "./_message_rows.ts";
import { run, type Runner } from "./_pg_message_sql.ts";
import {
  type AppendItem,
  type AppendResult,
  type ChangesPage,
  type ConversationRecord,
  type ConversationsOfOptions,
  type ConversationsPage,
  directConversationId,
  type EnsureDirectResult,
  MAX_APPEND_BATCH,
  MAX_CHANGES_PAGE,
  MAX_CONVERSATIONS_PAGE,
  type MessagePage,
  type MessageStore,
  type PageOptions,
  type SetWatermarkResult,
  type StoredMessage,
  type WatermarkKind,
} from "./message_store.ts";

/** Options of {@link PgMessageStore}. */
export interface PgMessageStoreOptions {
  /**
   * How many times `appendBatch` runs a batch that lost a race it cannot see coming (a
   * concurrent batch took one of its idempotency keys in another conversation, or the
   * server broke a deadlock) before it rejects. Default 3.
   */
  readonly attempts?: number;
}

/** Default of {@link PgMessageStoreOptions.attempts}. */
export const DEFAULT_PG_APPEND_ATTEMPTS = 3;

// SQLSTATEs after which a rolled-back batch may simply run again.
const RETRYABLE = new Set(["40001", "40P01"]);

/** A batch's insert lost a row to a concurrent batch: roll back and run it again. */
class LostRace extends Error {
  override name = "LostRace";
}

/**
 * {@link MessageStore} on a pool opened by `openPostgres` with `PG_MIGRATIONS` (it needs
 * the `users` table: members are users). Several stores, in one process or many (nodes),
 * may share one database: every write runs in one transaction, and the writers of a
 * conversation serialize on its row (`FOR NO KEY UPDATE`), so exactly one of two nodes
 * that race for a seq stores it and the other gets `seq_conflict`.
 *
 * `appendBatch` is the group commit and costs four round trips whatever the batch size
 * (begin; lock and read state; insert and update; commit): every step is one set-based
 * statement over arrays, and the statements of a step are pipelined.
 *
 * The pool belongs to the caller, who ends it.
 *
 * @example
 * ```ts
 * const sql = await openPostgres(url, PG_MIGRATIONS);
 * const messages = new PgMessageStore(sql);
 * const direct = await messages.ensureDirect("17", "42", Date.now());
 * ```
 */
export class PgMessageStore implements MessageStore {
  #sql: Sql;
  #attempts: number;

  /** @throws {RangeError} when `attempts` is not an integer >= 1. */
  constructor(sql: Sql, options: PgMessageStoreOptions = {}) {
    const attempts = options.attempts ?? DEFAULT_PG_APPEND_ATTEMPTS;
    if (!Number.isInteger(attempts) || attempts < 1) {
      throw new RangeError(`Cannot create a PgMessageStore: attempts ${attempts} is not >= 1`);
    }
    this.#sql = sql;
    this.#attempts = attempts;
  }

  async ensureDirect(a: string, b: string, now: number): Promise<EnsureDirectResult> {
    checkTime(now, "create a conversation");
    if (a === b) return { ok: false, reason: "self" };
    const x = parseUserId(a);
    const y = parseUserId(b);
    if (x === undefined || y === undefined) return { ok: false, reason: "unknown_user" };
    const id = directConversationId(a, b);
    // Most calls find it: answer without a transaction.
    if ((await run(this.#sql, "conversationExists", [id])).length > 0) {
      return { ok: true, conversationId: id, created: false };
    }
    const users = [x.toString(), y.toString()];
    return await this.#sql.begin(async (tx): Promise<EnsureDirectResult> => {
      if ((await run(tx, "users", [users])).length < 2) {
        return { ok: false, reason: "unknown_user" };
      }
      // A concurrent creator's insert makes this one wait for its commit, then do nothing.
      if ((await run(tx, "insertConversation", [id, "direct", now])).length === 0) {
        return { ok: true, conversationId: id, created: false };
      }
      await Promise.all([
        run(tx, "insertMembers", [id, users, now]),
        run(tx, "touch", [users, [id, id], now, true]),
      ]);
      return { ok: true, conversationId: id, created: true };
    });
  }

  async load(conversationId: string): Promise<ConversationRecord | undefined> {
    if (!isPgText(conversationId)) return undefined;
    const rows = await run<ConversationRow & Nullable<MemberRow>>(this.#sql, "load", [
      conversationId,
    ]);
    const row = rows[0];
    if (row === undefined) return undefined;
    return {
      id: conversationId,
      kind: row.kind,
      createdAt: Number(row.created_at),
      lastSeq: row.last_seq,
      members: rows.filter((r): r is typeof r & MemberRow => r.user_id !== null).map(toMember),
    };
  }

  async appendBatch(items: readonly AppendItem[], now: number): Promise<AppendResult[]> {
    if (!Array.isArray(items)) throw new TypeError("Cannot append: items is not an array");
    if (items.length > MAX_APPEND_BATCH) {
      throw new RangeError(
        `Cannot append: batch of ${items.length} items exceeds ${MAX_APPEND_BATCH}`,
      );
    }
    checkTime(now, "append");
    const invalid = items.map((item) => invalidReason(item) ?? pgInvalidReason(item));
    if (items.length === 0) return [];
    for (let attempt = 1;; attempt++) {
      try {
        return await this.#sql.begin((tx) => this.#append(tx, items, invalid, now));
      } catch (error) {
        if (attempt >= this.#attempts || !isRetryable(error)) throw error;
      }
    }
  }

  async byClientMsgId(senderId: string, clientMsgId: string): Promise<StoredMessage | undefined> {
    const sender = parseUserId(senderId);
    if (sender === undefined || !isPgText(clientMsgId)) return undefined;
    const [row] = await run<MessageRow>(this.#sql, "byClientMsgId", [sender, clientMsgId]);
    return row && toMessage(row);
  }

  async page(conversationId: string, options: PageOptions): Promise<MessagePage> {
    const range = pageRange(options);
    if (range === undefined || !isPgText(conversationId)) return { messages: [], hasMore: false };
    const { after, upTo, limit, newest } = range;
    const rows = await run<MessageRow>(this.#sql, newest ? "pageDown" : "pageUp", [
      conversationId,
      after,
      upTo,
      limit + 1,
    ]);
    const page = rows.slice(0, limit).map(toMessage);
    if (newest) page.reverse();
    return { messages: page, hasMore: rows.length > limit };
  }

  async setWatermark(
    conversationId: string,
    userId: string,
    kind: WatermarkKind,
    seq: bigint,
    now: number,
  ): Promise<SetWatermarkResult> {
    checkSeq(seq, "seq");
    checkTime(now, "set a watermark");
    checkWatermarkKind(kind);
    const user = parseUserId(userId);
    if (user === undefined || !isPgText(conversationId)) return { ok: false, reason: "not_member" };
    // Most receipts repeat what is known (several devices ack the same seq): decide that
    // without a transaction, then decide again under the conversation's lock.
    const [known] = await run<ConversationRow & MemberRow>(this.#sql, "watermarkOf", [
      conversationId,
      user,
    ]);
    if (known === undefined) return { ok: false, reason: "not_member" };
    const first = watermarkAfter(known.last_seq, known, kind, seq);
    if (!first.changed) return first;
    return await this.#sql.begin(async (tx): Promise<SetWatermarkResult> => {
      const [locked, members] = await Promise.all([
        run<ConversationRow>(tx, "lockForReceipt", [conversationId]),
        run<MemberRow>(tx, "membersOf", [[conversationId]]),
      ]);
      const member = members.find((m) => m.user_id === user);
      if (locked[0] === undefined || member === undefined) {
        return { ok: false, reason: "not_member" };
      }
      const result = watermarkAfter(locked[0].last_seq, member, kind, seq);
      if (!result.changed) return result;
      const users = members.map((m) => m.user_id);
      await Promise.all([
        run(tx, "setWatermark", [conversationId, user, result.deliveredSeq, result.readSeq]),
        run(tx, "touch", [users, users.map(() => conversationId), now, false]),
      ]);
      return result;
    });
  }

  async changesSince(userId: string, cursor: bigint, limit: number): Promise<ChangesPage> {
    checkSeq(cursor, "cursor");
    const max = clampLimit(limit, MAX_CHANGES_PAGE, "changes");
    const user = parseUserId(userId);
    if (user === undefined) return { changes: [], cursor, hasMore: false, reset: false };
    const [counter] = await run<{ seq: bigint }>(this.#sql, "counter", [user]);
    // The counter only grows, so a cursor beyond it never came from this log.
    const reset = cursor > (counter?.seq ?? 0n);
    if (reset) cursor = 0n;
    const rows = await run<ChangeRow>(this.#sql, "changes", [user, cursor, max + 1]);
    return changesPage(rows, max, cursor, reset);
  }

  async conversationsOf(
    userId: string,
    options: ConversationsOfOptions,
  ): Promise<ConversationsPage> {
    const max = clampLimit(options.limit, MAX_CONVERSATIONS_PAGE, "conversations");
    const user = parseUserId(userId);
    if (user === undefined) return { conversations: [], hasMore: false };
    const before = options.before;
    const rows = before === undefined
      ? await run<SummaryRow>(this.#sql, "summaries", [user, max + 1])
      : await run<SummaryRow>(this.#sql, "summariesBefore", [
        user,
        max + 1,
        before.activityAt,
        pgText(before.conversationId),
      ]);
    return { conversations: rows.slice(0, max).map(toSummary), hasMore: rows.length > max };
  }

  async isMember(conversationId: string, userId: string): Promise<boolean> {
    const user = parseUserId(userId);
    if (user === undefined || !isPgText(conversationId)) return false;
    return (await run(this.#sql, "isMember", [conversationId, user])).length > 0;
  }

  async #append(
    tx: Runner,
    items: readonly AppendItem[],
    invalid: readonly (string | undefined)[],
    now: number,
  ): Promise<AppendResult[]> {
    const valid = items.filter((_, i) => invalid[i] === undefined);
    const conversationIds = [...new Set(valid.map((item) => item.conversationId))];
    // One pipeline: the lock first; the reads after it see what the previous writer of each
    // conversation committed.
    const [locked, members, originals] = await Promise.all([
      run<{ id: string; last_seq: bigint }>(tx, "lockConversations", [conversationIds]),
      run<MemberRow & { conversation_id: string }>(tx, "membersOf", [conversationIds]),
      run<MessageRow>(tx, "originals", [
        valid.map((item) => item.senderId),
        valid.map((item) => item.clientMsgId),
      ]),
    ]);
    const conversations = new Map(
      locked.map((row) => [row.id, { lastSeq: row.last_seq, members: new Set<bigint>() }]),
    );
    for (const m of members) conversations.get(m.conversation_id)?.members.add(m.user_id);
    const byKey = new Map(originals.map((row) => [`${row.sender_id} ${row.client_msg_id}`, row]));
    const plan = planAppend(items, invalid, {
      original: (sender, clientMsgId) => {
        const row = byKey.get(`${sender} ${clientMsgId}`);
        return row && toMessage(row);
      },
      conversation: (id) => conversations.get(id),
    });
    if (plan.inserts.length === 0) return plan.results([], now);
    const [inserted] = await Promise.all(writeBatch(tx, plan, conversations, now));
    if (inserted.length !== plan.inserts.length) {
      throw new LostRace(
        `Cannot append: ${plan.inserts.length - inserted.length} of ${plan.inserts.length} ` +
          "messages conflicted with a concurrent batch",
      );
    }
    // RETURNING promises no order: match the ids by their (conversation, seq).
    const ids = new Map(
      inserted.map((row) => [`${row.seq} ${row.conversation_id}`, row.message_id.toString()]),
    );
    const messageIds = plan.inserts.map(({ item }) =>
      ids.get(`${item.seq} ${item.conversationId}`)!
    );
    return plan.results(messageIds, now);
  }
}

/** The batch's writes, pipelined: the insert (its rows first), last seqs, watermarks, log. */
function writeBatch(
  tx: Runner,
  plan: AppendPlan,
  conversations: ReadonlyMap<string, { readonly members: ReadonlySet<bigint> }>,
  now: number,
) {
  const { inserts, writes } = plan;
  const content = inserts.map(({ item }) => item.content);
  const watermarks = writes.flatMap((w) =>
    [...w.senders].map(([user, seq]) => ({ id: w.conversationId, user, seq }))
  );
  const touched = writes.flatMap((w) =>
    [...conversations.get(w.conversationId)!.members].map((user) => ({
      id: w.conversationId,
      user,
    }))
  );
  return [
    run<{ message_id: bigint; conversation_id: string; seq: bigint }>(tx, "insertMessages", [
      inserts.map(({ item }) => item.conversationId),
      inserts.map(({ item }) => item.seq),
      inserts.map(({ sender }) => sender),
      inserts.map(({ item }) => item.clientMsgId),
      content.map((c) => c.type),
      content.map((c) => c.text ?? null),
      content.map((c) => c.data === undefined ? null : base64(c.data)),
      content.map((c) => c.customType ?? null),
      now,
    ]),
    run(tx, "setLastSeqs", [writes.map((w) => w.conversationId), writes.map((w) => w.lastSeq)]),
    run(tx, "raiseWatermarks", [
      watermarks.map((w) => w.id),
      watermarks.map((w) => w.user),
      watermarks.map((w) => w.seq),
    ]),
    run(tx, "touch", [touched.map((t) => t.user), touched.map((t) => t.id), now, true]),
  ] as const;
}

function base64(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64");
}

/** Postgres `text` cannot hold U+0000: such a string names nothing and cannot be stored. */
function isPgText(value: unknown): value is string {
  return typeof value === "string" && !value.includes("\0");
}

/** `value` as a text parameter: U+0000 (which Postgres refuses) becomes U+FFFD. */
function pgText(value: string): string {
  return String(value).replaceAll("\0", "\uFFFD");
}

/** Why a well-formed item cannot be stored in Postgres, or `undefined`. */
function pgInvalidReason(item: AppendItem): string | undefined {
  const fields = {
    conversationId: item.conversationId,
    clientMsgId: item.clientMsgId,
    "content.text": item.content.text,
    "content.customType": item.content.customType,
  };
  for (const [name, value] of Object.entries(fields)) {
    if (typeof value === "string" && value.includes("\0")) return `${name} contains U+0000`;
  }
  return undefined;
}

function isRetryable(error: unknown): boolean {
  return error instanceof LostRace ||
    (error instanceof postgres.PostgresError && RETRYABLE.has(error.code));
}

type Nullable<T> = { [K in keyof T]: T[K] | null };
