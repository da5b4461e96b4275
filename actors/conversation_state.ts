/**
 * The pure core of the conversation actor (`conv/<id>`): `(state, input) => { state, effects }`.
 * No I/O, timers or promises. The shell owns the mailbox, calls the `MessageStore`,
 * feeds its answers back as inputs and carries out the effects.
 *
 * The actor is its conversation's single writer. It assigns gap-free seqs, writes at most
 * one batch at a time (sends arriving meanwhile queue and go out together: group commit),
 * acknowledges a sender only once the store said `stored`/`duplicate` (the output-gate rule),
 * then fans the message out to every member. A store failure releases the batch's seqs, so
 * the next batch reuses them; a `seq_conflict` means another writer owns the conversation:
 * everything waiting is refused as temporary and the actor asks to passivate.
 *
 * Idempotency cache: with `cacheLookups` on, a send flagged `resend` that neither `recent` nor
 * `sending` knows is parked while the shell looks its ack up in the shared dedupe cache
 * (`lookup` effect, answered by `lookedUp`/`lookupFailed`): a hit is acked as a duplicate
 * without a store write; a miss or failure goes on as an ordinary send (the store still
 * dedupes). Each newly stored message yields a `remember` effect to fill the cache. First
 * sends never wait for the cache.
 *
 * Ownership: a step updates the state it is given in place (bounded maps are not copied per
 * message) and returns it; the caller must not keep using the state it passed in.
 *
 * @module
 */

import {
  ErrorCode,
  errorInfo,
  MAX_CLIENT_MSG_ID_BYTES,
  MAX_CONTENT_BYTES,
} from "../protocol/mod.ts";
import type {
  AppendItem,
  AppendResult,
  ConversationKind,
  ConversationRecord,
  MessageContent,
  SetWatermarkResult,
  StoredMessage,
  WatermarkKind,
} from "../services/mod.ts";

/** Default bounds of a conversation core; see {@link ConversationLimits}. */
export const CONVERSATION_LIMITS = {
  /** Sends queued behind the in-flight batch; more are refused with `Busy`. */
  maxPending: 1024,
  /** Items of one `persist` effect (group commit), at most the store's `MAX_APPEND_BATCH`. */
  maxBatch: 256,
  /** Recent `(sender, clientMsgId)` acks kept for cheap retries (least recently used out). */
  maxRecent: 4096,
  /** Retries of one unanswered send that may wait for its ack; more are refused with `Busy`. */
  maxWaiters: 8,
  /**
   * Dedupe-cache lookups in flight (each answer takes a slot of the actor's small priority
   * lane); a resend past it skips the cache and goes on as an ordinary send.
   */
  maxLookups: 16,
} as const;

/** Bounds of a conversation core (positive integers). */
export type ConversationLimits = { readonly [K in keyof typeof CONVERSATION_LIMITS]: number };

/** Lifecycle of a conversation core. */
export const ConversationStatus = {
  /** Waiting for `loaded`; the shell buffers other inputs meanwhile. */
  Loading: "loading",
  Active: "active",
  /** Another writer owns the conversation (`seq_conflict`): refuse everything, passivate. */
  Fenced: "fenced",
  /** The conversation does not exist: refuse everything, passivate. */
  Missing: "missing",
} as const;
/** A {@link ConversationStatus} value. */
export type ConversationStatus = (typeof ConversationStatus)[keyof typeof ConversationStatus];

/** A member's durable watermarks, as the store last reported them. */
export interface Watermarks {
  deliveredSeq: bigint;
  readSeq: bigint;
}

/** One message on its way to the store, with everyone waiting for its ack. */
export interface SendEntry {
  readonly key: string;
  readonly senderId: string;
  readonly clientMsgId: string;
  readonly content: MessageContent;
  /** {@link contentDigest} of `content`: a retry with other content is a conflict. */
  readonly digest: string;
  /** The original send's reply token first, then those of retries that joined it. */
  readonly waiters: unknown[];
}

/** What a retry of a stored message is answered with. */
export interface RecentAck {
  readonly seq: bigint;
  readonly messageId: string;
  readonly createdAt: number;
  /** {@link contentDigest} of the stored content (absent: cached by an older version). */
  readonly digest?: string;
}

