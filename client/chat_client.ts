/**
 * {@link ChatClient}: the high-level chat API on top of {@link FlashConnection}. It sends
 * with idempotent retries, keeps a per-conversation position (the highest seq held without
 * gaps), delivers incoming messages in seq order exactly once (filling gaps with
 * `PullMessages`), and catches up with `Sync` on connect and on every reconnect.
 *
 * @module
 */

import {
  type ChatMessage,
  ContentType,
  type Frame,
  PresenceStatus,
  ReceiptKind,
  type SendAck,
  TypingState,
  u64,
  u64ToBigInt,
  u64ToSafeInteger,
  u64ToString,
} from "../protocol/mod.ts";
import { deferred } from "./_deferred.ts";
import { Emitter } from "./_emitter.ts";
import { FlashConnection } from "./connection.ts";
import type { ConnectionOptions } from "./connection_options.ts";
import {
  BackpressureError,
  ConnectionClosedError,
  RequestTimeoutError,
  ServerError,
  TooManyInFlightError,
} from "./errors.ts";

/** Where a message goes: a user (direct conversation) or an existing conversation. */
export type ChatTarget = { readonly userId: string } | { readonly conversationId: string };

/** Options of {@link ChatClient.send}. */
export interface ChatSendOptions {
  /** Deadline of each attempt, in ms (default: the connection's `requestTimeoutMs`). */
  timeoutMs?: number;
  /** Retries after the first attempt (default 5, at most 20). */
  retries?: number;
  /** Aborts the retries (an attempt in flight still completes on the server). */
  signal?: AbortSignal;
}

/** The result of {@link ChatClient.send}: the server's ack. */
export interface ChatSendResult {
  conversationId: string;
  seq: bigint;
  /** The server's message id (a decimal string). */
  messageId: string;
  clientMsgId: string;
  serverTimeMs: number;
  /** True when the ack answered a retry of an already stored message. */
  duplicate: boolean;
}

/** A message, delivered in seq order, once per (conversation, seq). */
export interface ChatMessageEvent {
  conversationId: string;
  seq: bigint;
  senderUserId: string;
  text: string;
  messageId: string;
  clientMsgId: string;
  serverTimeMs: number;
  /** Sent by this user (from this device or another one). */
  mine: boolean;
}

/** A member's delivered/read watermark moved. */
export interface ChatReceiptEvent {
  conversationId: string;
  userId: string;
  kind: "delivered" | "read";
  upToSeq: bigint;
  serverTimeMs: number;
}

/** A contact came online or went offline. */
export interface ChatPresenceEvent {
  userId: string;
  online: boolean;
  lastSeenMs: number;
}

/** Someone is typing (or stopped). */
export interface ChatTypingEvent {
  conversationId: string;
  userId: string;
  typing: boolean;
}

/** The events of {@link ChatClient}. */
export interface ChatClientEvents {
  message: ChatMessageEvent;
  receipt: ChatReceiptEvent;
  presence: ChatPresenceEvent;
  typing: ChatTypingEvent;
  /** A background sync or gap fill failed (it is retried on the next reconnect or gap). */
  error: { error: unknown; during: "sync" | "pull" };
}

/** What a client needs to resume without redelivering: see {@link ChatClient.snapshot}. */
export interface ChatClientState {
  /** The last `SyncResponse.next_cursor` fully processed (decimal string). */
  cursor: string;
  /** Conversation id -> highest seq delivered without gaps (decimal string). */
  conversations: Record<string, string>;
}

/** Options of {@link ChatClient}. */
export interface ChatClientOptions {
  /** Resume from a {@link ChatClient.snapshot} (default: nothing delivered yet). */
  state?: ChatClientState;
  /** Out-of-order messages kept per conversation while a gap is filled (default 1000). */
  maxBufferedPerConversation?: number;
  /** Messages per `PullMessages` page (default 200). */
  pullLimit?: number;
  /** Conversations per `Sync` page (default 100). */
  syncLimit?: number;
  /** Most `Sync` pages in one catch-up, and most pull pages per gap fill (default 1000). */
  maxPages?: number;
  /** First retry delay of `send`, doubled per retry (default 100 ms, at most 5 s). */
  retryDelayMs?: number;
}

