/**
 * flash-im's TypeScript client SDK: one {@link FlashConnection} per logged-in device, over
 * TCP or TLS (Deno) or WebSocket (Deno and browsers). It authenticates, correlates requests
 * and answers, keeps the connection alive with heartbeats and reconnects with backoff.
 *
 * Imports only `protocol/mod.ts` and web built-ins; the TCP/TLS transport (the one Deno
 * dependency) is loaded with a dynamic `import()` for `tcp:`/`tls:` URLs only. The protocol
 * names the API uses (`Frame`, `SendMessage`, `ErrorCode`, `CloseCode`, `u64`, ...) are
 * re-exported, so an application imports this module alone. `README.md` beside this file
 * lists the decisions (timers, reconnect rules, overflow policies).
 *
 * @example
 * ```ts
 * import { connect, ContentType, ServerError } from "./client/mod.ts";
 *
 * await using conn = await connect({
 *   url: "tcp://127.0.0.1:7100",
 *   token: () => refreshAccessToken(),
 *   deviceId: "laptop-1",
 * });
 * conn.on("notify", (frame) => {
 *   if (frame.body === "messageNotify") console.log(frame.messageNotify.message?.content?.text);
 * });
 * conn.on("open", ({ reconnected }) => reconnected && syncEverything(conn));
 * try {
 *   const ack = await conn.sendMessage({
 *     peerUserId: "42",
 *     clientMsgId: crypto.randomUUID(),
 *     content: { type: ContentType.TEXT, text: "hi" },
 *   });
 *   console.log(ack.seq?.toString());
 * } catch (error) {
 *   if (error instanceof ServerError && error.temporary) retryLater();
 * }
 * ```
 *
 * @module
 */

export { connect, FlashConnection } from "./connection.ts";
export { ChatClient } from "./chat_client.ts";
export type {
  ChatClientEvents,
  ChatClientOptions,
  ChatClientState,
  ChatMessageEvent,
  ChatPresenceEvent,
  ChatReceiptEvent,
  ChatSendOptions,
  ChatSendResult,
  ChatTarget,
  ChatTypingEvent,
} from "./chat_client.ts";
export type {
  CloseEvent,
  ConnectionEvents,
  ConnectionState,
  NotificationIterator,
  NotificationOptions,
  OpenEvent,
  OverflowPolicy,
  RequestBody,
  RequestOptions,
  Session,
  StateEvent,
} from "./connection_types.ts";
export type { ConnectionOptions, ReconnectOptions } from "./connection_options.ts";
export {
  AuthError,
  BackpressureError,
  ConnectionClosedError,
  RequestTimeoutError,
  ServerError,
  SlowConsumerError,
  TooManyInFlightError,
} from "./errors.ts";
export type {
  Transport,
  TransportCloseInfo,
  TransportFactory,
  TransportHandlers,
  TransportOptions,
} from "./transport.ts";
export { connectWebSocket } from "./ws_transport.ts";
// The protocol names the client API uses, so an application needs only this module.
export {
  CloseCode,
  closeInfo,
  ContentType,
  ErrorCode,
  errorInfo,
  FrameKind,
  PresenceStatus,
  ProtocolError,
  ReceiptKind,
  TypingState,
  u64,
  u64ToBigInt,
  u64ToSafeInteger,
  u64ToString,
} from "../protocol/mod.ts";
export type {
  ChatMessage,
  CloseInfo,
  Content,
  ConversationState,
  ErrorCategory,
  ErrorInfo,
  Frame,
  FrameInit,
  Long,
  MessageNotify,
  PresenceNotify,
  PullMessagesRequest,
  PullMessagesResponse,
  ReceiptNotify,
  SendAck,
  SendMessage,
  SyncRequest,
  SyncResponse,
  Typing,
  U64Like,
} from "../protocol/mod.ts";