/** A {@link RecentAck} as the shared dedupe cache keeps it: with its conversation. */
export interface CachedAck extends RecentAck {
  readonly conversationId: string;
}

/** Switches of a conversation core (off by default). */
export interface ConversationOptions {
  /**
   * Look the acks of `resend` sends up in the shell's dedupe cache before writing them, and
   * ask the shell to remember each newly stored message's ack there. Default `false`.
   */
  readonly cacheLookups?: boolean;
}

/** Sends of one `(sender, clientMsgId)` key parked while the shell looks its ack up. */
export interface ParkedLookup {
  readonly senderId: string;
  readonly clientMsgId: string;
  /** The send that started the lookup first, then the retries that joined it. */
  readonly sends: ConversationSendInput[];
}

/** The state of one conversation core. Create it with {@link createConversationState}. */
export interface ConversationState {
  readonly conversationId: string;
  readonly limits: ConversationLimits;
  /** See {@link ConversationOptions.cacheLookups}. */
  readonly cacheLookups: boolean;
  status: ConversationStatus;
  kind: ConversationKind | undefined;
  readonly members: Map<string, Watermarks>;
  /** The highest durable seq. */
  lastSeq: bigint;
  /** The seq the next assigned message takes: `lastSeq + 1 + inFlight.length`. */
  nextSeq: bigint;
  /** Latest `now` seen, ms: never goes back, so stored times are monotonic. */
  now: number;
  /** The batch being written (item `i` has seq `lastSeq + 1 + i`), if any. */
  inFlight: SendEntry[] | undefined;
  /** Sends waiting for the next batch, in arrival order. */
  pending: SendEntry[];
  /** Every in-flight and pending entry by `(sender, clientMsgId)` key. */
  readonly sending: Map<string, SendEntry>;
  /** Recent acks by `(sender, clientMsgId)` key, least recently used first. */
  readonly recent: Map<string, RecentAck>;
  /** Sends waiting for a cache lookup, by key; they count against `maxPending`. */
  readonly lookups: Map<string, ParkedLookup>;
}

/** A sender's permission, decided by the shell beforehand (friendship, blocks, mutes). */
export type SendPolicy =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly code: ErrorCode; readonly reason?: string };

/** What a conversation core reacts to; every input carries the shell's clock `now` (ms). */
export type ConversationInput =
  /** The answer of `store.load` (`undefined`: no such conversation). */
  | { readonly type: "loaded"; readonly now: number; readonly record?: ConversationRecord }
  | {
    readonly type: "send";
    readonly now: number;
    readonly senderId: string;
    readonly clientMsgId: string;
    readonly content: MessageContent;
    /** Opaque token the shell answers through (`ack` or `reject` carry it back). */
    readonly replyTo: unknown;
    readonly policy?: SendPolicy;
    /**
     * The client says this is a retry (the wire's `resend` hint): worth a cache lookup when
     * `recent` does not know it. Dedupe never depends on it.
     */
    readonly resend?: boolean;
  }
  /**
   * The answer of the dedupe cache for a `lookup` effect (fields copied from it): the
   * cached ack, or `undefined` for a miss.
   */
  | {
    readonly type: "lookedUp";
    readonly now: number;
    readonly senderId: string;
    readonly clientMsgId: string;
    readonly ack?: CachedAck;
  }
  /** The dedupe cache failed or was too slow for a `lookup` effect: handled as a miss. */
  | {
    readonly type: "lookupFailed";
    readonly now: number;
    readonly senderId: string;
    readonly clientMsgId: string;
  }
  /** The results of `appendBatch` for the in-flight batch, in item order. */
  | { readonly type: "persisted"; readonly now: number; readonly results: readonly AppendResult[] }
  /** `appendBatch` rejected: nothing of the batch is durable. */
  | { readonly type: "persistFailed"; readonly now: number; readonly message?: string }
  | {
    readonly type: "watermark";
    readonly now: number;
    readonly userId: string;
    readonly kind: WatermarkKind;
    readonly seq: bigint;
    readonly replyTo?: unknown;
  }
  /** The answer of `setWatermark` for a `storeWatermark` effect (fields copied from it). */
  | {
    readonly type: "watermarkStored";
    readonly now: number;
    readonly userId: string;
    readonly kind: WatermarkKind;
    readonly replyTo?: unknown;
    readonly result: SetWatermarkResult;
  }
  /** `setWatermark` rejected. */
  | {
    readonly type: "watermarkFailed";
    readonly now: number;
    readonly userId: string;
    readonly kind: WatermarkKind;
    readonly replyTo?: unknown;
  };

