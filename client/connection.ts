/**
 * {@link FlashConnection}: one logical client connection to a flash-im server over TCP, TLS
 * or WebSocket, with the `Auth` handshake, request/response correlation, heartbeats and
 * automatic reconnection. The tests, the benchmarks and the CLI all use it.
 *
 * Timers: one timer per connection. It is armed for the earliest of: the handshake
 * deadline (while connecting), the next PING, the dead-peer deadline, the earliest request
 * deadline (while open), or the next reconnect attempt. When it fires it sweeps the pending
 * requests (at most `maxInFlight`) and re-arms itself; a new request only moves it earlier.
 *
 * @module
 */

import {
  closeBody,
  CloseCode,
  closeInfo,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  errorBody,
  ErrorCode,
  type Frame,
  type FrameInit,
  FrameKind,
  PROTOCOL_VERSION,
  ProtocolError,
  type PullMessagesRequest,
  type PullMessagesResponse,
  type SendAck,
  type SendMessage,
  type SyncRequest,
  type SyncResponse,
  u64,
  u64ToSafeInteger,
} from "../protocol/mod.ts";
import { type Deferred, deferred } from "./_deferred.ts";
import {
  ABNORMAL_CLOSE,
  type Attempt,
  type CloseRecord,
  closeRecord,
  handshakeFailure,
} from "./_attempt.ts";
import { backoffDelay } from "./_backoff.ts";
import { Emitter } from "./_emitter.ts";
import { NotificationQueue } from "./_notification_queue.ts";
import { PendingRequests } from "./_pending.ts";
import {
  type ConnectionOptions,
  type ResolvedOptions,
  resolveOptions,
} from "./connection_options.ts";
import type {
  CloseEvent,
  ConnectionEvents,
  ConnectionState,
  NotificationIterator,
  NotificationOptions,
  RequestBody,
  RequestOptions,
  Session,
} from "./connection_types.ts";
import {
  AuthError,
  BackpressureError,
  ConnectionClosedError,
  RequestTimeoutError,
  ServerError,
  TooManyInFlightError,
} from "./errors.ts";
import type { Transport, TransportCloseInfo, TransportOptions } from "./transport.ts";
import { connectWebSocket } from "./ws_transport.ts";

function now(): number {
  return performance.now();
}

/**
 * A client connection. Make one, add listeners, then `connect()`; or use {@link connect}.
 * Bad options throw `TypeError`/`RangeError` from the constructor; see each method for
 * what it rejects with.
 *
 * - `request()` sends a REQUEST and resolves with the RESPONSE frame; an `Error` answer
 *   rejects with `ServerError`. Requests are never retried by the SDK.
 * - `notify()` sends a one-way frame; server NOTIFY frames arrive as `notify` events and
 *   through `notifications()`.
 * - After an unexpected close that allows it (network failure, or a close code whose
 *   `closeInfo(code).reconnect` is true), it reconnects with backoff, authenticates with a
 *   fresh token and emits `open` again with `reconnected: true`. The first `connect()` does
 *   not retry: it rejects.
 *
 * @example
 * ```ts
 * const conn = new FlashConnection({
 *   url: "wss://chat.example.com/ws",
 *   token: () => auth.freshAccessToken(),
 *   deviceId: "browser-7f3a",
 * });
 * conn.on("open", ({ reconnected }) => reconnected && resync(conn));
 * conn.on("notify", (frame) => inbox.push(frame));
 * const session = await conn.connect(); // AuthError, RequestTimeoutError, ...
 * const ack = await conn.sendMessage({
 *   peerUserId: "42",
 *   clientMsgId: crypto.randomUUID(),
 *   content: { type: ContentType.TEXT, text: `hello from ${session.userId}` },
 * });
 * await conn.close();
 * ```
 */
export class FlashConnection {
  readonly #options: ResolvedOptions;
  readonly #events = new Emitter<ConnectionEvents>();
  #state: ConnectionState = "idle";
  #attempt: Attempt | undefined;
  #session: Session | undefined;
  #everOpened = false;
  /** Failed attempts since the last open (the backoff exponent). */
  #failures = 0;
  #nextId = 1;
  readonly #pending = new PendingRequests();
  #heartbeatMs = DEFAULT_HEARTBEAT_INTERVAL_MS;
  #lastSentAt = 0;
  #lastReceivedAt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  #firstOpen: Deferred<Session> | undefined;
  #closing: Promise<void> | undefined;
  readonly #closed = deferred<CloseEvent>();
  #lastClose: CloseEvent | undefined;
  readonly #queues = new Set<NotificationQueue<Frame>>();

