/**
 * The connection actor: one per client socket, location-bound to the worker that accepted
 * it, temporary (a crash closes the socket; the client reconnects). It runs the auth
 * handshake, answers heartbeats, rate-limits requests and passes authenticated requests
 * to the handlers the node wires in.
 *
 * @module
 */

import {
  CloseCode,
  closeInfo,
  errorBody,
  ErrorCode,
  type Frame,
  type FrameError,
  type FrameInit,
  FrameKind,
  type Long,
  MAX_ID_BYTES,
  PROTOCOL_VERSION,
  u64,
} from "../protocol/mod.ts";
import {
  type Actor,
  type ActorContext,
  type ActorRef,
  type Logger,
  refKey,
} from "../runtime/mod.ts";
import type { FrameSocket, SocketEvents } from "./frame_socket.ts";
import { TokenBucket } from "./token_bucket.ts";

/** Who a connection belongs to, from its verified token only. */
export interface Identity {
  readonly userId: string;
  /** The login session (refresh-token family) the access token was issued for. */
  readonly sessionId: string;
  readonly deviceId: string;
  /** This connection's id (its actor ref key), sent to the client as `AuthOk.session_id`. */
  readonly connectionId: string;
}

/** Why a token was refused, as the auth service reports it. */
export type TokenRefusal =
  | "malformed"
  | "expired"
  | "bad_signature"
  | "wrong_algorithm"
  | "unknown_key"
  | "invalid_claims"
  | "revoked";

/** Verifies access tokens (the auth service, injected). */
export interface TokenVerifier {
  verifyAccessToken(
    token: string,
  ): Promise<
    | {
      readonly ok: true;
      readonly claims: { readonly userId: string; readonly sessionId: string };
    }
    | { readonly ok: false; readonly reason: TokenRefusal }
  >;
}

/**
 * Handles an authenticated REQUEST and returns the RESPONSE (the frame's `id` and `kind`
 * are filled in), or `undefined` when it does not know the body. Later layers (chat,
 * sync, presence) plug in here.
 */
export type RequestHandler = (
  identity: Identity,
  frame: Frame,
  ctx: ActorContext,
) =>
  | Promise<FrameInit | typeof DEFERRED | undefined>
  | FrameInit
  | typeof DEFERRED
  | undefined;

/**
 * A handler's answer meaning "the RESPONSE comes later as a `push`" (e.g. a send answered
 * by the conversation actor once the message is durable), so requests can be pipelined.
 */
export const DEFERRED = "deferred" as const;

/** Handles an authenticated NOTIFY frame; there is no answer. */
export type NotifyHandler = (
  identity: Identity,
  frame: Frame,
  ctx: ActorContext,
) => Promise<void> | void;

/** Limits of one connection. */
export interface ConnectionLimits {
  readonly authTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly maxFrameSize: number;
  /** Requests per second and burst of the per-connection token bucket. */
  readonly ratePerSec: number;
  readonly rateBurst: number;
  /** Rate-limited requests in a row after which the connection is closed as a flood. */
  readonly floodStrikes: number;
}

/** Shared between a connection's actor, its socket and the gateway's sweep. */
export interface ConnectionEntry {
  readonly ref: ActorRef<ConnectionMessage>;
  readonly socket: FrameSocket;
  readonly acceptedAt: number;
  identity: Identity | undefined;
  /** Id of the last server PING (0: none outstanding). */
  pingId: number;
  closed: boolean;
}

/** What a connection's gateway provides. */
export interface ConnectionDeps {
  readonly verifier: TokenVerifier;
  readonly limits: ConnectionLimits;
  readonly logger: Logger;
  readonly now: () => number;
  readonly handleRequest?: RequestHandler;
  /** Handles an authenticated NOTIFY (no answer). */
  readonly handleNotify?: NotifyHandler;
  /** Whether a handler's failure is a backend outage (see `GatewayOptions.unavailable`). */
  readonly unavailable?: (error: unknown) => boolean;
  /** Called once the actor runs, once authenticated, and once closed. */
  readonly opened?: (entry: ConnectionEntry) => void;
  readonly authenticated?: (entry: ConnectionEntry) => void;
  readonly closed?: (entry: ConnectionEntry) => void;
}