/** What the shell must do, in order. */
export type ConversationEffect =
  /**
   * Look the send's ack up in the dedupe cache, then feed `lookedUp` (hit or miss) or
   * `lookupFailed`. Must be bounded in time: the send waits for the answer.
   */
  | { readonly type: "lookup"; readonly senderId: string; readonly clientMsgId: string }
  /** Store the ack of a newly stored message in the dedupe cache (fire and forget). */
  | {
    readonly type: "remember";
    readonly senderId: string;
    readonly clientMsgId: string;
    readonly ack: CachedAck;
  }
  /** Call `store.appendBatch(items, now)`, then feed `persisted` or `persistFailed`. */
  | { readonly type: "persist"; readonly items: readonly AppendItem[]; readonly now: number }
  /** Answer a send with a `SendAck`: the message is durable. */
  | {
    readonly type: "ack";
    readonly replyTo: unknown;
    readonly conversationId: string;
    readonly clientMsgId: string;
    readonly seq: bigint;
    readonly messageId: string;
    readonly createdAt: number;
    readonly duplicate: boolean;
  }
  /** Answer a request with an error (`temporary` from the protocol's code table). */
  | {
    readonly type: "reject";
    readonly replyTo: unknown;
    readonly code: ErrorCode;
    readonly temporary: boolean;
    readonly message: string;
  }
  /**
   * Push a newly stored message to the members' sessions: the sender's other devices too,
   * but not the one that sent it (`origin`, the send's `replyTo`: its ack carries it all).
   */
  | {
    readonly type: "fanout";
    readonly message: StoredMessage;
    readonly recipients: readonly string[];
    readonly origin: unknown;
  }
  /** Call `store.setWatermark`, then feed `watermarkStored` or `watermarkFailed`. */
  | {
    readonly type: "storeWatermark";
    readonly conversationId: string;
    readonly userId: string;
    readonly kind: WatermarkKind;
    readonly seq: bigint;
    readonly replyTo?: unknown;
    readonly now: number;
  }
  /** Push a `ReceiptNotify` (a member's durable watermark moved) to the other members. */
  | {
    readonly type: "receipt";
    readonly conversationId: string;
    readonly userId: string;
    readonly kind: WatermarkKind;
    readonly seq: bigint;
    readonly at: number;
    readonly recipients: readonly string[];
  }
  /** Answer a watermark request with `Ok`. */
  | { readonly type: "ok"; readonly replyTo: unknown }
  /** Stop this activation; the next message reactivates it (and reloads). */
  | { readonly type: "passivate"; readonly reason: "fenced" | "not_found" };

/** The `send` input. */
export type ConversationSendInput = Extract<ConversationInput, { type: "send" }>;

/** The outcome of {@link stepConversation}. */
export interface ConversationStep {
  readonly state: ConversationState;
  readonly effects: ConversationEffect[];
}

/**
 * A conversation core waiting for `loaded`.
 *
 * @throws {RangeError} when a limit is not a positive integer.
 *
 * @example
 * ```ts
 * const state = createConversationState("d:17:42", { maxPending: 64 }, { cacheLookups: true });
 * ```
 */
