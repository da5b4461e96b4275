/**
 * Test helpers: a scripted server peer on real sockets (TCP, TLS, WebSocket) that speaks
 * the wire protocol through `protocol/mod.ts`, so client tests drive the real SDK without
 * the real server. Private to `client/` tests.
 *
 * Every wait is bounded (default 2 s) and every resource is released by `close()`, so the
 * test sanitizers stay on.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import {
  type AuthOk,
  closeBody,
  type CloseCode,
  decodeFrameBody,
  encodeFrame,
  encodeFrameBody,
  type ErrorCode,
  type Frame,
  FrameDecoder,
  type FrameInit,
  FrameKind,
} from "../protocol/mod.ts";

/** Default bound of every wait, in ms. */
export const WAIT_MS = 2000;

/** Rejects with a timeout error if `promise` does not settle within `ms`. */
export async function within<T>(promise: Promise<T>, ms = WAIT_MS, what = "it"): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves after `ms` (a bounded pause, for "nothing happens" checks). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A FIFO whose `next()` waits (bounded) for the next item. */
export class Inbox<T> {
  #items: T[] = [];
  #waiters: { resolve: (v: T) => void; reject: (e: Error) => void }[] = [];
  #ended = false;

  push(item: T): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve(item);
    else this.#items.push(item);
  }

  end(): void {
    this.#ended = true;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(new Error("Inbox ended"));
  }

  get size(): number {
    return this.#items.length;
  }

  next(ms = WAIT_MS, what = "the next item"): Promise<T> {
    if (this.#items.length > 0) return Promise.resolve(this.#items.shift()!);
    if (this.#ended) return Promise.reject(new Error(`Inbox ended while waiting for ${what}`));
    const { promise, resolve, reject } = Promise.withResolvers<T>();
    const waiter = { resolve, reject };
    this.#waiters.push(waiter);
    return within(promise, ms, what).finally(() => {
      const at = this.#waiters.indexOf(waiter);
      if (at >= 0) this.#waiters.splice(at, 1);
    });
  }
}

/** One accepted client connection, seen from the server side. */
export interface PeerConn {
  /** Frames received from the client. */
  readonly frames: Inbox<Frame>;
  /** Resolves when the client side is gone (EOF or close). */
  readonly ended: Promise<void>;
  /** Sends one frame. */
  send(frame: FrameInit): Promise<void>;
  /** Sends raw bytes (TCP: stream bytes; WebSocket: one binary message). */
  sendRaw(bytes: Uint8Array): Promise<void>;
  /** Closes the socket (WebSocket: with `code`); resolves when it is released. */
  close(code?: number): Promise<void>;
}

/** A listening scripted peer. */
export interface Peer<C extends PeerConn = PeerConn> extends AsyncDisposable {
  /** The URL a client connects to. */
  readonly url: string;
  /** Connections accepted so far, in order. */
  readonly conns: Inbox<C>;
  /** How many connections were accepted. */
  readonly accepted: number;
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

class TcpPeerConn implements PeerConn {
  readonly frames = new Inbox<Frame>();
  readonly #conn: Deno.Conn;
  readonly #ended = Promise.withResolvers<void>();

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
    void this.#read();
  }

  get ended(): Promise<void> {
    return this.#ended.promise;
  }

  async #read(): Promise<void> {
    const decoder = new FrameDecoder();
    const buffer = new Uint8Array(65536);
    try {
      while (true) {
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        const result = decoder.push(buffer.subarray(0, n));
        for (const frame of result.frames) this.frames.push(frame);
        if (!result.ok) break;
      }
    } catch { /* closed */ }
    this.frames.end();
    this.#ended.resolve();
  }

  send(frame: FrameInit): Promise<void> {
    return this.sendRaw(encodeFrame(frame));
  }

  async sendRaw(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) offset += await this.#conn.write(bytes.subarray(offset));
  }

  close(): Promise<void> {
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    return this.ended;
  }
}

class WsPeerConn implements PeerConn {
  readonly frames = new Inbox<Frame>();
  readonly #socket: WebSocket;
  readonly #opened = Promise.withResolvers<void>();
  readonly #ended = Promise.withResolvers<void>();

  constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.binaryType = "arraybuffer";
    socket.onopen = () => this.#opened.resolve();
    socket.onmessage = (event) => {
      if (!(event.data instanceof ArrayBuffer)) return;
      const result = decodeFrameBody(new Uint8Array(event.data));
      if (result.ok) this.frames.push(result.frame);
    };
    socket.onclose = () => {
      this.#opened.resolve();
      this.frames.end();
      this.#ended.resolve();
    };
  }

  get ended(): Promise<void> {
    return this.#ended.promise;
  }

  send(frame: FrameInit): Promise<void> {
    return this.sendRaw(encodeFrameBody(frame));
  }

  /** Sends a text message (a protocol violation, for tests). */
  async sendText(text: string): Promise<void> {
    await within(this.#opened.promise);
    this.#socket.send(text);
  }

  async sendRaw(bytes: Uint8Array): Promise<void> {
    await within(this.#opened.promise);
    this.#socket.send(bytes);
  }

  async close(code = 1000): Promise<void> {
    await within(this.#opened.promise);
    if (this.#socket.readyState < WebSocket.CLOSING) this.#socket.close(code);
    await within(this.ended, WAIT_MS, "the WebSocket to close");
  }
}

/**
 * Listens on 127.0.0.1 (a free port): plain TCP, or TLS when `tls` names PEM files.
 * The URL is `tcp://127.0.0.1:port` or `tls://127.0.0.1:port` (the dev certificate
 * covers the IP).
 */
export function listenTcp(tls?: { cert: string; key: string }): Peer {
  const listener = tls
    ? Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: Deno.readTextFileSync(tls.cert),
      key: Deno.readTextFileSync(tls.key),
    })
    : Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const host = "127.0.0.1";
  const conns = new Inbox<PeerConn>();
  const all: PeerConn[] = [];
  const loop = (async () => {
    try {
      for await (const conn of listener) {
        const peer = new TcpPeerConn(conn);
        all.push(peer);
        conns.push(peer);
      }
    } catch { /* listener closed */ }
  })();
  const port = listener.addr.port;
  const close = async () => {
    try {
      listener.close();
    } catch { /* already closed */ }
    await loop;
    await Promise.all(all.map((conn) => conn.close()));
  };
  return {
    url: `${tls ? "tls" : "tcp"}://${host}:${port}`,
    conns,
    get accepted() {
      return all.length;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Serves WebSocket upgrades on `ws://127.0.0.1:port/ws`. */
export function listenWebSocket(): Peer<WsPeerConn> {
  const conns = new Inbox<WsPeerConn>();
  const all: WsPeerConn[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    if (request.headers.get("upgrade") !== "websocket") {
      return new Response("expected a WebSocket", { status: 426 });
    }
    const { socket, response } = Deno.upgradeWebSocket(request);
    const peer = new WsPeerConn(socket);
    all.push(peer);
    conns.push(peer);
    return response;
  });
  const close = async () => {
    await Promise.all(all.map((conn) => conn.close()));
    await server.shutdown();
  };
  return {
    url: `ws://127.0.0.1:${server.addr.port}/ws`,
    conns,
    get accepted() {
      return all.length;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Answers the client's `Auth` (which must be the next frame) with `AuthOk`; returns it. */
export async function acceptAuth(conn: PeerConn, authOk: AuthOk = {}): Promise<Frame> {
  const auth = await conn.frames.next(WAIT_MS, "Auth");
  if (auth.kind !== FrameKind.REQUEST || auth.body !== "auth") {
    throw new Error(`Expected an Auth request, got kind ${auth.kind} body ${auth.body}`);
  }
  await conn.send({
    id: auth.id,
    kind: FrameKind.RESPONSE,
    authOk: { userId: "42", sessionId: "session-1", protocolVersion: 1, ...authOk },
  });
  return auth;
}

/** Sends a NOTIFY `close` frame, then closes the socket. */
export async function closeWith(
  conn: PeerConn,
  code: CloseCode,
  options: { reason?: string; errorCode?: ErrorCode; retryAfterMs?: number } = {},
): Promise<void> {
  await conn.send({ kind: FrameKind.NOTIFY, close: closeBody(code, options) });
  await conn.close(code);
}

/** The next frame that is not a PING/PONG heartbeat. */
export async function nextNonHeartbeat(conn: PeerConn, ms = WAIT_MS): Promise<Frame> {
  while (true) {
    const frame = await conn.frames.next(ms, "a frame");
    if (frame.kind !== FrameKind.PING && frame.kind !== FrameKind.PONG) return frame;
  }
}

/** A dev CA and server certificate in a temporary folder, removed on dispose. */
export interface TestCerts extends AsyncDisposable {
  /** The CA certificate (PEM text), for `caCerts`. */
  readonly caPem: string;
  readonly cert: string;
  readonly key: string;
}

/**
 * Makes certificates with `tools/dev_cert.ts`, run as a process: `client/` may import only
 * `protocol/`, so the tool is used through its command line rather than imported.
 */
export async function makeTestCerts(): Promise<TestCerts> {
  const dir = await Deno.makeTempDir({ prefix: "flash-im-client-tls-" });
  const root = fileURLToPath(new URL("../", import.meta.url));
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-run=openssl", "tools/dev_cert.ts", dir],
    cwd: root,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!output.success) {
    await Deno.remove(dir, { recursive: true });
    throw new Error(`dev_cert.ts failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  return {
    caPem: await Deno.readTextFile(`${dir}/ca.crt`),
    cert: `${dir}/server.crt`,
    key: `${dir}/server.key`,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}
