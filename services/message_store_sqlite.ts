/**
 * The embedded {@link MessageStore} backend on `node:sqlite`.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { immediateTransaction } from "./sqlite.ts";
import { checkTime, clampLimit, MAX_INT64, parseUserId, settle } from "./_store_util.ts";
import { invalidReason } from "./_append_item.ts";
import { type MessageStatements, prepareMessageStatements } from "./_message_store_sql.ts";
import {
  type ChangeRow,
  type ConversationRow,
  type MemberRow,
  type MessageRow,
  type SummaryRow,
  toContent,
  toMember,
  toMessage,
  toSummary,
  toView,
} from "./_message_rows.ts";
import {
  type AppendItem,
  type AppendResult,
  type ChangeEntry,
  type ChangesPage,
  type ConversationRecord,
  type ConversationsOfOptions,
  type ConversationsPage,
  directConversationId,
  type EnsureDirectResult,
  MAX_APPEND_BATCH,
  MAX_CHANGES_PAGE,
  MAX_CONVERSATIONS_PAGE,
  MAX_MESSAGE_PAGE,
  type MessagePage,
  type MessageStore,
  type PageOptions,
  type SetWatermarkResult,
  type StoredMessage,
  type WatermarkKind,
} from "./message_store.ts";

/** Options of {@link SqliteMessageStore}. */
export interface SqliteMessageStoreOptions {
  /** Close `db` when the store closes. Default `false`: the opener owns the handle. */
  readonly closeDb?: boolean;
}

/** What `appendBatch` keeps per conversation while the batch runs (under the write lock). */
interface BatchConversation {
  readonly exists: boolean;
  lastSeq: bigint;
  readonly members: Map<bigint, MemberRow>;
  conflicted: boolean;
  stored: boolean;
  /** Sender -> seq of their last message stored by this batch. */
  readonly senders: Map<bigint, bigint>;
}

/**
 * {@link MessageStore} on a database opened by `openSqlite` with `SQLITE_MIGRATIONS` (it
 * needs the `users` table: members are users). Several stores may share one handle.
 * Writes run in `BEGIN IMMEDIATE` transactions, so they are atomic across every thread and
 * process that opened the file; calls run synchronously on the calling thread (a batch of
 * 1000 appends takes milliseconds), the promise is for the port's sake.
 *
 * @example
 * ```ts
 * const db = openSqlite("data/flash.db", SQLITE_MIGRATIONS);
 * using messages = new SqliteMessageStore(db);
 * const direct = await messages.ensureDirect("17", "42", Date.now());
 * ```
 */
export class SqliteMessageStore implements MessageStore {
  #db: DatabaseSync;
  #closeDb: boolean;
  #sql: MessageStatements;

  constructor(db: DatabaseSync, options: SqliteMessageStoreOptions = {}) {
    this.#db = db;
    this.#closeDb = options.closeDb ?? false;
    this.#sql = prepareMessageStatements(db);
  }