interface ConversationState {
  /** Highest seq delivered without gaps. */
  delivered: bigint;
  /** Highest seq known to exist (from notifications, acks, sync, pulls). */
  latest: bigint;
  /** Out-of-order messages, by seq. */
  readonly buffer: Map<bigint, ChatMessage>;
  filling: boolean;
  fillAgain: boolean;
}

const MAX_RETRIES = 20;
const MAX_RETRY_DELAY_MS = 5000;

/**
 * The high-level chat client. Give it a {@link FlashConnection} (it is not closed by
 * {@link close}) or its options (the client owns and closes it), then `await connect()`.
 *
 * @example
 * ```ts
 * await using chat = new ChatClient({ url: "tcp://127.0.0.1:7100", token, deviceId: "cli" });
 * chat.on("message", (m) => console.log(m.conversationId, m.seq, m.text));
 * await chat.connect(); // authenticates, then syncs
 * const { seq } = await chat.send({ userId: "42" }, "hi");
 * ```
 */
export class ChatClient {
  /** The underlying connection. */
  readonly connection: FlashConnection;
  readonly #owned: boolean;
  readonly #events = new Emitter<ChatClientEvents>();
  readonly #conversations = new Map<string, ConversationState>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #abort = new AbortController();
  readonly #maxBuffered: number;
  readonly #pullLimit: number;
  readonly #syncLimit: number;
  readonly #maxPages: number;
  readonly #retryDelayMs: number;
  readonly #unsubscribe: (() => void)[] = [];
  #cursor = 0n;
  #syncing = false;
  #syncAgain = false;
  #closing: Promise<void> | undefined;