export function createConversationState(
  conversationId: string,
  limits: Partial<ConversationLimits> = {},
  options: ConversationOptions = {},
): ConversationState {
  const merged = { ...CONVERSATION_LIMITS, ...limits };
  for (const [name, value] of Object.entries(merged)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`Cannot create conversation state: ${name} ${value} is not positive`);
    }
  }
  return {
    conversationId,
    limits: merged,
    cacheLookups: options.cacheLookups ?? false,
    status: ConversationStatus.Loading,
    kind: undefined,
    members: new Map(),
    lastSeq: 0n,
    nextSeq: 1n,
    now: 0,
    inFlight: undefined,
    pending: [],
    sending: new Map(),
    recent: new Map(),
    lookups: new Map(),
  };
}

/**
 * Whether nothing is being written, looked up or waiting: the shell may passivate the actor now.
 *
 * @example
 * ```ts
 * if (conversationIdle(state)) startIdleTimer();
 * ```
 */
export function conversationIdle(state: ConversationState): boolean {
  return state.inFlight === undefined && state.pending.length === 0 && state.lookups.size === 0;
}

/**
 * Applies one input. Updates `state` in place and returns it with the effects to run, in
 * order. Expected refusals are `reject` effects; a `persisted`/`persistFailed` with no batch
 * in flight, results of the wrong length, or a second `loaded` are shell bugs and throw.
 *
 * @throws {RangeError} on the shell bugs above.
 *
 * @example
 * ```ts
 * let state = createConversationState("d:17:42");
 * ({ state } = stepConversation(state, { type: "loaded", now: 0, record }));
 * const { effects } = stepConversation(state, {
 *   type: "send", now: Date.now(), senderId: "17", clientMsgId: "c1",
 *   content: { type: 1, text: "hi" }, replyTo: connectionToken,
 * });
 * // effects: [{ type: "persist", items: [{ seq: record.lastSeq + 1n, ... }], now }]
 * ```
 */
export function stepConversation(
  state: ConversationState,
  input: ConversationInput,
): ConversationStep {
  const out: ConversationEffect[] = [];
  if (input.now > state.now) state.now = input.now;
  switch (input.type) {
    case "loaded":
      onLoaded(state, input.record, out);
      break;
    case "send":
      onSend(state, input, out, state.cacheLookups);
      break;
    case "lookedUp":
    case "lookupFailed":
      onLookedUp(state, input, out);
      break;
    case "persisted":
      onPersisted(state, input.results, out);
      break;
    case "persistFailed": {
      const batch = takeBatch(state);
      const why = input.message ?? "the message store is unavailable";
      for (const entry of batch) refuse(state, out, entry, ErrorCode.Unavailable, why);
      flush(state, out);
      break;
    }
    case "watermark":
      onWatermark(state, input, out);
      break;
    case "watermarkStored":
      onWatermarkStored(state, input, out);
      break;
    case "watermarkFailed":
      if (input.replyTo !== undefined) {
        out.push(rejection(input.replyTo, ErrorCode.Unavailable, "Cannot store watermark"));
      }
      break;
  }
  return { state, effects: out };
}

function onLoaded(s: ConversationState, record: ConversationRecord | undefined, out: Out): void {
  if (s.status !== ConversationStatus.Loading) {
    throw new RangeError(`Cannot load conversation ${s.conversationId}: it is ${s.status}`);
  }
  if (record === undefined) {
    s.status = ConversationStatus.Missing;
    out.push({ type: "passivate", reason: "not_found" });
    return;
  }
  if (record.id !== s.conversationId) {
    throw new RangeError(`Cannot load conversation ${s.conversationId}: got ${record.id}`);
  }
  s.status = ConversationStatus.Active;
  s.kind = record.kind;
  for (const m of record.members) {
    s.members.set(m.userId, { deliveredSeq: m.deliveredSeq, readSeq: m.readSeq });
  }
  s.lastSeq = record.lastSeq;
  s.nextSeq = record.lastSeq + 1n;
}

type Effect = ConversationEffect;
type Out = Effect[];
type SendInput = ConversationSendInput;

