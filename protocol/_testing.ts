/**
 * Test helpers for the protocol layer: a seeded PRNG and random frames covering every body.
 *
 * @module
 */

import { type FrameInit, FrameKind, pb } from "./schema.ts";
import { u64 } from "./u64.ts";

/** mulberry32: a small, fast, seeded PRNG; `next()` is uniform in [0, 1). */
export class Prng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)];
  }

  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.int(0, 255);
    return out;
  }

  /** A uint64 anywhere in 0..2^64-1, small values more likely. */
  u64(): ReturnType<typeof u64> {
    const bits = this.pick([0, 7, 32, 53, 64]);
    let value = 0n;
    for (let i = 0; i < bits; i++) value = (value << 1n) | BigInt(this.int(0, 1));
    return u64(value);
  }

  /** A string mixing ASCII, accents, CJK and astral characters. */
  text(maxLength: number): string {
    const alphabet = ["a", "Z", "0", " ", "é", "ß", "中", "文", "😀", "🎉", "\n", '"'];
    let out = "";
    const length = this.int(0, maxLength);
    for (let i = 0; i < length; i++) out += this.pick(alphabet);
    return out;
  }
}

/** One frame of each body, plus PING/PONG; `size` bounds the random strings and bytes. */
export function randomFrame(rng: Prng, size = 64): FrameInit {
  const id = rng.u64();
  const s = () => rng.text(size);
  const content = () =>
    rng.next() < 0.5
      ? { type: pb.Content.Type.TEXT, text: s() }
      : { type: pb.Content.Type.CUSTOM, data: rng.bytes(rng.int(0, size)), customType: s() };
  const message = () => ({
    conversationId: s(),
    seq: rng.u64(),
    serverMsgId: rng.u64(),
    senderUserId: s(),
    clientMsgId: s(),
    serverTimeMs: rng.u64(),
    content: content(),
  });
  const { REQUEST, RESPONSE, NOTIFY, PING, PONG } = FrameKind;
  switch (rng.int(0, 19)) {
    case 0:
      return { id, kind: PING };
    case 1:
      return { id, kind: PONG };
    case 2:
      return {
        id,
        kind: REQUEST,
        auth: {
          accessToken: s(),
          deviceId: s(),
          protocolVersion: rng.int(0, 3),
          clientName: s(),
          clientVersion: s(),
        },
      };
    case 3:
      return {
        id,
        kind: RESPONSE,
        authOk: {
          userId: s(),
          sessionId: s(),
          serverTimeMs: rng.u64(),
          heartbeatIntervalMs: rng.int(0, 2 ** 32 - 1),
          idleTimeoutMs: rng.int(0, 90_000),
          maxFrameSize: rng.int(0, 2 ** 20),
          protocolVersion: 1,
        },
      };
    case 4:
      return {
        id,
        kind: REQUEST,
        sendMessage: rng.next() < 0.5
          ? { peerUserId: s(), clientMsgId: s(), content: content() }
          : { conversationId: s(), clientMsgId: s(), content: content() },
      };
    case 5:
      return {
        id,
        kind: RESPONSE,
        sendAck: {
          conversationId: s(),
          seq: rng.u64(),
          serverMsgId: rng.u64(),
          serverTimeMs: rng.u64(),
          clientMsgId: s(),
          duplicate: rng.next() < 0.5,
        },
      };
    case 6:
      return { id, kind: NOTIFY, messageNotify: { message: message() } };
    case 7:
      return { id, kind: NOTIFY, deliveryAck: { conversationId: s(), upToSeq: rng.u64() } };
    case 8:
      return { id, kind: REQUEST, readReceipt: { conversationId: s(), upToSeq: rng.u64() } };
    case 9:
      return {
        id,
        kind: NOTIFY,
        receiptNotify: {
          conversationId: s(),
          userId: s(),
          kind: rng.int(0, 2),
          upToSeq: rng.u64(),
          serverTimeMs: rng.u64(),
        },
      };
    case 10: {
      const known = Array.from(
        { length: rng.int(0, 4) },
        () => ({ conversationId: s(), seq: rng.u64() }),
      );
      return {
        id,
        kind: REQUEST,
        syncRequest: { cursor: rng.u64(), known, limit: rng.int(0, 500) },
      };
    }
    case 11: {
      const conversations = Array.from({ length: rng.int(0, 4) }, () => ({
        conversationId: s(),
        latestSeq: rng.u64(),
        readSeq: rng.u64(),
        updatedMs: rng.u64(),
      }));
      return {
        id,
        kind: RESPONSE,
        syncResponse: {
          conversations,
          nextCursor: rng.u64(),
          hasMore: rng.next() < 0.5,
          reset: rng.next() < 0.1,
        },
      };
    }
    case 12:
      return {
        id,
        kind: REQUEST,
        pullMessagesRequest: {
          conversationId: s(),
          afterSeq: rng.u64(),
          beforeSeq: rng.u64(),
          limit: rng.int(0, 100),
        },
      };
    case 13:
      return {
        id,
        kind: RESPONSE,
        pullMessagesResponse: {
          conversationId: s(),
          messages: Array.from({ length: rng.int(0, 3) }, message),
          hasMore: rng.next() < 0.5,
          latestSeq: rng.u64(),
        },
      };
    case 14:
      return {
        id,
        kind: NOTIFY,
        presenceNotify: { userId: s(), status: rng.int(0, 2), lastSeenMs: rng.u64() },
      };
    case 15:
      return {
        id,
        kind: NOTIFY,
        typing: { conversationId: s(), state: rng.int(0, 2), userId: s() },
      };
    case 16:
      return { id, kind: NOTIFY, close: { code: 4007, reason: s(), errorCode: 2008 } };
    case 17:
      return {
        id,
        kind: RESPONSE,
        error: { code: rng.int(1000, 5999), message: s(), temporary: true, retryAfterMs: 250 },
      };
    case 18:
      return { id, kind: RESPONSE, ok: {} };
    default:
      return { id, kind: rng.pick([REQUEST, RESPONSE, NOTIFY]) };
  }
}

/** Concatenates byte arrays. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Lower-case hex with no separators. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