  /**
   * Checks the options; opens nothing until {@link connect}.
   *
   * @throws {TypeError} for a bad URL, scheme, token or device id.
   * @throws {RangeError} for a numeric option out of range.
   */
  constructor(options: ConnectionOptions) {
    this.#options = resolveOptions(options);
  }

  /** The current state. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** The latest `AuthOk` (kept after a close), or `undefined` before the first one. */
  get session(): Session | undefined {
    return this.#session;
  }

  /** The authenticated user id, once authenticated. */
  get userId(): string | undefined {
    return this.#session?.userId;
  }

  /** The server's session id, once authenticated. */
  get sessionId(): string | undefined {
    return this.#session?.sessionId;
  }

  /** Requests waiting for an answer. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /** Bytes queued in the current transport. */
  get bufferedBytes(): number {
    return this.#attempt?.transport?.bufferedBytes ?? 0;
  }

  /** Resolves with the final `close` event once the state is `closed`. Never rejects. */
  get closed(): Promise<CloseEvent> {
    return this.#closed.promise;
  }

  /** Adds an event listener; returns a function that removes it. */
  on<K extends keyof ConnectionEvents>(
    type: K,
    listener: (event: ConnectionEvents[K]) => void,
  ): () => void {
    return this.#events.on(type, listener);
  }

  /** Removes an event listener. */
  off<K extends keyof ConnectionEvents>(
    type: K,
    listener: (event: ConnectionEvents[K]) => void,
  ): void {
    this.#events.off(type, listener);
  }

  /** Resolves with the next event of `type` (rejects with `signal.reason` on abort). */
  once<K extends keyof ConnectionEvents>(
    type: K,
    signal?: AbortSignal,
  ): Promise<ConnectionEvents[K]> {
    return this.#events.once(type, signal);
  }

  /**
   * Opens the connection and authenticates; resolves with the session on `AuthOk`.
   * Rejects (and the connection is `closed`) with `AuthError` when the server refuses,
   * `RequestTimeoutError` when there is no answer within `requestTimeoutMs`,
   * `ConnectionClosedError` (with the network error as `cause`) when the connection fails,
   * and `TypeError` when called twice.
   */
  connect(): Promise<Session> {
    if (this.#state !== "idle") {
      return Promise.reject(new TypeError(`Cannot connect: the connection is ${this.#state}`));
    }
    this.#firstOpen = deferred();
    const opened = this.#firstOpen.promise;
    this.#startAttempt();
    return opened;
  }

