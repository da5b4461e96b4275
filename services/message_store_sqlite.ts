/**
 * The embedded {@link MessageStore} backend on `node:sqlite`.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { immediateTransaction } from "./sqlite.ts";
import { checkTime, clampLimit, parseUserId, settle } from "./_store_util.ts";
import { invalidReason } from "./_append_item.ts";
import { planAppend, type PlanConversation } from "./_append_plan.ts";
import {
  changesPage,
  checkSeq,
  checkWatermarkKind,
  maxBigint,
  pageRange,
  watermarkAfter,
} from "./_message_store_core.ts";
import { type MessageStatements, prepareMessageStatements } from "./_message_store_sql.ts";
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

/** Options of {@link SqliteMessageStore}. */
export interface SqliteMessageStoreOptions {
  /** Close `db` when the store closes. Default `false`: the opener owns the handle. */
  readonly closeDb?: boolean;
}

/** A conversation as `appendBatch` reads it under the write lock. */
interface BatchConversation extends PlanConversation {
  readonly members: Map<bigint, MemberRow>;
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
      const range = pageRange(options);
      if (range === undefined) return { messages: [], hasMore: false };
      const { after, upTo, limit, newest } = range;
      const statement = newest ? this.#sql.pageDown : this.#sql.pageUp;
      const rows = statement.all(conversationId, after, upTo, limit + 1) as unknown as MessageRow[];
      const page = rows.slice(0, limit).map(toMessage);
      if (newest) page.reverse();
      return { messages: page, hasMore: rows.length > limit };
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
      checkWatermarkKind(kind);
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
      return changesPage(rows, max, cursor, reset);
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
    const conversations = new Map<string, BatchConversation | undefined>();
    const plan = planAppend(items, invalid, {
      original: (sender, clientMsgId) => {
        const row = this.#sql.byClientMsgId.get(sender, clientMsgId) as MessageRow | undefined;
        return row && toMessage(row);
      },
      conversation: (id) => {
        const conversation = this.#batchConversation(id);
        conversations.set(id, conversation);
        return conversation;
      },
    });
    const ids = plan.inserts.map(({ item, sender }) => {
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
      return row.message_id.toString();
    });
    for (const { conversationId: id, lastSeq, senders } of plan.writes) {
      const members = conversations.get(id)!.members;
      this.#sql.setLastSeq.run(lastSeq, id);
      for (const [sender, seq] of senders) {
        const member = members.get(sender)!;
        this.#sql.setMember.run(
          maxBigint(member.delivered_seq, seq),
          maxBigint(member.read_seq, seq),
          id,
          sender,
        );
      }
      for (const user of members.keys()) this.#touch(user, id, now, true);
    }
    return plan.results(ids, now);
  }

  #batchConversation(id: string): BatchConversation | undefined {
    const row = this.#sql.conversation.get(id) as ConversationRow | undefined;
    if (row === undefined) return undefined;
    const members = this.#sql.members.all(id) as unknown as MemberRow[];
    return { lastSeq: row.last_seq, members: new Map(members.map((m) => [m.user_id, m])) };
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
    return watermarkAfter(conversation.last_seq, member, kind, seq);
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