function onSend(s: ConversationState, input: SendInput, out: Out, lookup: boolean): void {
  const { replyTo, senderId, clientMsgId } = input;
  if (s.status !== ConversationStatus.Active) {
    out.push(inactive(s, replyTo));
    return;
  }
  const key = sendKey(senderId, clientMsgId);
  const recent = s.recent.get(key);
  if (recent !== undefined) {
    s.recent.delete(key); // re-inserted: most recently used last
    s.recent.set(key, recent);
    if (recent.digest !== undefined && recent.digest !== contentDigest(input.content)) {
      out.push(conflict(replyTo, clientMsgId));
    } else out.push(acknowledgement(s, replyTo, clientMsgId, recent, true));
    return;
  }
  const same = s.sending.get(key);
  if (same !== undefined) {
    // A retry of a send not answered yet: never written twice, answered with the same ack.
    if (same.digest !== contentDigest(input.content)) out.push(conflict(replyTo, clientMsgId));
    else if (same.waiters.length >= s.limits.maxWaiters) {
      out.push(rejection(replyTo, ErrorCode.Busy, `Too many retries of message ${clientMsgId}`));
    } else same.waiters.push(replyTo);
    return;
  }
  const parked = s.lookups.get(key);
  if (parked !== undefined) {
    // Any send of a key being looked up waits for that answer: one lookup, one write at most.
    if (parked.sends.length >= s.limits.maxWaiters) {
      out.push(rejection(replyTo, ErrorCode.Busy, `Too many retries of message ${clientMsgId}`));
    } else parked.sends.push(input);
    return;
  }
  const refusal = checkSend(s, input);
  if (refusal !== undefined) {
    out.push(rejection(replyTo, refusal[0], refusal[1]));
    return;
  }
  // Parked lookups hold sends too: both count against one bound.
  if (s.pending.length + s.lookups.size >= s.limits.maxPending) {
    out.push(rejection(replyTo, ErrorCode.Busy, `Conversation ${s.conversationId} is busy`));
    return;
  }
  if (lookup && input.resend === true && s.lookups.size < s.limits.maxLookups) {
    // Only a retry pays for a lookup (a first send has nothing to find); recent and the
    // store stay the dedupe of record, the cache just spares a write after a restart.
    s.lookups.set(key, { senderId, clientMsgId, sends: [input] });
    out.push({ type: "lookup", senderId, clientMsgId });
    return;
  }
  const entry: SendEntry = {
    key,
    senderId,
    clientMsgId,
    content: input.content,
    digest: contentDigest(input.content),
    waiters: [replyTo],
  };
  s.pending.push(entry);
  s.sending.set(key, entry);
  flush(s, out);
}

type LookupAnswer = Extract<ConversationInput, { type: "lookedUp" | "lookupFailed" }>;

function onLookedUp(s: ConversationState, input: LookupAnswer, out: Out): void {
  const key = sendKey(input.senderId, input.clientMsgId);
  const parked = s.lookups.get(key);
  // None: refused meanwhile (the conversation was fenced or went missing).
  if (parked === undefined) return;
  s.lookups.delete(key);
  const ack = input.type === "lookedUp" ? input.ack : undefined;
  // A hit from another conversation is not this one's answer: the store decides.
  if (ack !== undefined && ack.conversationId === s.conversationId) {
    const recent: RecentAck = {
      seq: ack.seq,
      messageId: ack.messageId,
      createdAt: ack.createdAt,
      ...(ack.digest === undefined ? {} : { digest: ack.digest }),
    };
    for (const send of parked.sends) {
      const differs = ack.digest !== undefined && ack.digest !== contentDigest(send.content);
      out.push(
        differs
          ? conflict(send.replyTo, parked.clientMsgId)
          : acknowledgement(s, send.replyTo, parked.clientMsgId, recent, true),
      );
    }
    remember(s, key, recent);
    return;
  }
  // A miss: each parked send goes on exactly as if it had just arrived without the lookup
  // (the first is checked and queued, the others join it as retries).
  for (const send of parked.sends) onSend(s, send, out, false);
}

