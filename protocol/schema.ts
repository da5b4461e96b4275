/**
 * The generated protobuf code of package `flashim.v1` (`gen/flash_im.js`, made by
 * `deno task gen:proto` from `flash_im.proto`), with short names for its types and enums.
 *
 * 64-bit integers are long.js {@link Long} values, unsigned, both when decoded and when
 * built (the code is generated with `--force-long`); see `u64.ts` for conversions. Message
 * types are the generated `$Properties` interfaces: plain objects whose fields are all
 * optional (absent = the proto3 default). A decoded message has every default filled in.
 *
 * @module
 */

import $protobuf from "protobufjs/minimal.js";
// @ts-types="./gen/flash_im.d.ts"
import { flashim } from "./gen/flash_im.js";

// protobufjs finds long.js (its own dependency) by `require`; without it uint64 fields would
// decode to lossy numbers. Fail at load rather than corrupt ids above 2^53.
if (!$protobuf.util.Long) {
  throw new Error("Cannot load the protocol: protobufjs found no long.js for 64-bit fields");
}

/** The generated message classes of `flashim.v1` (`encode`, `decode`, `toObject`, ...). */
export const pb: typeof flashim.v1 = flashim.v1;

/** An unsigned 64-bit integer as decoded (a long.js `Long`). */
export type Long = flashim.v1.Frame["id"];

/** A decoded frame; `body` names the one body field that is set, and narrows it. */
export type Frame = flashim.v1.Frame & flashim.v1.Frame.$Shape;
/** A frame to encode: a plain object with at most one body field. */
export type FrameInit = flashim.v1.Frame.$Shape;
/** The name of a frame body field (`"auth"`, `"sendMessage"`, ...). */
export type FrameBody = NonNullable<flashim.v1.Frame["body"]>;

/** `Frame.kind`: REQUEST 1, RESPONSE 2, NOTIFY 3, PING 4, PONG 5 (0 is invalid). */
export const FrameKind: typeof flashim.v1.Frame.Kind = flashim.v1.Frame.Kind;
/** `Frame.kind`. */
export type FrameKind = flashim.v1.Frame.Kind;
/** `Content.type`: TEXT 1, CUSTOM 2. */
export const ContentType: typeof flashim.v1.Content.Type = flashim.v1.Content.Type;
/** `Content.type`. */
export type ContentType = flashim.v1.Content.Type;
/** `ReceiptNotify.kind`: DELIVERED 1, READ 2. */
export const ReceiptKind: typeof flashim.v1.ReceiptNotify.Kind = flashim.v1.ReceiptNotify.Kind;
/** `ReceiptNotify.kind`. */
export type ReceiptKind = flashim.v1.ReceiptNotify.Kind;
/** `PresenceNotify.status`: ONLINE 1, OFFLINE 2. */
export const PresenceStatus: typeof flashim.v1.PresenceNotify.Status =
  flashim.v1.PresenceNotify.Status;
/** `PresenceNotify.status`. */
export type PresenceStatus = flashim.v1.PresenceNotify.Status;
/** `Typing.state`: TYPING 1, STOPPED 2. */
export const TypingState: typeof flashim.v1.Typing.State = flashim.v1.Typing.State;
/** `Typing.state`. */
export type TypingState = flashim.v1.Typing.State;

/** `Error` body (named so it does not shadow the global `Error`). */
export type ErrorBody = flashim.v1.Error.$Properties;
/** `Ok` body. */
export type Ok = flashim.v1.Ok.$Properties;
/** `Close` body. */
export type Close = flashim.v1.Close.$Properties;
/** `Auth` body. */
export type Auth = flashim.v1.Auth.$Properties;
/** `AuthOk` body. */
export type AuthOk = flashim.v1.AuthOk.$Properties;
/** `Content` of a chat message. */
export type Content = flashim.v1.Content.$Properties;
/** `SendMessage` body. */
export type SendMessage = flashim.v1.SendMessage.$Shape;
/** `SendAck` body. */
export type SendAck = flashim.v1.SendAck.$Properties;
/** A stored message (`ChatMessage`). */
export type ChatMessage = flashim.v1.ChatMessage.$Properties;
/** `MessageNotify` body. */
export type MessageNotify = flashim.v1.MessageNotify.$Properties;
/** `DeliveryAck` body. */
export type DeliveryAck = flashim.v1.DeliveryAck.$Properties;
/** `ReadReceipt` body. */
export type ReadReceipt = flashim.v1.ReadReceipt.$Properties;
/** `ReceiptNotify` body. */
export type ReceiptNotify = flashim.v1.ReceiptNotify.$Properties;
/** `ConversationCursor` (inside `SyncRequest`). */
export type ConversationCursor = flashim.v1.ConversationCursor.$Properties;
/** `SyncRequest` body. */
export type SyncRequest = flashim.v1.SyncRequest.$Properties;
/** `ConversationState` (inside `SyncResponse`). */
export type ConversationState = flashim.v1.ConversationState.$Properties;
/** `SyncResponse` body. */
export type SyncResponse = flashim.v1.SyncResponse.$Properties;
/** `PullMessagesRequest` body. */
export type PullMessagesRequest = flashim.v1.PullMessagesRequest.$Properties;
/** `PullMessagesResponse` body. */
export type PullMessagesResponse = flashim.v1.PullMessagesResponse.$Properties;
/** `PresenceNotify` body. */
export type PresenceNotify = flashim.v1.PresenceNotify.$Properties;
/** `Typing` body. */
export type Typing = flashim.v1.Typing.$Properties;