/** The connection actor's messages. */
export type ConnectionMessage =
  | { readonly type: "frame"; readonly frame: Frame }
  | { readonly type: "badFrame"; readonly error: FrameError }
  | { readonly type: "ended"; readonly reason: string }
  /**
   * A frame for the client from elsewhere in the node (notifications, deferred answers),
   * or its encoding (`encodeFrameBody`; `response` then says whether it answers a request).
   */
  | {
    readonly type: "push";
    readonly frame: FrameInit | Uint8Array;
    readonly response?: boolean;
    readonly droppable?: boolean;
  }
  /**
   * Shutdown: refuse new requests (ShuttingDown, so the client retries elsewhere), answer
   * those already accepted, then close with the shutdown code.
   */
  | { readonly type: "drain" }
  /** Close the connection: kicks, timeouts, shutdown. */
  | {
    readonly type: "close";
    readonly code: CloseCode;
    readonly reason?: string;
    readonly errorCode?: ErrorCode;
  };

/** What the gateway passes to `spawn("conn", init)`. Same worker: not cloned. */
export interface ConnectionInit {
  readonly socket: FrameSocket;
  readonly deps: ConnectionDeps;
}

const REFUSAL_CODES: Record<TokenRefusal, ErrorCode> = {
  malformed: ErrorCode.AuthTokenMalformed,
  expired: ErrorCode.AuthTokenExpired,
  bad_signature: ErrorCode.AuthTokenBadSignature,
  wrong_algorithm: ErrorCode.AuthTokenWrongAlgorithm,
  unknown_key: ErrorCode.AuthTokenUnknownKey,
  invalid_claims: ErrorCode.AuthTokenClaimsInvalid,
  revoked: ErrorCode.AuthTokenRevoked,
};

const encoder = new TextEncoder();

/** Creates the connection actor (the `conn` kind's factory). */
export function createConnection(ref: ActorRef, init: unknown): Actor<ConnectionMessage> {
  return new Connection(ref as ActorRef<ConnectionMessage>, init as ConnectionInit);
}

/**
 * The actor is also its socket's event sink (no closures per connection: an idle
 * connection's memory is the budget this layer is measured by).
 */
class Connection implements Actor<ConnectionMessage>, SocketEvents {
  readonly #entry: ConnectionEntry;
  readonly #deps: ConnectionDeps;
  readonly #bucket: TokenBucket;
  #strikes = 0;
  #ctx: ActorContext | undefined;
  /** Requests accepted and answered later (a push RESPONSE answers each once). */
  #pending = 0;
  #draining = false;