function checkSend(s: ConversationState, input: SendInput): [ErrorCode, string] | undefined {
  const { clientMsgId, content } = input;
  if (typeof clientMsgId !== "string" || clientMsgId === "") {
    return [ErrorCode.ClientMsgIdInvalid, "Cannot send message: client_msg_id is empty"];
  }
  const idBytes = utf8Length(clientMsgId);
  if (idBytes > MAX_CLIENT_MSG_ID_BYTES) {
    const limit = MAX_CLIENT_MSG_ID_BYTES;
    return [
      ErrorCode.ClientMsgIdInvalid,
      `Cannot send message: client_msg_id is ${idBytes} bytes, limit ${limit}`,
    ];
  }
  const size = utf8Length(content.text ?? "") + (content.data?.byteLength ?? 0) +
    utf8Length(content.customType ?? "");
  if (size > MAX_CONTENT_BYTES) {
    return [
      ErrorCode.ContentTooLarge,
      `Cannot send message: content is ${size} bytes, limit ${MAX_CONTENT_BYTES}`,
    ];
  }
  if (!s.members.has(input.senderId)) {
    return [
      ErrorCode.NotMember,
      `Cannot send message: user ${input.senderId} is not a member of ${s.conversationId}`,
    ];
  }
  if (input.policy !== undefined && !input.policy.allowed) {
    return [input.policy.code, input.policy.reason ?? errorInfo(input.policy.code).description];
  }
  return undefined;
}

function onPersisted(s: ConversationState, results: readonly AppendResult[], out: Out): void {
  const batch = takeBatch(s, results.length);
  const recipients = [...s.members.keys()];
  const retry: SendEntry[] = [];
  let expectedSeq = 0n;
  let stop: "fenced" | "not_found" | undefined;
  for (const [i, entry] of batch.entries()) {
    const result = results[i];
    switch (result.status) {
      case "stored": {
        const message = result.message;
        settle(s, out, entry, message, false);
        if (message.seq > s.lastSeq) s.lastSeq = message.seq;
        // The store moved the sender's watermarks to their own message: mirror it.
        const sender = s.members.get(entry.senderId);
        if (sender !== undefined && message.seq > sender.readSeq) sender.readSeq = message.seq;
        if (sender !== undefined && message.seq > sender.deliveredSeq) {
          sender.deliveredSeq = message.seq;
        }
        out.push({ type: "fanout", message, recipients, origin: entry.waiters[0] });
        break;
      }
      case "duplicate":
        // The key was taken by another message (another conversation, other content): the
        // sender reused a client_msg_id, which must not be answered with that message's ack.
        if (
          result.message.conversationId !== s.conversationId ||
          contentDigest(result.message.content) !== entry.digest
        ) {
          refuse(s, out, entry, ErrorCode.ClientMsgIdConflict, conflictReason(entry.clientMsgId));
        } else settle(s, out, entry, result.message, true);
        break;
      case "seq_gap": // an earlier item was not stored: re-number and write again
        retry.push(entry);
        if (result.expectedSeq > expectedSeq) expectedSeq = result.expectedSeq;
        break;
      case "seq_conflict":
        stop = "fenced";
        refuse(s, out, entry, ErrorCode.Unavailable, "Conversation moved to another writer");
        break;
      case "unknown_conversation":
        stop ??= "not_found";
        refuse(s, out, entry, ErrorCode.ConversationNotFound, "Conversation does not exist");
        break;
      case "not_member":
        s.members.delete(entry.senderId);
        refuse(s, out, entry, ErrorCode.NotMember, `User ${entry.senderId} is not a member`);
        break;
      case "invalid":
        refuse(s, out, entry, ErrorCode.InvalidField, `Cannot store message: ${result.reason}`);
        break;
    }
  }
  // The store is the truth for the next free seq (it can only be ahead of us).
  if (expectedSeq - 1n > s.lastSeq) s.lastSeq = expectedSeq - 1n;
  s.nextSeq = s.lastSeq + 1n;
  s.pending.unshift(...retry);
  if (stop === undefined) return flush(s, out);
  s.status = stop === "fenced" ? ConversationStatus.Fenced : ConversationStatus.Missing;
  for (const entry of s.pending) {
    for (const replyTo of entry.waiters) out.push(inactive(s, replyTo));
  }
  s.pending = [];
  s.sending.clear();
  for (const parked of s.lookups.values()) {
    for (const send of parked.sends) out.push(inactive(s, send.replyTo));
  }
  s.lookups.clear();
  out.push({ type: "passivate", reason: stop });
}

