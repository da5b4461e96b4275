/**
 * The store writer (`store/main`, virtual): the one place on a node where message batches
 * and watermarks are written. SQLite allows one writer at a time, and a worker waiting for
 * the write lock sleeps inside SQLite's busy handler with its whole event loop stopped; so
 * writes from every worker's conversations come here (placement puts it on one worker)
 * and never contend. Reads stay where they are: WAL readers do not wait for the writer.
 *
 * @module
 */

import type { Actor, ActorRef } from "../runtime/mod.ts";
import { virtualRef } from "../runtime/mod.ts";
import type {
  AppendItem,
  AppendResult,
  MessageStore,
  SetWatermarkResult,
} from "../services/mod.ts";

/** The store writer's kind name. */
export const STORE_KIND = "store";

/** The node's one store writer. */
export const STORE_WRITER: ActorRef<StoreMessage> = virtualRef<StoreMessage>(STORE_KIND, "main");

/** What the store writer does; each is asked, and answered with the store's result. */
export type StoreMessage =
  | { readonly type: "append"; readonly items: readonly AppendItem[]; readonly now: number }
  | {
    readonly type: "watermark";
    readonly conversationId: string;
    readonly userId: string;
    readonly kind: "delivered" | "read";
    readonly seq: bigint;
    readonly now: number;
  };

/** Answers of the store writer, by message type. */
export type StoreAnswer = AppendResult[] | SetWatermarkResult;

/** Creates store writers bound to a store (the kind's factory). */
export function storeWriterFactory(
  store: Pick<MessageStore, "appendBatch" | "setWatermark">,
): (ref: ActorRef) => Actor<StoreMessage> {
  return () => ({
    receive(message): Promise<StoreAnswer> {
      return message.type === "append"
        ? store.appendBatch(message.items, message.now)
        : store.setWatermark(
          message.conversationId,
          message.userId,
          message.kind,
          message.seq,
          message.now,
        );
    },
    // It holds nothing: passivating is always fine.
  });
}
