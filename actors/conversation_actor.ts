/**
 * The conversation actor's shell (`conv/<id>`, virtual): loads the conversation, feeds
 * the pure core ({@link stepConversation}) and carries out its effects: store writes (one
 * batch in flight, completions scheduled on the priority lane so they are never refused),
 * acks and refusals to the sending connection, fan-out to the members' user actors.
 *
 * With `deps.dedupe`, resent messages (`resend`) that the core does not remember are first
 * looked up in the shared idempotency cache (each lookup bounded by a deadline; a slow or
 * failing cache counts as a miss, so it never blocks or fails a send), and every newly stored
 * message's ack is put there (fire and forget, a bounded number in flight). The cache value
 * format is in `_ack_cache.ts`.
 *
 * @module
 */

import { FrameKind, u64 } from "../protocol/mod.ts";
import type { Actor, ActorContext, ActorRef, Logger } from "../runtime/mod.ts";
import { virtualRef } from "../runtime/mod.ts";
import type {
  AppendResult,
  MessageContent,
  MessageStore,
  SetWatermarkResult,
} from "../services/mod.ts";
import type { StoreMessage } from "./store_actor.ts";
import type { WriteBatcher } from "./write_batcher.ts";
import { AckCache, type AckCacheOptions } from "./_ack_cache.ts";
import { encodedPush, errorResponse, type PushMessage, type ReplyTo } from "./frames.ts";
import {
  type ConversationEffect,
  conversationIdle,
  type ConversationInput,
  type ConversationState,
  ConversationStatus,
  createConversationState,
  type SendPolicy,
  stepConversation,
} from "./conversation_state.ts";
import type { UserMessage } from "./user_actor.ts";

/** The conversation kind's name. */
export const CONVERSATION_KIND = "conv";

/** What the conversation actor needs. */
export interface ConversationDeps {
  readonly store: Pick<MessageStore, "load" | "appendBatch" | "setWatermark">;
  readonly logger: Logger;
  readonly now?: () => number;
  /** The node's store writer; without it the shell writes to `store` itself. */
  readonly writer?: ActorRef<StoreMessage>;
  /** Merges this worker's appends into one write per event-loop turn (group commit). */
  readonly batcher?: WriteBatcher;
  /** The idempotency cache for resent messages; without it only `recent` and the store dedupe. */
  readonly dedupe?: AckCacheOptions;
}

/** How long a write may take before the conversation treats it as failed. */
const WRITE_TIMEOUT_MS = 10_000;

/** Messages the conversation actor accepts from connections (through the chat handler). */
export type ConversationMessage =
  | {
    readonly type: "send";
    readonly senderId: string;
    readonly clientMsgId: string;
    readonly content: MessageContent;
    readonly policy: SendPolicy;
    readonly replyTo: ReplyTo;
    /** The frame's `resend` hint: the client retries after a lost or late ack. */
    readonly resend?: boolean;
  }
  | {
    readonly type: "watermark";
    readonly userId: string;
    readonly kind: "delivered" | "read";
    readonly seq: bigint;
    readonly replyTo?: ReplyTo;
  };

/** Completions the actor schedules for itself. */
type Completion = { readonly type: "completion"; readonly input: ConversationInput };