/** Ends the in-flight batch; its unstored seqs are released (`nextSeq = lastSeq + 1`). */
function takeBatch(s: ConversationState, resultCount?: number): SendEntry[] {
  const batch = s.inFlight;
  if (batch === undefined) {
    throw new RangeError(`Cannot apply a write result to ${s.conversationId}: nothing in flight`);
  }
  if (resultCount !== undefined && resultCount !== batch.length) {
    throw new RangeError(`Cannot apply ${resultCount} results to a batch of ${batch.length}`);
  }
  s.inFlight = undefined;
  s.nextSeq = s.lastSeq + 1n;
  return batch;
}

/** Starts the next batch when nothing is in flight: group commit of everything pending. */
function flush(s: ConversationState, out: Out): void {
  if (s.status !== ConversationStatus.Active || s.inFlight !== undefined) return;
  if (s.pending.length === 0) return;
  const batch = s.pending.splice(0, s.limits.maxBatch);
  const items = batch.map((e, i): AppendItem => ({
    conversationId: s.conversationId,
    seq: s.lastSeq + 1n + BigInt(i),
    senderId: e.senderId,
    clientMsgId: e.clientMsgId,
    content: e.content,
  }));
  s.inFlight = batch;
  s.nextSeq = s.lastSeq + 1n + BigInt(batch.length);
  out.push({ type: "persist", items, now: s.now });
}

function settle(s: ConversationState, out: Out, e: SendEntry, m: StoredMessage, dup: boolean) {
  const ack: RecentAck = {
    seq: m.seq,
    messageId: m.messageId,
    createdAt: m.createdAt,
    digest: contentDigest(m.content),
  };
  // Waiters after the first are retries: the protocol marks their ack `duplicate`.
  e.waiters.forEach((r, i) => out.push(acknowledgement(s, r, e.clientMsgId, ack, dup || i > 0)));
  s.sending.delete(e.key);
  remember(s, e.key, ack);
  if (s.cacheLookups && !dup) {
    const cached: CachedAck = { conversationId: s.conversationId, ...ack };
    out.push({ type: "remember", senderId: e.senderId, clientMsgId: e.clientMsgId, ack: cached });
  }
}

/** Puts `ack` in the recent-ack LRU (most recently used last), evicting past `maxRecent`. */
function remember(s: ConversationState, key: string, ack: RecentAck): void {
  s.recent.set(key, ack);
  if (s.recent.size > s.limits.maxRecent) s.recent.delete(s.recent.keys().next().value!);
}

function refuse(s: ConversationState, out: Out, e: SendEntry, code: ErrorCode, why: string) {
  for (const replyTo of e.waiters) out.push(rejection(replyTo, code, why));
  s.sending.delete(e.key);
}

type WatermarkInput = Extract<ConversationInput, { type: "watermark" }>;

function onWatermark(s: ConversationState, input: WatermarkInput, out: Out): void {
  const { replyTo, userId, kind } = input;
  const refusal = checkWatermark(s, input);
  if (refusal !== undefined) {
    if (replyTo !== undefined) out.push(refusal);
    return;
  }
  // Clamped like the store does; at or below the durable watermark it is old news.
  const seq = input.seq < s.lastSeq ? input.seq : s.lastSeq;
  const member = s.members.get(userId)!;
  if (seq <= (kind === "read" ? member.readSeq : member.deliveredSeq)) {
    if (replyTo !== undefined) out.push({ type: "ok", replyTo });
    return;
  }
  const conversationId = s.conversationId;
  out.push({ type: "storeWatermark", conversationId, userId, kind, seq, replyTo, now: s.now });
}

function checkWatermark(s: ConversationState, input: WatermarkInput): Effect | undefined {
  if (s.status !== ConversationStatus.Active) return inactive(s, input.replyTo);
  if (!s.members.has(input.userId)) {
    return rejection(input.replyTo, ErrorCode.NotMember, `User ${input.userId} is not a member`);
  }
  if (typeof input.seq !== "bigint" || input.seq < 0n) {
    const why = `Cannot move watermark: seq ${input.seq} is not a non-negative bigint`;
    return rejection(input.replyTo, ErrorCode.InvalidField, why);
  }
  return undefined;
}