  /**
   * Sends a REQUEST and resolves with the RESPONSE frame (narrow it with `frame.body`).
   *
   * Rejects with `ServerError` for an `Error` answer, `RequestTimeoutError` after the
   * deadline, `ConnectionClosedError` when the connection is not open or closes first,
   * `TooManyInFlightError` past `maxInFlight`, `BackpressureError` when the outbound queue
   * is full, `RangeError` for a frame over `maxFrameSize`.
   */
  request(body: RequestBody, options: RequestOptions = {}): Promise<Frame> {
    const transport = this.#usableTransport();
    if (!transport) return Promise.reject(this.#notOpen("send a request"));
    const max = this.#options.maxInFlight;
    if (this.#pending.size >= max) {
      return Promise.reject(
        new TooManyInFlightError(`Cannot send request: ${max} requests are in flight`, max),
      );
    }
    const timeoutMs = options.timeoutMs ?? this.#options.requestTimeoutMs;
    if (!(timeoutMs > 0)) {
      return Promise.reject(new RangeError(`Cannot use timeoutMs ${timeoutMs}: expected > 0`));
    }
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const id = this.#nextId++;
    let sent: boolean;
    try {
      sent = this.#send(transport, { ...body, id: u64(id), kind: FrameKind.REQUEST } as FrameInit);
    } catch (error) {
      return Promise.reject(error);
    }
    if (!sent) {
      const buffered = transport.bufferedBytes;
      return Promise.reject(
        new BackpressureError(`Cannot send request: ${buffered} bytes are queued`, buffered),
      );
    }
    const deadline = now() + timeoutMs;
    const answer = this.#pending.add(id, deadline, timeoutMs, signal);
    if (deadline < this.#timerAt) this.#armTimer(deadline);
    return answer;
  }

  /**
   * Sends a one-way NOTIFY frame (`{ typing: {...} }`, `{ readReceipt: {...} }`). Returns
   * `false` when it was not sent: the connection is not open or the queue is full.
   *
   * @throws {RangeError} for a frame over `maxFrameSize`.
   */
  notify(body: RequestBody): boolean {
    const transport = this.#usableTransport();
    if (!transport) return false;
    return this.#send(transport, { ...body, kind: FrameKind.NOTIFY } as FrameInit);
  }

  /**
   * Sends a message; resolves with its `SendAck` once it is durable. On a timeout or a
   * closed connection the outcome is unknown: resend with the same `clientMsgId`.
   * Rejects as {@link request}, and with `ProtocolError` for an answer of another kind.
   */
  async sendMessage(message: SendMessage, options?: RequestOptions): Promise<SendAck> {
    const frame = await this.request({ sendMessage: message }, options);
    if (frame.body !== "sendAck") throw unexpectedAnswer("sendAck", frame);
    return frame.sendAck;
  }

  /** Asks for changed conversations (`SyncRequest`); rejects as {@link sendMessage}. */
  async sync(request: SyncRequest, options?: RequestOptions): Promise<SyncResponse> {
    const frame = await this.request({ syncRequest: request }, options);
    if (frame.body !== "syncResponse") throw unexpectedAnswer("syncResponse", frame);
    return frame.syncResponse;
  }

  /** Fetches a page of messages; rejects as {@link sendMessage}. */
  async pullMessages(
    request: PullMessagesRequest,
    options?: RequestOptions,
  ): Promise<PullMessagesResponse> {
    const frame = await this.request({ pullMessagesRequest: request }, options);
    if (frame.body !== "pullMessagesResponse") {
      throw unexpectedAnswer("pullMessagesResponse", frame);
    }
    return frame.pullMessagesResponse;
  }

  /**
   * Iterates over server notifications from now on, across reconnects, until the
   * connection is closed (then the iteration ends after the buffered ones) or the loop
   * breaks. A slow consumer loses the oldest (default) or fails; see
   * {@link NotificationOptions}.
   *
   * @throws {RangeError} for a `bufferSize` below 1.
   */
  notifications(options: NotificationOptions = {}): NotificationIterator {
    const size = options.bufferSize ?? 1024;
    if (!Number.isSafeInteger(size) || size < 1) {
      throw new RangeError(`Cannot use bufferSize ${size}: expected an integer >= 1`);
    }
    const queue: NotificationQueue<Frame> = new NotificationQueue(
      size,
      options.overflow ?? "dropOldest",
      () => this.#queues.delete(queue),
    );
    if (this.#state === "closed") queue.end();
    else this.#queues.add(queue);
    return queue;
  }

  /**
   * Closes for good: sends `Close` (Normal), closes the transport, rejects pending
   * requests with `ConnectionClosedError` and stops reconnecting. Resolves once the socket
   * is released. Idempotent.
   */
  close(): Promise<void> {
    return this.#closing ??= this.#close();
  }

  /** Same as {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    if (this.#state === "closed") return;
    const attempt = this.#attempt;
    this.#attempt = undefined;
    const reason = "Closed by the client";
    if (attempt?.transport) {
      if (attempt.opened && !attempt.serverClose) {
        this.#send(attempt.transport, {
          kind: FrameKind.NOTIFY,
          close: closeBody(CloseCode.Normal, { reason }),
        });
      }
      attempt.transport.close(CloseCode.Normal, reason);
    } else {
      attempt?.abort.abort(new ConnectionClosedError(`Cannot connect: ${reason.toLowerCase()}`));
    }
    this.#finish({
      code: CloseCode.Normal,
      reason,
      errorCode: 0,
      retryAfterMs: 0,
      willReconnect: false,
      local: true,
    });
    await attempt?.released.promise;
  }

  #startAttempt(): void {
    const attempt: Attempt = {
      abort: new AbortController(),
      released: deferred(),
      authId: 0,
      opened: false,
    };
    this.#attempt = attempt;
    this.#setState("connecting");
    this.#armTimer(now() + this.#options.requestTimeoutMs);
    void this.#open(attempt);
  }

  async #open(attempt: Attempt): Promise<void> {
    const options = this.#options;
    const signal = attempt.abort.signal;
    let transport: Transport;
    let token: string;
    try {
      token = await abortable(Promise.resolve(options.token()), signal);
      if (typeof token !== "string" || token === "") {
        throw new TypeError("Cannot authenticate: the token function returned no token");
      }
      const transportOptions: TransportOptions = {
        maxFrameSize: options.maxFrameSize,
        maxBufferedBytes: options.maxBufferedBytes,
        caCerts: options.caCerts,
        signal,
      };
      transport = await (options.connectTransport ?? openTransport)(options.url, {
        onFrame: (frame) => this.#onFrame(attempt, frame),
        onClose: (info) => this.#onTransportClose(attempt, info),
      }, transportOptions);
    } catch (error) {
      attempt.released.resolve();
      if (attempt !== this.#attempt) return;
      const failure = attempt.failure ?? new ConnectionClosedError(
        `Cannot connect to ${options.url.href}: ${error instanceof Error ? error.message : error}`,
        ABNORMAL_CLOSE,
        { cause: error },
      );
      this.#attemptFailed(failure, true, 0);
      return;
    }
    attempt.transport = transport;
    if (attempt !== this.#attempt || signal.aborted) {
      transport.close(CloseCode.Normal, "Connection attempt abandoned");
      return;
    }
    this.#setState("authenticating");
    this.#lastReceivedAt = now();
    attempt.authId = this.#nextId++;
    this.#send(transport, {
      id: u64(attempt.authId),
      kind: FrameKind.REQUEST,
      auth: {
        accessToken: token,
        deviceId: options.deviceId,
        protocolVersion: PROTOCOL_VERSION,
        clientName: options.clientName,
        clientVersion: options.clientVersion,
      },
    });
  }

  #onFrame(attempt: Attempt, frame: Frame): void {
    if (attempt !== this.#attempt) return;
    this.#lastReceivedAt = now();
    const transport = attempt.transport;
    if (!transport) return;
    switch (frame.kind) {
      case FrameKind.PING:
        this.#send(transport, { id: frame.id, kind: FrameKind.PONG });
        return;
      case FrameKind.PONG:
        return; // receiving it was the point
      case FrameKind.RESPONSE:
        this.#onResponse(attempt, transport, frame);
        return;
      case FrameKind.NOTIFY:
        if (frame.body === "close") {
          attempt.serverClose = frame.close;
          transport.close(frame.close.code ?? CloseCode.Normal, frame.close.reason ?? "");
          return;
        }
        this.#events.emit("notify", frame);
        for (const queue of this.#queues) queue.push(frame);
        return;
      case FrameKind.REQUEST:
        this.#send(transport, {
          id: frame.id,
          kind: FrameKind.RESPONSE,
          error: errorBody(ErrorCode.UnsupportedBody, { message: "The client serves no requests" }),
        });
        return;
    }
  }

  #onResponse(attempt: Attempt, transport: Transport, frame: Frame): void {
    const id = u64ToSafeInteger(frame.id);
    if (!attempt.opened) {
      if (id !== attempt.authId || attempt.authId === 0) return;
      if (frame.body === "authOk") {
        this.#onAuthOk(attempt, frame.authOk);
      } else if (frame.body === "error") {
        attempt.authError = frame.error; // the server's Close and its closing follow
      } else {
        const message = `Cannot authenticate: the answer to Auth has body ${frame.body}`;
        attempt.authError = errorBody(ErrorCode.UnexpectedFrame, { message });
        transport.close(CloseCode.BadFrame, message);
      }
      return;
    }
    // An unknown id is a late answer to a request that timed out or was abandoned: ignored.
    if (id === undefined) return;
    if (frame.body === "error") this.#pending.fail(id, ServerError.fromBody(frame.error));
    else this.#pending.answer(id, frame);
  }

  #onAuthOk(attempt: Attempt, authOk: NonNullable<Frame["authOk"]>): void {
    attempt.opened = true;
    const session: Session = {
      userId: authOk.userId ?? "",
      sessionId: authOk.sessionId ?? "",
      serverTimeMs: u64ToSafeInteger(authOk.serverTimeMs) ?? 0,
      heartbeatIntervalMs: authOk.heartbeatIntervalMs ?? 0,
      idleTimeoutMs: authOk.idleTimeoutMs ?? 0,
      maxFrameSize: authOk.maxFrameSize ?? 0,
      protocolVersion: authOk.protocolVersion ?? 0,
    };
    this.#session = session;
    this.#heartbeatMs = this.#options.heartbeatIntervalMs ||
      session.heartbeatIntervalMs || DEFAULT_HEARTBEAT_INTERVAL_MS;
    const reconnected = this.#everOpened;
    this.#everOpened = true;
    this.#failures = 0;
    this.#setState("open");
    this.#armTimer(this.#lastSentAt + this.#heartbeatMs);
    // Settle connect() first: an `open` listener may close the connection right away.
    this.#firstOpen?.resolve(session);
    this.#firstOpen = undefined;
    this.#events.emit("open", { session, reconnected });
  }

  #onTransportClose(attempt: Attempt, info: TransportCloseInfo): void {
    attempt.released.resolve();
    if (attempt !== this.#attempt) return;
    const record = closeRecord(attempt, info);
    const shown = record.reason ? `${record.code} ${record.reason}` : `${record.code}`;
    this.#pending.rejectAll(
      new ConnectionClosedError(
        `Cannot get an answer: the connection closed (${shown})`,
        record.code,
        { cause: info.error },
      ),
    );
    if (!attempt.opened) {
      const { error, retry } = handshakeFailure(attempt, record, info);
      this.#attemptFailed(error, retry, record.retryAfterMs, record);
      return;
    }
    this.#attempt = undefined;
    const allowed = record.network || closeInfo(record.code).reconnect;
    const event: CloseEvent = {
      code: record.code,
      reason: record.reason,
      errorCode: record.errorCode,
      retryAfterMs: record.retryAfterMs,
      local: record.local,
      willReconnect: allowed && this.#mayRetry(),
      ...(info.error === undefined ? {} : { error: info.error }),
    };
    if (event.willReconnect) this.#scheduleReconnect(record.retryAfterMs, event);
    else this.#finish(event);
  }

  /** An attempt ended before `AuthOk`: retry with backoff, or give up. */
  #attemptFailed(
    error: unknown,
    retry: boolean,
    retryAfterMs: number,
    record?: CloseRecord,
  ): void {
    this.#attempt = undefined;
    // The first connect() fails fast: the caller sees the error and decides.
    if (this.#everOpened && retry && this.#mayRetry()) {
      this.#scheduleReconnect(retryAfterMs);
      return;
    }
    this.#finish({
      code: record?.code ?? ABNORMAL_CLOSE,
      reason: record?.reason ?? (error instanceof Error ? error.message : String(error)),
      errorCode: record?.errorCode ?? (error instanceof AuthError ? error.code : 0),
      retryAfterMs,
      local: record?.local ?? true,
      willReconnect: false,
      error,
    });
  }