/** Creates conversation actors bound to `deps` (the kind's factory). */
export function conversationFactory(deps: ConversationDeps): (ref: ActorRef) => Actor<unknown> {
  const now = deps.now ?? Date.now;
  // One per factory (per worker): its bound on puts in flight covers every conversation.
  const acks = deps.dedupe === undefined ? undefined : new AckCache(deps.dedupe, deps.logger, now);
  const options = { cacheLookups: acks !== undefined };
  return (ref) => {
    const id = (ref as { id: string }).id;
    let state: ConversationState = createConversationState(id, {}, options);
    /**
     * Set once stopped: a late lookup answer is dropped (its sends were refused, or went with
     * the activation and their clients retry) instead of being scheduled on a dead actor.
     */
    let gone = false;
    const run = (ctx: ActorContext, input: ConversationInput) => {
      const step = stepConversation(state, input);
      state = step.state;
      for (const effect of step.effects) perform(ctx, effect);
    };
    const perform = (ctx: ActorContext, effect: ConversationEffect): void => {
      switch (effect.type) {
        case "lookup": {
          const { senderId, clientMsgId } = effect;
          // Lookups are on only with a cache (`options.cacheLookups`).
          acks!.lookup(senderId, clientMsgId).then(
            (ack) => {
              if (!gone) {
                complete(ctx, { type: "lookedUp", now: now(), senderId, clientMsgId, ack });
              }
            },
            (error) => {
              acks!.warn("Dedupe lookup failed; the send goes on as new", {
                conversation: id,
                error,
              });
              if (!gone) complete(ctx, { type: "lookupFailed", now: now(), senderId, clientMsgId });
            },
          );
          return;
        }
        case "remember":
          acks?.remember(effect.senderId, effect.clientMsgId, effect.ack);
          return;
        case "persist":
          write<AppendResult[]>(ctx, { type: "append", items: effect.items, now: effect.now }).then(
            (results) => complete(ctx, { type: "persisted", now: now(), results }),
            (error) => {
              deps.logger.log("error", "Message batch not stored", { conversation: id, error });
              complete(ctx, { type: "persistFailed", now: now(), message: String(error) });
            },
          );
          return;
        case "ack": {
          const to = effect.replyTo as ReplyTo;
          ctx.tell<PushMessage>(
            to.conn,
            encodedPush({
              id: u64(to.requestId),
              kind: FrameKind.RESPONSE,
              sendAck: {
                conversationId: effect.conversationId,
                seq: u64(effect.seq),
                serverMsgId: u64(effect.messageId),
                serverTimeMs: u64(effect.createdAt),
                clientMsgId: effect.clientMsgId,
                duplicate: effect.duplicate,
              },
            }),
          );
          return;
        }
        case "reject": {
          const to = effect.replyTo as ReplyTo;
          ctx.tell(to.conn, errorResponse(to.requestId, effect.code, effect.message));
          return;
        }
        case "ok": {
          const to = effect.replyTo as ReplyTo | undefined;
          if (to) {
            ctx.tell<PushMessage>(to.conn, {
              type: "push",
              frame: { id: u64(to.requestId), kind: FrameKind.RESPONSE, ok: {} },
            });
          }
          return;
        }
        case "fanout": {
          const origin = (effect.origin as ReplyTo | undefined)?.conn;
          for (const userId of effect.recipients) {
            ctx.tell<UserMessage>(virtualRef("user", userId), {
              type: "deliver",
              message: effect.message,
              // The sending device has the ack: only the sender's other devices are told.
              ...(userId === effect.message.senderId && origin ? { except: origin } : {}),
            });
          }
          return;
        }
        case "storeWatermark":
          write<SetWatermarkResult>(ctx, {
            type: "watermark",
            conversationId: effect.conversationId,
            userId: effect.userId,
            kind: effect.kind,
            seq: effect.seq,
            now: effect.now,
          })
            .then(
              (result) =>
                complete(ctx, {
                  type: "watermarkStored",
                  now: now(),
                  userId: effect.userId,
                  kind: effect.kind,
                  replyTo: effect.replyTo,
                  result,
                }),
              (error) => {
                deps.logger.log("error", "Watermark not stored", { conversation: id, error });
                complete(ctx, {
                  type: "watermarkFailed",
                  now: now(),
                  userId: effect.userId,
                  kind: effect.kind,
                  replyTo: effect.replyTo,
                });
              },
            );
          return;
        case "receipt":
          for (const userId of effect.recipients) {
            ctx.tell<UserMessage>(virtualRef("user", userId), {
              type: "receipt",
              conversationId: effect.conversationId,
              userId: effect.userId,
              kind: effect.kind,
              seq: effect.seq,
              at: effect.at,
            });
          }
          return;
        case "passivate":
          // A missing conversation stays resident and refuses (ConversationNotFound) until
          // a send finds it created: stopping would hand queued messages to a new
          // activation that finds it missing again, round and round.
          if (effect.reason === "not_found") return;
          deps.logger.log("info", "Conversation passivates", {
            conversation: id,
            reason: effect.reason,
          });
          ctx.stop();
          return;
      }
    };
    /**
     * Writes go to the node's one store writer (see store_actor.ts), or straight to the
     * store when none is configured (tests). A timed-out ask is reported as a failure; the
     * store's dedupe and seq checks make that safe even if the write happened.
     */
    const write = <R>(ctx: ActorContext, message: StoreMessage): Promise<R> => {
      if (deps.batcher !== undefined && message.type === "append") {
        return deps.batcher.append(message.items, message.now) as Promise<R>;
      }
      if (deps.writer === undefined) {
        return (message.type === "append"
          ? deps.store.appendBatch(message.items, message.now)
          : deps.store.setWatermark(
            message.conversationId,
            message.userId,
            message.kind,
            message.seq,
            message.now,
          )) as Promise<R>;
      }
      return ctx.ask<R, StoreMessage>(deps.writer, message, { timeoutMs: WRITE_TIMEOUT_MS });
    };
    const complete = (ctx: ActorContext, input: ConversationInput) => {
      if (!ctx.schedule({ type: "completion", input } satisfies Completion)) {
        // Only when the actor is gone or its priority lane is full: the write's outcome
        // cannot be applied, so the activation must not go on with a stale view.
        deps.logger.log("error", "Conversation lost a completion; stopping", { conversation: id });
        ctx.stop();
      }
    };
    return {
      // A write or lookup in flight, or sends waiting for one, are answered here before the move.
      canMove: () => conversationIdle(state),
      stopped() {
        gone = true;
      },
      async started(ctx) {
        // Conversations are created by the chat handler on a permitted send. A missing one
        // stays resident refusing with ConversationNotFound; a send makes it look again.
        const record = await deps.store.load(id);
        run(ctx, { type: "loaded", now: now(), record });
      },
      receive(message, ctx) {
        const m = message as ConversationMessage | Completion;
        if (m.type === "send" && state.status === ConversationStatus.Missing) {
          // The chat handler creates a conversation before its first send: look again
          // (an async turn only in this rare case; the hot path stays synchronous).
          return deps.store.load(id).then((record) => {
            if (record !== undefined) {
              state = createConversationState(id, {}, options);
              run(ctx, { type: "loaded", now: now(), record });
            }
            handle(ctx, m);
          });
        }
        handle(ctx, m);
        return undefined;
      },
    };
    function handle(ctx: ActorContext, m: ConversationMessage | Completion): void {
      switch (m.type) {
        case "completion":
          run(ctx, m.input);
          return;
        case "send":
          run(ctx, {
            type: "send",
            now: now(),
            senderId: m.senderId,
            clientMsgId: m.clientMsgId,
            content: m.content,
            replyTo: m.replyTo,
            policy: m.policy,
            resend: m.resend,
          });
          return;
        case "watermark":
          run(ctx, {
            type: "watermark",
            now: now(),
            userId: m.userId,
            kind: m.kind,
            seq: m.seq,
            replyTo: m.replyTo,
          });
          return;
      }
    }
  };
}
