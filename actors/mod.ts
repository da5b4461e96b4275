/**
 * flash-im's domain actors. Each actor is a pure state core (`(state, input) => { state,
 * effects }`, tested without a runtime) plus a thin shell (mailbox, store calls, timers) that
 * interprets the effects.
 *
 * @example
 * ```ts
 * import { createConversationState, stepConversation } from "./mod.ts";
 *
 * let state = createConversationState("d:17:42");
 * ({ state } = stepConversation(state, { type: "loaded", now: Date.now(), record }));
 * const { effects } = stepConversation(state, {
 *   type: "send", now: Date.now(), senderId: "17", clientMsgId: "c1",
 *   content: { type: 1, text: "hi" }, replyTo: token,
 * });
 * for (const effect of effects) if (effect.type === "persist") await store.appendBatch(...);
 * ```
 *
 * @module
 */

export {
  /** Default bounds: `maxPending` 1024, `maxBatch` 256, `maxRecent` 4096, `maxWaiters` 8. */
  CONVERSATION_LIMITS,
  /** What the shell must do: persist, ack, reject, fanout, storeWatermark, receipt, ok, passivate. */
  type ConversationEffect,
  /**
   * Whether a conversation core has nothing in flight or pending (the shell may passivate).
   */
  conversationIdle,
  /** What the core reacts to: loaded, send, persisted, persistFailed, watermark(Stored/Failed). */
  type ConversationInput,
  /** Bounds of a conversation core (positive integers). */
  type ConversationLimits,
  /** The core's state: members and watermarks, seqs, in-flight batch, pending sends, recent acks. */
  type ConversationState,
  /** `loading`, `active`, `fenced` (another writer owns it), `missing`. */
  ConversationStatus,
  /** The outcome of a step: the (same, updated) state and the effects in order. */
  type ConversationStep,
  /** A conversation core waiting for `loaded`; `RangeError` for a limit that is not positive. */
  createConversationState,
  /** The ack data a retry of a recently stored message is answered with. */
  type RecentAck,
  /** One message on its way to the store, with the reply tokens waiting for its ack. */
  type SendEntry,
  /** The shell's decision whether a sender may send (`{ allowed: false, code, reason }`). */
  type SendPolicy,
  /** Applies one input to a conversation core (in place) and returns the effects to run. */
  stepConversation,
  /** A member's durable delivered/read watermarks. */
  type Watermarks,
} from "./conversation_state.ts";

export {
  /** Chat request handler (sends and receipts, answered later by the conversation actor). */
  chatHandler,
  type ChatHandlerOptions,
  type ChatIdentity,
  /** Chat NOTIFY handler (typing: forwarded, never stored, dropped under pressure). */
  chatNotifyHandler,
  /** The handler's "answer comes later as a push" result. */
  DEFERRED,
} from "./chat_handler.ts";
export {
  /** The conversation actor's kind name (`conv`). */
  CONVERSATION_KIND,
  type ConversationDeps,
  /** Conversation actor factory: loads, runs the core, performs its effects. */
  conversationFactory,
  type ConversationMessage,
} from "./conversation_actor.ts";
export {
  MAX_SESSIONS_PER_USER,
  USER_KIND,
  type UserDeps,
  /** User actor factory (live devices of one user, presence; pushes fan out to them). */
  userFactory,
  type UserMessage,
} from "./user_actor.ts";
export { encodedPush, pushedFrame, type PushMessage, type ReplyTo } from "./frames.ts";
export {
  /** The node's one store writer (`store/main`): message batches and watermarks. */
  STORE_KIND,
  STORE_WRITER,
  type StoreAnswer,
  type StoreMessage,
  storeWriterFactory,
} from "./store_actor.ts";
export {
  /** A histogram's counts at one moment (bounds, per-bucket counts, sum, count). */
  type HistogramSnapshot,
  MAX_MERGED_ITEMS,
  WriteBatcher,
  type WriteBatcherOptions,
} from "./write_batcher.ts";
export {
  /** The embedded node's login buckets (`limits/main`), shared by its workers. */
  LIMITS,
  LIMITS_KIND,
  limitsBucket,
  limitsFactory,
  type LimitsMessage,
} from "./limits_actor.ts";