  #mayRetry(): boolean {
    const policy = this.#options.reconnect;
    return policy.enabled && this.#failures < policy.maxAttempts;
  }

  #scheduleReconnect(retryAfterMs: number, event?: CloseEvent): void {
    const delay = Math.max(retryAfterMs, backoffDelay(this.#failures, this.#options.reconnect));
    this.#failures++;
    this.#setState("reconnecting");
    this.#armTimer(now() + delay);
    if (event) this.#events.emit("close", event);
  }

  /** Enters `closed` for good. */
  #finish(event: CloseEvent): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
    this.#pending.rejectAll(
      new ConnectionClosedError(
        `Cannot get an answer: the connection closed (${event.code} ${event.reason})`,
        event.code,
      ),
    );
    this.#lastClose = event;
    this.#setState("closed");
    this.#events.emit("close", event);
    for (const queue of this.#queues) queue.end();
    this.#queues.clear();
    const firstOpen = this.#firstOpen;
    this.#firstOpen = undefined;
    firstOpen?.reject(
      event.error ?? new ConnectionClosedError(`Cannot connect: ${event.reason}`, event.code),
    );
    this.#closed.resolve(event);
  }

  #armTimer(at: number): void {
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#onTimer(), Math.max(0, Math.ceil(at - now())));
  }

  #onTimer(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const attempt = this.#attempt;
    switch (this.#state) {
      case "reconnecting":
        this.#startAttempt();
        return;
      case "connecting":
      case "authenticating":
        if (attempt) this.#handshakeTimeout(attempt);
        return;
      case "open":
        if (attempt?.transport) this.#tick(attempt, attempt.transport);
        return;
    }
  }

  #handshakeTimeout(attempt: Attempt): void {
    const ms = this.#options.requestTimeoutMs;
    attempt.failure = new RequestTimeoutError(
      `Cannot connect to ${this.#options.url.href}: not authenticated within ${ms} ms`,
      ms,
    );
    if (attempt.transport) {
      attempt.localClose = {
        code: CloseCode.Normal,
        reason: attempt.failure.message,
        network: true,
      };
      attempt.transport.close(CloseCode.Normal, "Authentication timed out");
    } else {
      attempt.abort.abort(attempt.failure);
    }
  }

  /** Heartbeat and request deadlines, while open. */
  #tick(attempt: Attempt, transport: Transport): void {
    if (attempt.localClose || attempt.serverClose) return; // closing: the transport reports
    const t = now();
    const heartbeat = this.#heartbeatMs;
    if (t - this.#lastReceivedAt >= 2 * heartbeat) {
      const reason = `No frame received for ${Math.round(t - this.#lastReceivedAt)} ms`;
      attempt.localClose = { code: CloseCode.IdleTimeout, reason, network: true };
      this.#send(transport, {
        kind: FrameKind.NOTIFY,
        close: closeBody(CloseCode.IdleTimeout, { reason }),
      });
      transport.close(CloseCode.IdleTimeout, reason);
      return;
    }
    if (t - this.#lastSentAt >= heartbeat) {
      this.#send(transport, { id: u64(this.#nextId++), kind: FrameKind.PING });
      this.#lastSentAt = t; // also when the queue was full: the next try is one interval away
    }
    const next = Math.min(
      this.#lastSentAt + heartbeat,
      this.#lastReceivedAt + 2 * heartbeat,
      this.#pending.expire(t),
    );
    this.#armTimer(next);
  }

  #send(transport: Transport, frame: FrameInit): boolean {
    const sent = transport.send(frame);
    if (sent) this.#lastSentAt = now();
    return sent;
  }

  /** The transport, when the connection is open and not closing. */
  #usableTransport(): Transport | undefined {
    const attempt = this.#attempt;
    if (this.#state !== "open" || !attempt || attempt.localClose || attempt.serverClose) {
      return undefined;
    }
    return attempt.transport;
  }

  #notOpen(action: string): ConnectionClosedError {
    const state = this.#state === "open" ? "closing" : this.#state;
    return new ConnectionClosedError(
      `Cannot ${action}: the connection is ${state}`,
      this.#lastClose?.code ?? 0,
    );
  }

  #setState(state: ConnectionState): void {
    const previous = this.#state;
    if (previous === state) return;
    this.#state = state;
    this.#events.emit("state", { state, previous });
  }
}