type StoredInput = Extract<ConversationInput, { type: "watermarkStored" }>;

function onWatermarkStored(s: ConversationState, input: StoredInput, out: Out): void {
  const { replyTo, userId, kind, result } = input;
  if (!result.ok) {
    s.members.delete(userId);
    if (replyTo !== undefined) {
      out.push(rejection(replyTo, ErrorCode.NotMember, `User ${userId} is not a member`));
    }
    return;
  }
  const member = s.members.get(userId);
  if (member !== undefined) {
    if (result.readSeq > member.readSeq) member.readSeq = result.readSeq;
    if (result.deliveredSeq > member.deliveredSeq) member.deliveredSeq = result.deliveredSeq;
    if (member.readSeq > member.deliveredSeq) member.deliveredSeq = member.readSeq; // read ⇒ delivered
  }
  if (result.changed) {
    const recipients = [...s.members.keys()].filter((id) => id !== userId);
    const seq = kind === "read" ? result.readSeq : result.deliveredSeq;
    out.push({
      type: "receipt",
      conversationId: s.conversationId,
      userId,
      kind,
      seq,
      at: s.now,
      recipients,
    });
  }
  if (replyTo !== undefined) out.push({ type: "ok", replyTo });
}

function inactive(s: ConversationState, replyTo: unknown): ConversationEffect {
  if (s.status === ConversationStatus.Missing) {
    return rejection(
      replyTo,
      ErrorCode.ConversationNotFound,
      `Conversation ${s.conversationId} does not exist`,
    );
  }
  // Loading (the shell should have buffered) or fenced: a retry reaches the new activation.
  return rejection(
    replyTo,
    ErrorCode.Unavailable,
    `Conversation ${s.conversationId} is ${s.status}`,
  );
}

function rejection(replyTo: unknown, code: ErrorCode, message: string): ConversationEffect {
  return { type: "reject", replyTo, code, temporary: errorInfo(code).temporary, message };
}

function acknowledgement(
  s: ConversationState,
  replyTo: unknown,
  clientMsgId: string,
  ack: RecentAck,
  duplicate: boolean,
): ConversationEffect {
  const { seq, messageId, createdAt } = ack;
  return {
    type: "ack",
    replyTo,
    conversationId: s.conversationId,
    clientMsgId,
    seq,
    messageId,
    createdAt,
    duplicate,
  };
}

/** Unambiguous for any strings: the sender id is length-prefixed. */
function sendKey(senderId: string, clientMsgId: string): string {
  return `${senderId.length}:${senderId}:${clientMsgId}`;
}

/** UTF-8 length without encoding (wire strings have no lone surrogates). */
function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // 2 bytes below U+0800, 3 above, 4 for a surrogate pair (2 code units x 2).
    if (c >= 0x80) bytes += c < 0x800 || (c >= 0xd800 && c < 0xe000) ? 1 : 2;
  }
  return bytes;
}

/** The refusal of a send whose `clientMsgId` already names a different message. */
function conflict(replyTo: unknown, clientMsgId: string): ConversationEffect {
  return rejection(replyTo, ErrorCode.ClientMsgIdConflict, conflictReason(clientMsgId));
}

function conflictReason(clientMsgId: string): string {
  return `client_msg_id ${clientMsgId} was already used by this sender for a different message`;
}

/**
 * A short fingerprint of a message's content (type, custom type, sizes, FNV-1a of text and
 * data): tells a true retry from a reused `clientMsgId` without keeping the content.
 */
export function contentDigest(content: MessageContent): string {
  const text = content.text ?? "";
  const data = content.data ?? new Uint8Array();
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  let d = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) d = Math.imul(d ^ data[i]!, 0x01000193);
  const custom = content.customType ?? "";
  return `${content.type}:${custom}:${text.length}:${data.length}:${(h >>> 0).toString(36)}:${
    (d >>> 0).toString(36)
  }`;
}
