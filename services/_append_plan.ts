/**
 * The decisions of `MessageStore.appendBatch`, shared by the backends so both answer every
 * item the same way: a pure function of the items and what the database holds (read under
 * the batch's lock), which says which items to insert and what each item's result is.
 * Private to `services/`.
 *
 * @module
 */

import { toContent } from "./_message_rows.ts";
import type { AppendItem, AppendResult, StoredMessage } from "./message_store.ts";

/** What the plan needs to know of an existing conversation. */
export interface PlanConversation {
  /** The highest stored seq, read under the batch's lock. */
  readonly lastSeq: bigint;
  /** Its members' user ids. */
  readonly members: { has(userId: bigint): boolean };
}

/** The database's answers the plan asks for (each key at most once). */
export interface PlanLookups {
  /** The message stored earlier under this idempotency key, if any. */
  original(sender: bigint, clientMsgId: string): StoredMessage | undefined;
  /** The conversation, or `undefined` when it does not exist. */
  conversation(id: string): PlanConversation | undefined;
}

/** One message to insert, in item order. */
export interface PlannedInsert {
  readonly item: AppendItem;
  readonly sender: bigint;
}

/** What the batch changes in one conversation that stores something. */
export interface ConversationWrite {
  readonly conversationId: string;
  /** The conversation's new `lastSeq`. */
  readonly lastSeq: bigint;
  /** Sender -> seq of their last message in this batch (their watermarks move up to it). */
  readonly senders: ReadonlyMap<bigint, bigint>;
}

/** Outcome of {@link planAppend}. */
export interface AppendPlan {
  /** The messages to insert; none of them conflicts with another or with the database. */
  readonly inserts: readonly PlannedInsert[];
  /** One per conversation that stores something, in first-seen order. */
  readonly writes: readonly ConversationWrite[];
  /**
   * The items' results, in item order, once the inserts are stored with these message ids
   * (one per insert, in insert order).
   */
  results(messageIds: readonly string[], now: number): AppendResult[];
}

interface PlanState {
  readonly found: PlanConversation | undefined;
  lastSeq: bigint;
  conflicted: boolean;
  readonly senders: Map<bigint, bigint>;
}

/** An item's outcome: final, or the index of an insert it is (or duplicates). */
type Outcome =
  | AppendResult
  | { readonly status: "insert"; readonly index: number }
  | { readonly status: "copy"; readonly index: number };

/**
 * Decides every item of a batch, in order: malformed (`invalid[i]` is its reason), then
 * duplicate (of the database or of an earlier item of the batch that is stored), unknown
 * conversation, not a member, seq conflict (which also refuses the conversation's later
 * items), seq gap, or stored. Calls each lookup once per distinct key.
 */
export function planAppend(
  items: readonly AppendItem[],
  invalid: readonly (string | undefined)[],
  lookups: PlanLookups,
): AppendPlan {
  const states = new Map<string, PlanState>();
  const inserts: PlannedInsert[] = [];
  // "sender clientMsgId" -> insert index, for retries within the batch.
  const keys = new Map<string, number>();
  const outcomes = items.map((item, i): Outcome => {
    const reason = invalid[i];
    if (reason !== undefined) return { status: "invalid", reason };
    const sender = BigInt(item.senderId);
    // Before anything else: a retry gets its original ack, even from a stale writer.
    const key = `${sender} ${item.clientMsgId}`;
    const earlier = keys.get(key);
    if (earlier !== undefined) return { status: "copy", index: earlier };
    const original = lookups.original(sender, item.clientMsgId);
    if (original !== undefined) return { status: "duplicate", message: original };
    let state = states.get(item.conversationId);
    if (state === undefined) {
      const found = lookups.conversation(item.conversationId);
      state = { found, lastSeq: found?.lastSeq ?? 0n, conflicted: false, senders: new Map() };
      states.set(item.conversationId, state);
    }
    if (state.found === undefined) return { status: "unknown_conversation" };
    if (!state.found.members.has(sender)) return { status: "not_member" };
    if (state.conflicted || item.seq <= state.lastSeq) {
      // The writer is stale: refuse the rest of its items for this conversation too, or it
      // could write a seq the current owner is about to take.
      state.conflicted = true;
      return { status: "seq_conflict" };
    }
    if (item.seq !== state.lastSeq + 1n) {
      return { status: "seq_gap", expectedSeq: state.lastSeq + 1n };
    }
    state.lastSeq = item.seq;
    state.senders.set(sender, item.seq);
    keys.set(key, inserts.length);
    inserts.push({ item, sender });
    return { status: "insert", index: inserts.length - 1 };
  });
  const writes: ConversationWrite[] = [];
  for (const [conversationId, state] of states) {
    if (state.senders.size === 0) continue;
    writes.push({ conversationId, lastSeq: state.lastSeq, senders: state.senders });
  }
  return {
    inserts,
    writes,
    results(messageIds, now) {
      if (messageIds.length !== inserts.length) {
        throw new RangeError(
          `Cannot finish an append: ${messageIds.length} message ids for ${inserts.length} inserts`,
        );
      }
      const messages = inserts.map(({ item, sender }, i) =>
        storedMessage(item, sender, messageIds[i]!, now)
      );
      return outcomes.map((outcome): AppendResult => {
        if (outcome.status === "insert") {
          return { status: "stored", message: messages[outcome.index]! };
        }
        if (outcome.status === "copy") {
          return { status: "duplicate", message: messages[outcome.index]! };
        }
        return outcome;
      });
    },
  };
}

function storedMessage(
  item: AppendItem,
  sender: bigint,
  messageId: string,
  now: number,
): StoredMessage {
  const { type, text, data, customType } = item.content;
  return {
    messageId,
    conversationId: item.conversationId,
    seq: item.seq,
    senderId: sender.toString(),
    clientMsgId: item.clientMsgId,
    content: toContent(type, text ?? null, data ?? null, customType ?? null),
    createdAt: now,
  };
}