/**
 * Makes a {@link FlashConnection} and connects it; resolves once authenticated.
 * Rejects as {@link FlashConnection.connect} (the connection is closed then); throws
 * `TypeError`/`RangeError` for bad options. Listeners added afterwards miss the first
 * `open` event: use the constructor and `connect()` when that matters.
 *
 * @example
 * ```ts
 * await using conn = await connect({ url: "tcp://127.0.0.1:7100", token, deviceId: "cli-1" });
 * const page = await conn.pullMessages({ conversationId: "g:9", limit: 50 });
 * ```
 */
export async function connect(options: ConnectionOptions): Promise<FlashConnection> {
  const connection = new FlashConnection(options);
  await connection.connect();
  return connection;
}

/** The default transports; TCP/TLS is loaded on demand so browsers never load Deno code. */
async function openTransport(
  url: URL,
  handlers: Parameters<typeof connectWebSocket>[1],
  options: TransportOptions,
): Promise<Transport> {
  if (url.protocol === "ws:" || url.protocol === "wss:") {
    return await connectWebSocket(url, handlers, options);
  }
  const { connectTcp } = await import("./tcp_transport.ts");
  return await connectTcp(url, handlers, options);
}

function unexpectedAnswer(expected: string, frame: Frame): ProtocolError {
  return new ProtocolError(
    ErrorCode.UnexpectedFrame,
    `Cannot read answer: expected ${expected}, got ${frame.body ?? "no body"}`,
  );
}

/** `promise`, or a rejection with `signal.reason` if `signal` aborts first. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  const { promise: aborted, reject } = deferred<never>();
  const onAbort = () => reject(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  return Promise.race([promise, aborted]).finally(() =>
    signal.removeEventListener("abort", onAbort)
  );
}