  /**
   * @throws {TypeError}/{RangeError} for bad connection options or a bad numeric option.
   */
  constructor(connection: FlashConnection | ConnectionOptions, options: ChatClientOptions = {}) {
    this.#owned = !(connection instanceof FlashConnection);
    this.connection = connection instanceof FlashConnection
      ? connection
      : new FlashConnection(connection);
    this.#maxBuffered = positive(
      "maxBufferedPerConversation",
      options.maxBufferedPerConversation,
      1000,
    );
    this.#pullLimit = positive("pullLimit", options.pullLimit, 200);
    this.#syncLimit = positive("syncLimit", options.syncLimit, 100);
    this.#maxPages = positive("maxPages", options.maxPages, 1000);
    this.#retryDelayMs = positive("retryDelayMs", options.retryDelayMs, 100);
    if (options.state) {
      this.#cursor = BigInt(options.state.cursor);
      for (const [id, seq] of Object.entries(options.state.conversations)) {
        const s = BigInt(seq);
        this.#conversation(id).delivered = s;
        this.#conversation(id).latest = s;
      }
    }
    this.#unsubscribe.push(
      this.connection.on("notify", (frame) => this.#onNotify(frame)),
      this.connection.on("open", ({ reconnected }) => {
        if (reconnected) this.#requestSync();
      }),
    );
  }

  /** Adds an event listener; returns a function that removes it. */
  on<K extends keyof ChatClientEvents>(
    type: K,
    listener: (event: ChatClientEvents[K]) => void,
  ): () => void {
    return this.#events.on(type, listener);
  }

  /** Removes an event listener. */
  off<K extends keyof ChatClientEvents>(
    type: K,
    listener: (event: ChatClientEvents[K]) => void,
  ): void {
    this.#events.off(type, listener);
  }

  /** Resolves with the next event of `type`. */
  once<K extends keyof ChatClientEvents>(
    type: K,
    signal?: AbortSignal,
  ): Promise<ChatClientEvents[K]> {
    return this.#events.once(type, signal);
  }

  /**
   * Connects (when the connection is still idle), then catches up with `Sync` and pulls;
   * resolves once the catch-up is done. Rejects as `FlashConnection.connect`.
   */
  async connect(): Promise<void> {
    if (this.connection.state === "idle") await this.connection.connect();
    await this.sync();
  }

  /** The highest seq delivered without gaps in `conversationId` (0 when unknown). */
  position(conversationId: string): bigint {
    return this.#conversations.get(conversationId)?.delivered ?? 0n;
  }

  /** The state to persist and pass as `options.state` to resume without redelivery. */
  snapshot(): ChatClientState {
    const conversations: Record<string, string> = {};
    for (const [id, c] of this.#conversations) conversations[id] = c.delivered.toString();
    return { cursor: this.#cursor.toString(), conversations };
  }

  /**
   * Sends a text message. One `clientMsgId` is made per call and reused by every retry,
   * so a retry after a lost ack returns the original ack (`duplicate: true`) instead of a
   * second copy; retries carry `resend: true` (a hint for the server's idempotency cache).
   * Retries (with exponential backoff) on a timeout, a closed or reconnecting
   * connection, backpressure and temporary server errors; other errors reject at once.
   */
  async send(to: ChatTarget, text: string, options: ChatSendOptions = {}): Promise<ChatSendResult> {
    const retries = options.retries ?? 5;
    if (!Number.isSafeInteger(retries) || retries < 0 || retries > MAX_RETRIES) {
      throw new RangeError(`Cannot use retries ${retries}: expected 0-${MAX_RETRIES}`);
    }
    const clientMsgId = crypto.randomUUID();
    const target = "userId" in to
      ? { peerUserId: to.userId }
      : { conversationId: to.conversationId };
    const message = { ...target, clientMsgId, content: { type: ContentType.TEXT, text } };
    for (let attempt = 0;; attempt++) {
      this.#checkOpen(options.signal);
      try {
        // Retries say so: the server may answer them from its idempotency cache.
        const body = attempt === 0 ? message : { ...message, resend: true };
        const ack = await this.connection.sendMessage(body, { timeoutMs: options.timeoutMs });
        return this.#onAck(ack, text);
      } catch (error) {
        if (attempt >= retries || !retryable(error) || this.connection.state === "closed") {
          throw error;
        }
        const retryAfter = error instanceof ServerError ? error.retryAfterMs : 0;
        const delay = Math.max(
          retryAfter,
          Math.min(MAX_RETRY_DELAY_MS, this.#retryDelayMs * 2 ** attempt),
        );
        await this.#pause(delay, options.signal, options.timeoutMs);
      }
    }
  }

  /** Tells the sender(s) the user has read `conversationId` up to `seq` (awaits the Ok). */
  async markRead(conversationId: string, seq: bigint | number): Promise<void> {
    await this.connection.request({ readReceipt: { conversationId, upToSeq: u64(seq) } });
  }

  /** Tells the server this device holds `conversationId` up to `seq` (awaits the Ok). */
  async markDelivered(conversationId: string, seq: bigint | number): Promise<void> {
    await this.connection.request({ deliveryAck: { conversationId, upToSeq: u64(seq) } });
  }

  /** Sends a typing indicator; `false` when it could not be sent (ephemeral anyway). */
  typing(conversationId: string, on: boolean): boolean {
    return this.connection.notify({
      typing: { conversationId, state: on ? TypingState.TYPING : TypingState.STOPPED },
    });
  }

  /**
   * Catches up now: `Sync` pages from the stored cursor, then pulls what is missing in
   * each changed conversation. A sync already running is re-run once after it ends.
   */
  sync(): Promise<void> {
    if (this.#syncing) {
      this.#syncAgain = true;
      return Promise.resolve();
    }
    return this.#track(this.#syncLoop());
  }

  /**
   * Stops: cancels retry waits, closes the connection when the client made it, and waits
   * for the background syncs and pulls to end. Idempotent.
   */
  close(): Promise<void> {
    return this.#closing ??= (async () => {
      this.#abort.abort(new ConnectionClosedError("Cannot continue: the chat client is closed"));
      for (const off of this.#unsubscribe) off();
      if (this.#owned) await this.connection.close();
      while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
      for (const c of this.#conversations.values()) c.buffer.clear();
    })();
  }

  /** Same as {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // --- internals ---

  #conversation(id: string): ConversationState {
    let c = this.#conversations.get(id);
    if (!c) {
      c = { delivered: 0n, latest: 0n, buffer: new Map(), filling: false, fillAgain: false };
      this.#conversations.set(id, c);
    }
    return c;
  }

  #checkOpen(signal?: AbortSignal): void {
    if (this.#abort.signal.aborted) throw this.#abort.signal.reason;
    if (signal?.aborted) throw signal.reason;
  }

  /** Waits `ms`, or until the connection is open again when it is reconnecting. */
  async #pause(ms: number, signal: AbortSignal | undefined, timeoutMs: number | undefined) {
    const state = this.connection.state;
    const waitOpen = state === "reconnecting" || state === "connecting" ||
      state === "authenticating";
    const signals = [this.#abort.signal, ...(signal ? [signal] : [])];
    const stop = AbortSignal.any(signals);
    const { promise, resolve, reject } = deferred<void>();
    const done = () => {
      clearTimeout(timer);
      stop.removeEventListener("abort", onAbort);
      offOpen?.();
    };
    const onAbort = () => {
      done();
      reject(stop.reason);
    };
    // While reconnecting, wait for `open` (bounded); otherwise just the backoff delay.
    const limit = waitOpen ? Math.max(ms, timeoutMs ?? 10_000) : ms;
    const timer = setTimeout(() => {
      done();
      resolve();
    }, limit);
    const offOpen = waitOpen
      ? this.connection.on("open", () => {
        done();
        resolve();
      })
      : undefined;
    if (stop.aborted) onAbort();
    else stop.addEventListener("abort", onAbort, { once: true });
    await promise;
  }

  #onAck(ack: SendAck, text: string): ChatSendResult {
    const result: ChatSendResult = {
      conversationId: ack.conversationId ?? "",
      seq: u64ToBigInt(ack.seq),
      messageId: u64ToString(ack.serverMsgId),
      clientMsgId: ack.clientMsgId ?? "",
      serverTimeMs: u64ToSafeInteger(ack.serverTimeMs) ?? 0,
      duplicate: ack.duplicate ?? false,
    };
    // The sending device gets no notification of its own message: deliver it from the ack.
    if (!this.#abort.signal.aborted && result.conversationId) {
      this.#accept({
        conversationId: result.conversationId,
        seq: ack.seq,
        serverMsgId: ack.serverMsgId,
        senderUserId: this.connection.userId ?? "",
        clientMsgId: result.clientMsgId,
        serverTimeMs: ack.serverTimeMs,
        content: { type: ContentType.TEXT, text },
      });
    }
    return result;
  }

  #onNotify(frame: Frame): void {
    if (this.#abort.signal.aborted) return;
    switch (frame.body) {
      case "messageNotify": {
        const message = frame.messageNotify.message;
        if (message?.conversationId) this.#accept(message);
        return;
      }
      case "receiptNotify": {
        const r = frame.receiptNotify;
        this.#events.emit("receipt", {
          conversationId: r.conversationId ?? "",
          userId: r.userId ?? "",
          kind: r.kind === ReceiptKind.READ ? "read" : "delivered",
          upToSeq: u64ToBigInt(r.upToSeq),
          serverTimeMs: u64ToSafeInteger(r.serverTimeMs) ?? 0,
        });
        return;
      }
      case "presenceNotify": {
        const p = frame.presenceNotify;
        this.#events.emit("presence", {
          userId: p.userId ?? "",
          online: p.status === PresenceStatus.ONLINE,
          lastSeenMs: u64ToSafeInteger(p.lastSeenMs) ?? 0,
        });
        return;
      }
      case "typing": {
        const t = frame.typing;
        this.#events.emit("typing", {
          conversationId: t.conversationId ?? "",
          userId: t.userId ?? "",
          typing: t.state === TypingState.TYPING,
        });
        return;
      }
    }
  }

  /** Takes a message from any source: delivers it in order, buffers it, or drops it. */
  #accept(message: ChatMessage): void {
    const c = this.#conversation(message.conversationId!);
    const seq = u64ToBigInt(message.seq);
    if (seq > c.latest) c.latest = seq;
    if (seq <= c.delivered || c.buffer.has(seq)) return; // already delivered or held
    if (seq === c.delivered + 1n) {
      this.#deliver(c, message);
      for (let next = c.buffer.get(c.delivered + 1n); next; next = c.buffer.get(c.delivered + 1n)) {
        c.buffer.delete(c.delivered + 1n);
        this.#deliver(c, next);
      }
      return;
    }
    // A gap: hold it (bounded) and pull what is missing.
    if (c.buffer.size >= this.#maxBuffered) c.buffer.clear();
    else c.buffer.set(seq, message);
    this.#fill(message.conversationId!, c);
  }

  #deliver(c: ConversationState, m: ChatMessage): void {
    c.delivered = u64ToBigInt(m.seq);
    const senderUserId = m.senderUserId ?? "";
    this.#events.emit("message", {
      conversationId: m.conversationId ?? "",
      seq: c.delivered,
      senderUserId,
      text: m.content?.text ?? "",
      messageId: u64ToString(m.serverMsgId),
      clientMsgId: m.clientMsgId ?? "",
      serverTimeMs: u64ToSafeInteger(m.serverTimeMs) ?? 0,
      mine: senderUserId !== "" && senderUserId === this.connection.userId,
    });
  }

  /** Starts a gap fill for `c` in the background, or asks the running one to go again. */
  #fill(id: string, c: ConversationState): void {
    if (c.filling) {
      c.fillAgain = true;
      return;
    }
    c.filling = true;
    void this.#track(
      this.#pullMissing(id, c).catch((error) => {
        if (!this.#abort.signal.aborted) this.#events.emit("error", { error, during: "pull" });
      }).finally(() => {
        c.filling = false;
      }),
    );
  }

  /** Pulls pages after the delivered position until nothing known is missing. */
  async #pullMissing(id: string, c: ConversationState): Promise<void> {
    for (let page = 0; page < this.#maxPages; page++) {
      c.fillAgain = false;
      if (this.#abort.signal.aborted) return;
      if (c.latest <= c.delivered && c.buffer.size === 0) return;
      const before = c.delivered;
      const response = await this.connection.pullMessages({
        conversationId: id,
        afterSeq: u64(before),
        limit: this.#pullLimit,
      });
      if (this.#abort.signal.aborted) return;
      const latest = u64ToBigInt(response.latestSeq);
      if (latest > c.latest) c.latest = latest;
      for (const m of response.messages ?? []) this.#accept({ ...m, conversationId: id });
      // No progress and nothing new to wait for: the rest is not stored (or not visible).
      if (c.delivered === before && !c.fillAgain) return;
    }
  }

  #requestSync(): void {
    if (this.#abort.signal.aborted) return;
    void this.sync().catch((error) => {
      if (!this.#abort.signal.aborted) this.#events.emit("error", { error, during: "sync" });
    });
  }

  async #syncLoop(): Promise<void> {
    this.#syncing = true;
    try {
      do {
        this.#syncAgain = false;
        for (let page = 0; page < this.#maxPages; page++) {
          if (this.#abort.signal.aborted) return;
          const response = await this.connection.sync({
            cursor: u64(this.#cursor),
            limit: this.#syncLimit,
          });
          const fills: Promise<void>[] = [];
          for (const state of response.conversations ?? []) {
            if (!state.conversationId) continue;
            const c = this.#conversation(state.conversationId);
            const latest = u64ToBigInt(state.latestSeq);
            if (latest > c.latest) c.latest = latest;
            if (c.latest > c.delivered && !c.filling) {
              c.filling = true;
              fills.push(
                this.#pullMissing(state.conversationId, c).finally(() => {
                  c.filling = false;
                }),
              );
            } else if (c.latest > c.delivered) {
              c.fillAgain = true;
            }
          }
          await Promise.all(fills);
          for (const state of response.conversations ?? []) {
            const c = this.#conversations.get(state.conversationId ?? "");
            if (c && c.latest > c.delivered) this.#fill(state.conversationId!, c);
          }
          // Store the cursor only once the page's conversations were pulled.
          const next = u64ToBigInt(response.nextCursor);
          if (next !== 0n || response.reset) this.#cursor = next;
          if (!response.hasMore) break;
        }
      } while (this.#syncAgain && !this.#abort.signal.aborted);
    } finally {
      this.#syncing = false;
    }
  }

  #track(task: Promise<void>): Promise<void> {
    this.#tasks.add(task);
    const untrack = () => {
      this.#tasks.delete(task);
    };
    task.then(untrack, untrack);
    return task;
  }
}

function retryable(error: unknown): boolean {
  if (error instanceof ServerError) return error.temporary;
  return error instanceof RequestTimeoutError || error instanceof ConnectionClosedError ||
    error instanceof TooManyInFlightError || error instanceof BackpressureError;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`Cannot use ${name} ${value}: expected an integer >= 1`);
  }
  return value;
}