  ensureDirect(a: string, b: string, now: number): Promise<EnsureDirectResult> {
    return settle(() => {
      checkTime(now, "create a conversation");
      if (a === b) return { ok: false, reason: "self" } as const;
      const x = parseUserId(a);
      const y = parseUserId(b);
      if (x === undefined || y === undefined) return { ok: false, reason: "unknown_user" } as const;
      const id = directConversationId(a, b);
      // Most calls find it: answer without taking the write lock.
      if (this.#sql.conversation.get(id) !== undefined) {
        return { ok: true, conversationId: id, created: false } as const;
      }
      return immediateTransaction(this.#db, (): EnsureDirectResult => {
        if (!this.#userExists(x) || !this.#userExists(y)) {
          return { ok: false, reason: "unknown_user" };
        }
        if (this.#sql.insertConversation.run(id, "direct", now).changes === 0) {
          return { ok: true, conversationId: id, created: false };
        }
        for (const user of [x, y]) {
          this.#sql.insertMember.run(id, user, now);
          this.#touch(user, id, now, true);
        }
        return { ok: true, conversationId: id, created: true };
      });
    });
  }

  load(conversationId: string): Promise<ConversationRecord | undefined> {
    return settle(() => {
      const row = this.#sql.conversation.get(conversationId) as ConversationRow | undefined;
      if (row === undefined) return undefined;
      const members = (this.#sql.members.all(conversationId) as unknown as MemberRow[]).map(
        toMember,
      );
      return {
        id: conversationId,
        kind: row.kind,
        createdAt: Number(row.created_at),
        lastSeq: row.last_seq,
        members,
      };
    });
  }

  appendBatch(items: readonly AppendItem[], now: number): Promise<AppendResult[]> {
    return settle(() => {
      if (!Array.isArray(items)) throw new TypeError("Cannot append: items is not an array");
      if (items.length > MAX_APPEND_BATCH) {
        throw new RangeError(
          `Cannot append: batch of ${items.length} items exceeds ${MAX_APPEND_BATCH}`,
        );
      }
      checkTime(now, "append");
      const invalid = items.map(invalidReason);
      if (items.length === 0) return [];
      return immediateTransaction(this.#db, () => this.#append(items, invalid, now));
    });
  }

  byClientMsgId(senderId: string, clientMsgId: string): Promise<StoredMessage | undefined> {
    return settle(() => {
      const sender = parseUserId(senderId);
      if (sender === undefined || typeof clientMsgId !== "string") return undefined;
      const row = this.#sql.byClientMsgId.get(sender, clientMsgId) as MessageRow | undefined;
      return row && toMessage(row);
    });
  }

  page(conversationId: string, options: PageOptions): Promise<MessagePage> {
    return settle(() => {
      const limit = clampLimit(options.limit, MAX_MESSAGE_PAGE, "messages");
      const after = options.afterSeq ?? 0n;
      checkSeq(after, "afterSeq");
      if (options.beforeSeq !== undefined) checkSeq(options.beforeSeq, "beforeSeq");
      // Inclusive upper bound, so "no bound" needs no second statement.
      const upTo = options.beforeSeq === undefined || options.beforeSeq > MAX_INT64
        ? MAX_INT64
        : options.beforeSeq - 1n;
      if (upTo <= after) return { messages: [], hasMore: false };
      // One row more than asked tells whether the range holds more.
      const statement = options.beforeSeq === undefined ? this.#sql.pageUp : this.#sql.pageDown;
      const rows = statement.all(conversationId, after, upTo, limit + 1) as unknown as MessageRow[];
      const hasMore = rows.length > limit;
      const page = rows.slice(0, limit).map(toMessage);
      if (statement === this.#sql.pageDown) page.reverse();
      return { messages: page, hasMore };
    });
  }

  setWatermark(
    conversationId: string,
    userId: string,
    kind: WatermarkKind,
    seq: bigint,
    now: number,
  ): Promise<SetWatermarkResult> {
    return settle(() => {
      checkSeq(seq, "seq");
      checkTime(now, "set a watermark");
      if (kind !== "delivered" && kind !== "read") {
        throw new TypeError(`Cannot set a watermark: unknown kind ${JSON.stringify(kind)}`);
      }
      const user = parseUserId(userId);
      if (user === undefined) return { ok: false, reason: "not_member" } as const;
      // Most receipts repeat what is known (several devices ack the same seq): decide that
      // without the write lock, then decide again under it.
      const first = this.#watermark(conversationId, user, kind, seq);
      if (first === undefined || !first.changed) {
        return first ?? { ok: false, reason: "not_member" };
      }
      return immediateTransaction(this.#db, (): SetWatermarkResult => {
        const result = this.#watermark(conversationId, user, kind, seq);
        if (result === undefined) return { ok: false, reason: "not_member" };
        if (!result.changed) return result;
        this.#sql.setMember.run(result.deliveredSeq, result.readSeq, conversationId, user);
        const members = this.#sql.members.all(conversationId) as unknown as MemberRow[];
        for (const member of members) this.#touch(member.user_id, conversationId, now, false);
        return result;
      });
    });
  }

  changesSince(userId: string, cursor: bigint, limit: number): Promise<ChangesPage> {
    return settle(() => {
      checkSeq(cursor, "cursor");
      const max = clampLimit(limit, MAX_CHANGES_PAGE, "changes");
      const user = parseUserId(userId);
      if (user === undefined) return { changes: [], cursor, hasMore: false, reset: false };
      const counter = this.#sql.counter.get(user) as { seq: bigint } | undefined;
      // The counter only grows, so a cursor beyond it never came from this log.
      const reset = cursor > (counter?.seq ?? 0n);
      if (reset) cursor = 0n;
      const rows = this.#sql.changes.all(user, cursor, max + 1) as unknown as ChangeRow[];
      const changes = rows.slice(0, max).map((row): ChangeEntry => ({
        ...toView(row),
        changeSeq: row.change_seq,
        changedAt: Number(row.changed_at),
      }));
      return {
        changes,
        cursor: changes.at(-1)?.changeSeq ?? cursor,
        hasMore: rows.length > max,
        reset,
      };
    });
  }

  conversationsOf(userId: string, options: ConversationsOfOptions): Promise<ConversationsPage> {
    return settle(() => {
      const max = clampLimit(options.limit, MAX_CONVERSATIONS_PAGE, "conversations");
      const user = parseUserId(userId);
      if (user === undefined) return { conversations: [], hasMore: false };
      const before = options.before;
      const rows = (before === undefined
        ? this.#sql.summaries.all(user, max + 1)
        : this.#sql.summariesBefore.all(
          user,
          before.activityAt,
          before.conversationId,
          max + 1,
        )) as unknown as SummaryRow[];
      return {
        conversations: rows.slice(0, max).map(toSummary),
        hasMore: rows.length > max,
      };
    });
  }

  isMember(conversationId: string, userId: string): Promise<boolean> {
    return settle(() => {
      const user = parseUserId(userId);
      return user !== undefined && this.#sql.member.get(conversationId, user) !== undefined;
    });
  }

  /** Closes the database handle if the store owns it (`closeDb`); idempotent. */
  close(): void {
    if (this.#closeDb && this.#db.isOpen) this.#db.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #append(
    items: readonly AppendItem[],
    invalid: readonly (string | undefined)[],
    now: number,
  ): AppendResult[] {
    const conversations = new Map<string, BatchConversation>();
    const results = items.map((item, i): AppendResult => {
      const reason = invalid[i];
      if (reason !== undefined) return { status: "invalid", reason };
      const sender = BigInt(item.senderId);
      // Before anything else: a retry gets its original ack, even from a stale writer. The
      // lookup sees this batch's own earlier inserts (same transaction).
      const original = this.#sql.byClientMsgId.get(sender, item.clientMsgId) as
        | MessageRow
        | undefined;
      if (original !== undefined) return { status: "duplicate", message: toMessage(original) };
      const conversation = this.#batchConversation(conversations, item.conversationId);
      if (!conversation.exists) return { status: "unknown_conversation" };
      if (!conversation.members.has(sender)) return { status: "not_member" };
      if (conversation.conflicted || item.seq <= conversation.lastSeq) {
        // The writer is stale: refuse the rest of its items for this conversation too, or
        // it could write a seq the current owner is about to take.
        conversation.conflicted = true;
        return { status: "seq_conflict" };
      }
      if (item.seq !== conversation.lastSeq + 1n) {
        return { status: "seq_gap", expectedSeq: conversation.lastSeq + 1n };
      }
      const message = this.#insert(item, sender, now);
      conversation.lastSeq = item.seq;
      conversation.stored = true;
      conversation.senders.set(sender, item.seq);
      return { status: "stored", message };
    });
    for (const [id, conversation] of conversations) {
      if (!conversation.stored) continue;
      this.#sql.setLastSeq.run(conversation.lastSeq, id);
      for (const [sender, seq] of conversation.senders) {
        const member = conversation.members.get(sender)!;
        this.#sql.setMember.run(
          max(member.delivered_seq, seq),
          max(member.read_seq, seq),
          id,
          sender,
        );
      }
      for (const user of conversation.members.keys()) this.#touch(user, id, now, true);
    }
    return results;
  }

  #batchConversation(
    conversations: Map<string, BatchConversation>,
    id: string,
  ): BatchConversation {
    let conversation = conversations.get(id);
    if (conversation === undefined) {
      const row = this.#sql.conversation.get(id) as ConversationRow | undefined;
      const members = row === undefined ? [] : this.#sql.members.all(id) as unknown as MemberRow[];
      conversation = {
        exists: row !== undefined,
        lastSeq: row?.last_seq ?? 0n,
        members: new Map(members.map((m) => [m.user_id, m])),
        conflicted: false,
        stored: false,
        senders: new Map(),
      };
      conversations.set(id, conversation);
    }
    return conversation;
  }

  #insert(item: AppendItem, sender: bigint, now: number): StoredMessage {
    const { type, text, data, customType } = item.content;
    const row = this.#sql.insertMessage.get(
      item.conversationId,
      item.seq,
      sender,
      item.clientMsgId,
      type,
      text ?? null,
      data ?? null,
      customType ?? null,
      now,
    ) as { message_id: bigint };
    return {
      messageId: row.message_id.toString(),
      conversationId: item.conversationId,
      seq: item.seq,
      senderId: sender.toString(),
      clientMsgId: item.clientMsgId,
      content: toContent(type, text ?? null, data ?? null, customType ?? null),
      createdAt: now,
    };
  }

  /** The member's watermarks after a receipt, or `undefined` when not a member. */
  #watermark(
    conversationId: string,
    user: bigint,
    kind: WatermarkKind,
    seq: bigint,
  ): (SetWatermarkResult & { ok: true }) | undefined {
    const conversation = this.#sql.conversation.get(conversationId) as
      | ConversationRow
      | undefined;
    const member = this.#sql.member.get(conversationId, user) as MemberRow | undefined;
    if (conversation === undefined || member === undefined) return undefined;
    // A receipt beyond the last message is clamped: nobody has seen what does not exist.
    const target = seq < conversation.last_seq ? seq : conversation.last_seq;
    const deliveredSeq = max(member.delivered_seq, target);
    const readSeq = kind === "read" ? max(member.read_seq, target) : member.read_seq;
    return {
      ok: true,
      deliveredSeq,
      readSeq,
      changed: deliveredSeq !== member.delivered_seq || readSeq !== member.read_seq,
    };
  }

  /** Gives the user's change log its next value for the conversation. */
  #touch(user: bigint, conversationId: string, now: number, activity: boolean): void {
    const { seq } = this.#sql.bumpCounter.get(user) as { seq: bigint };
    const statement = activity ? this.#sql.touchActivity : this.#sql.touchChange;
    statement.run(user, conversationId, seq, now, now);
  }

  #userExists(id: bigint): boolean {
    return this.#sql.userExists.get(id) !== undefined;
  }
}

function checkSeq(seq: bigint, name: string): void {
  if (typeof seq !== "bigint" || seq < 0n) {
    throw new RangeError(`Cannot use ${name} ${seq}: it is not a bigint >= 0`);
  }
}

function max(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}