  constructor(ref: ActorRef<ConnectionMessage>, init: ConnectionInit) {
    this.#deps = init.deps;
    const now = init.deps.now();
    this.#entry = {
      ref,
      socket: init.socket,
      acceptedAt: now,
      identity: undefined,
      pingId: 0,
      closed: false,
    };
    const { ratePerSec, rateBurst } = init.deps.limits;
    this.#bucket = new TokenBucket({ ratePerSec, burst: rateBurst }, now);
  }

  started(ctx: ActorContext): void {
    this.#ctx = ctx;
    this.#deps.opened?.(this.#entry);
    this.#entry.socket.start(this);
  }

  // Socket events arrive outside turns; they become messages so handling stays turn-based.

  frame(frame: Frame): void {
    if (!this.#entry.closed) this.#ctx!.tell(this.#entry.ref, { type: "frame", frame });
  }

  badFrame(error: FrameError): void {
    if (!this.#entry.closed) this.#ctx!.tell(this.#entry.ref, { type: "badFrame", error });
  }

  ended(reason: string): void {
    if (!this.#entry.closed) this.#ctx!.tell(this.#entry.ref, { type: "ended", reason });
  }

  stopped(): void {
    this.#entry.closed = true;
    // Whatever ended the connection, its descriptor goes with the actor.
    this.#entry.socket.destroy();
    this.#deps.closed?.(this.#entry);
  }

  async receive(message: ConnectionMessage, ctx: ActorContext): Promise<void> {
    if (this.#entry.closed) return;
    try {
      await this.#receive(message, ctx);
    } catch (error) {
      // A temporary actor is not restarted and gets no stop hook after a crash: release
      // the socket here, or its descriptor would leak.
      this.#deps.logger.log("error", "Connection failed", { ref: refKey(this.#entry.ref), error });
      this.#entry.closed = true;
      this.#entry.socket.destroy();
      this.#deps.closed?.(this.#entry);
      ctx.stop();
    }
  }

  async #receive(message: ConnectionMessage, ctx: ActorContext): Promise<void> {
    switch (message.type) {
      case "frame":
        try {
          await this.#onFrame(message.frame, ctx);
        } finally {
          this.#entry.socket.backlog.handled();
        }
        return;
      case "badFrame":
        return this.#close(ctx, CloseCode.BadFrame, {
          reason: message.error.message,
          errorCode: message.error.code as ErrorCode,
        });
      case "ended":
        this.#entry.closed = true;
        ctx.stop();
        return;
      case "push":
        if (!this.#entry.socket.send(message.frame)) {
          // Ephemeral pushes (typing) are dropped under pressure; losing anything else
          // means the client is too slow to be served.
          if (message.droppable) return;
          return this.#close(ctx, CloseCode.SlowConsumer, { drainMs: 0 });
        }
        if (
          (message.frame instanceof Uint8Array
            ? message.response === true
            : message.frame.kind === FrameKind.RESPONSE) && this.#pending > 0
        ) {
          this.#pending--;
          if (this.#draining && this.#pending === 0) return this.#closeDrained(ctx);
        }
        return;
      case "drain":
        this.#draining = true;
        if (this.#pending === 0) return this.#closeDrained(ctx);
        return;
      case "close":
        return this.#close(ctx, message.code, message);
    }
  }

  async #onFrame(frame: Frame, ctx: ActorContext): Promise<void> {
    const socket = this.#entry.socket;
    switch (frame.kind) {
      case FrameKind.PING:
        this.#send(ctx, { id: frame.id, kind: FrameKind.PONG });
        return;
      case FrameKind.PONG:
        this.#entry.pingId = 0;
        return;
      case FrameKind.RESPONSE:
        return; // the server sends no requests yet: nothing to match
    }
    if (frame.body === "close") {
      this.#entry.closed = true;
      await socket.close(CloseCode.Normal, { reason: "closed by client", drainMs: 200 });
      ctx.stop();
      return;
    }
    if (!this.#bucket.take(this.#deps.now())) return this.#rateLimited(frame, ctx);
    this.#strikes = 0;
    const identity = this.#entry.identity;
    if (identity === undefined) return this.#authenticate(frame, ctx);
    if (frame.kind === FrameKind.NOTIFY) {
      // One-way frames (typing, receipts sent as notifications): no answer either way.
      try {
        await this.#deps.handleNotify?.(identity, frame, ctx);
      } catch (error) {
        this.#deps.logger.log("error", "Notify handler failed", { body: frame.body, error });
      }
      return;
    }
    if (frame.kind !== FrameKind.REQUEST) return;
    if (frame.id.isZero()) {
      this.#reply(ctx, frame.id, errorBody(ErrorCode.InvalidRequestId));
      return;
    }
    if (frame.body === "auth") {
      this.#reply(ctx, frame.id, errorBody(ErrorCode.AlreadyAuthenticated));
      return;
    }
    if (this.#draining) {
      this.#reply(ctx, frame.id, errorBody(ErrorCode.ShuttingDown));
      return;
    }
    let response: FrameInit | typeof DEFERRED | undefined;
    try {
      response = await this.#deps.handleRequest?.(identity, frame, ctx);
    } catch (error) {
      const outage = this.#deps.unavailable?.(error) ?? false;
      this.#deps.logger.log(outage ? "warn" : "error", "Request handler failed", {
        connection: identity.connectionId,
        body: frame.body,
        error,
      });
      this.#reply(ctx, frame.id, errorBody(outage ? ErrorCode.Unavailable : ErrorCode.Internal));
      return;
    }
    if (response === DEFERRED) {
      this.#pending++;
      return;
    }
    if (response === undefined) {
      this.#reply(
        ctx,
        frame.id,
        errorBody(ErrorCode.UnsupportedBody, {
          message: `Unsupported request body: ${frame.body ?? "none"}`,
        }),
      );
      return;
    }
    this.#send(ctx, { ...response, id: frame.id, kind: FrameKind.RESPONSE });
  }

  async #authenticate(frame: Frame, ctx: ActorContext): Promise<void> {
    const auth = frame.body === "auth" && frame.kind === FrameKind.REQUEST ? frame.auth : undefined;
    if (auth === undefined || auth === null) {
      return this.#refuse(ctx, frame, ErrorCode.AuthRequired, CloseCode.AuthRequired);
    }
    if (auth.protocolVersion !== PROTOCOL_VERSION) {
      return this.#refuse(
        ctx,
        frame,
        ErrorCode.ProtocolVersionUnsupported,
        CloseCode.ProtocolUnsupported,
        {
          message:
            `Protocol version ${auth.protocolVersion} is not supported (server speaks ${PROTOCOL_VERSION})`,
        },
      );
    }
    const deviceBytes = encoder.encode(auth.deviceId ?? "").length;
    if (deviceBytes === 0 || deviceBytes > MAX_ID_BYTES) {
      return this.#refuse(ctx, frame, ErrorCode.DeviceIdInvalid, CloseCode.AuthFailed, {
        message: `Device id must be 1..${MAX_ID_BYTES} bytes, got ${deviceBytes}`,
      });
    }
    const verified = await this.#deps.verifier.verifyAccessToken(auth.accessToken ?? "");
    if (!verified.ok) {
      const close = verified.reason === "revoked" ? CloseCode.Revoked : CloseCode.AuthFailed;
      return this.#refuse(ctx, frame, REFUSAL_CODES[verified.reason], close, {
        message: `Access token refused: ${verified.reason}`,
      });
    }
    const self = ctx.self as { node: string; worker: number; local: number };
    const identity: Identity = {
      userId: verified.claims.userId,
      sessionId: verified.claims.sessionId,
      deviceId: auth.deviceId!,
      connectionId: `${self.node}/${self.worker}/${self.local}`,
    };
    this.#entry.identity = identity;
    const limits = this.#deps.limits;
    this.#send(ctx, {
      id: frame.id,
      kind: FrameKind.RESPONSE,
      authOk: {
        userId: identity.userId,
        sessionId: identity.connectionId,
        serverTimeMs: u64(Date.now()),
        heartbeatIntervalMs: limits.heartbeatIntervalMs,
        idleTimeoutMs: limits.idleTimeoutMs,
        maxFrameSize: limits.maxFrameSize,
        protocolVersion: PROTOCOL_VERSION,
      },
    });
    this.#deps.authenticated?.(this.#entry);
    this.#deps.logger.log("debug", "Connection authenticated", {
      connection: identity.connectionId,
      user: identity.userId,
      transport: this.#entry.socket.transport,
    });
  }

  #rateLimited(frame: Frame, ctx: ActorContext): Promise<void> | void {
    const limits = this.#deps.limits;
    if (++this.#strikes > limits.floodStrikes) {
      return this.#close(ctx, CloseCode.RateLimited, { errorCode: ErrorCode.RateLimited });
    }
    if (frame.kind === FrameKind.REQUEST) {
      this.#reply(
        ctx,
        frame.id,
        errorBody(ErrorCode.RateLimited, {
          retryAfterMs: this.#bucket.retryAfterMs(),
        }),
      );
    }
  }

  /** Answers a refused handshake with an Error, then closes with `closeCode`. */
  #refuse(
    ctx: ActorContext,
    frame: Frame,
    code: ErrorCode,
    closeCode: CloseCode,
    options: { message?: string } = {},
  ): Promise<void> {
    const isRequest = frame.kind === FrameKind.REQUEST && !frame.id.isZero();
    this.#entry.socket.send({
      id: isRequest ? frame.id : u64(0),
      kind: isRequest ? FrameKind.RESPONSE : FrameKind.NOTIFY,
      error: errorBody(code, options),
    });
    return this.#close(ctx, closeCode, { errorCode: code, reason: options.message });
  }

  #closeDrained(ctx: ActorContext): Promise<void> {
    return this.#close(ctx, CloseCode.ServerShutdown, { errorCode: ErrorCode.ShuttingDown });
  }

  #reply(ctx: ActorContext, id: Long, error: ReturnType<typeof errorBody>): void {
    this.#send(ctx, { id, kind: FrameKind.RESPONSE, error });
  }

  #send(ctx: ActorContext, frame: FrameInit): void {
    if (!this.#entry.socket.send(frame)) {
      // The client stopped reading: its queue is full. Close without waiting on it.
      void this.#close(ctx, CloseCode.SlowConsumer, { drainMs: 0 });
    }
  }

  async #close(
    ctx: ActorContext,
    code: CloseCode,
    options: { reason?: string; errorCode?: ErrorCode; drainMs?: number },
  ): Promise<void> {
    if (this.#entry.closed) return;
    this.#entry.closed = true;
    // Abuse and overload closes are what operators look for; routine ones stay at debug.
    const notable = code === CloseCode.SlowConsumer || code === CloseCode.RateLimited ||
      code === CloseCode.BadFrame;
    this.#deps.logger.log(
      notable ? "info" : "debug",
      `Closing connection: ${closeInfo(code).name}`,
      {
        connection: this.#entry.identity?.connectionId ?? refKey(this.#entry.ref),
        remote: this.#entry.socket.remote,
        code,
        errorCode: options.errorCode,
      },
    );
    await this.#entry.socket.close(code, options);
    ctx.stop();
  }
}
