/**
 * End-to-end harness: starts real flash-im node processes on free ports with their own
 * data directory, and speaks the wire protocol over raw sockets.
 *
 * @module
 */

import { FlashConnection } from "../client/mod.ts";
import { backendArgs, dropBackend } from "./backends.ts";
import { NODE_V8_FLAGS } from "../config.ts";
import { makeDevCert } from "../tools/dev_cert.ts";
import {
  encodeFrame,
  type Frame,
  FrameDecoder,
  type FrameInit,
  FrameKind,
  PROTOCOL_VERSION,
  u64,
} from "../protocol/mod.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/**
 * `count` distinct free TCP ports on 127.0.0.1. All are bound at once before any is
 * released, so the kernel cannot hand out the same port twice; another process may still
 * take one before the server binds it, which {@link startServer} retries.
 */
export function freePorts(count: number): number[] {
  const listeners = Array.from(
    { length: count },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((listener) => (listener.addr as Deno.NetAddr).port);
  for (const listener of listeners) listener.close();
  return ports;
}

/** A running node process. */
export interface TestServer extends AsyncDisposable {
  readonly tcpPort: number;
  readonly httpPort: number;
  readonly tlsPort: number | undefined;
  readonly caCert: string | undefined;
  readonly dataDir: string;
  readonly process: Deno.ChildProcess;
  readonly http: string;
  /** What the process printed on stderr so far (logs), for assertions and debugging. */
  stderr(): string;
  /** What it printed on stdout up to and including its "running with" banner. */
  readonly banner: string;
  /** Sends a signal and resolves with the exit status (bounded wait). */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/** Options of {@link startServer}. */
export interface StartOptions {
  readonly workers?: number;
  readonly tls?: boolean;
  /** Extra command-line flags. */
  readonly args?: readonly string[];
  /** Wrap the command (e.g. `["bash", "-c", "ulimit -n 256; exec \"$0\" \"$@\""]`). */
  readonly wrap?: readonly string[];
  readonly dataDir?: string;
  /** Fixed ports (to restart a node where its clients expect it). Default: free ports. */
  readonly ports?: { readonly tcp: number; readonly http: number };
}

/** Starts `main.ts` and resolves once it prints that it is running. */
export async function startServer(options: StartOptions = {}): Promise<TestServer> {
  for (let attempt = 1;; attempt++) {
    try {
      return await startOnce(options);
    } catch (error) {
      // A free port taken by another process between probing and binding: pick new ones.
      const portRace = options.ports === undefined && /already in use/i.test(String(error));
      if (!portRace || attempt === 3) throw error;
    }
  }
}

async function startOnce(options: StartOptions): Promise<TestServer> {
  const dataDir = options.dataDir ?? await Deno.makeTempDir({ prefix: "flash-im-e2e-" });
  const [freeTcp, freeHttp, freeTls] = freePorts(3);
  const tcpPort = options.ports?.tcp ?? freeTcp!;
  const httpPort = options.ports?.http ?? freeHttp!;
  let tlsPort: number | undefined;
  let caCert: string | undefined;
  const args = [
    "run",
    "--allow-all",
    // The same V8 flags as `deno task start`.
    `--v8-flags=${NODE_V8_FLAGS}`,
    MAIN,
    "--workers",
    String(options.workers ?? 2),
    "--data-dir",
    dataDir,
    "--tcp-port",
    String(tcpPort),
    "--http-port",
    String(httpPort),
    ...(await backendArgs(dataDir)),
    // Tests log many users in from one address; the limit tests pass their own (last wins).
    "--login-limit-address",
    "100000",
    ...(options.args ?? []),
  ];
  if (options.tls) {
    const cert = await makeDevCert(`${dataDir}/tls`, 2);
    tlsPort = freeTls!;
    caCert = await Deno.readTextFile(cert.caCert);
    args.push("--tls-port", String(tlsPort), "--tls-cert", cert.cert, "--tls-key", cert.key);
  }
  const [command, ...prefix] = options.wrap ?? [Deno.execPath()];
  const process = new Deno.Command(command!, {
    args: options.wrap ? [...prefix, Deno.execPath(), ...args] : args,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let errText = "";
  const errDone = process.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({
      write(chunk) {
        errText = (errText + chunk).slice(-256 * 1024);
      },
    }),
  ).catch(() => {});
  const reader = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  const deadline = Date.now() + 30_000;
  while (!out.includes("running with") && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
  }
  // Keep draining stdout so the child never blocks on a full pipe.
  const outDone = (async () => {
    try {
      while (!(await reader.read()).done) { /* discard */ }
    } catch { /* closed */ }
  })();
  let status: Promise<Deno.CommandStatus> | undefined;
  const server: TestServer = {
    tcpPort,
    httpPort,
    tlsPort,
    caCert,
    dataDir,
    process,
    http: `http://127.0.0.1:${httpPort}`,
    stderr: () => errText,
    banner: out,
    stop: async (signal: Deno.Signal = "SIGTERM") => {
      if (status === undefined) {
        try {
          process.kill(signal);
        } catch { /* already gone */ }
        const timer = setTimeout(() => {
          try {
            process.kill("SIGKILL");
          } catch { /* gone */ }
        }, 15_000);
        status = process.status.finally(() => clearTimeout(timer));
      }
      const result = await status;
      await Promise.all([errDone, outDone]);
      return result;
    },
    async [Symbol.asyncDispose]() {
      await server.stop("SIGKILL");
      if (options.dataDir === undefined) await removeDataDir(dataDir);
    },
  };
  if (!out.includes("running with")) {
    await server.stop("SIGKILL");
    if (options.dataDir === undefined) await removeDataDir(dataDir);
    throw new Error(`Server did not start (30 s).\nstdout: ${out}\nstderr: ${errText}`);
  }
  return server;
}

/**
 * Removes a node's data dir and, on real backends, its Postgres schema and Redis keys.
 * Tests that pass their own `dataDir` call this when done with it.
 */
export async function removeDataDir(dataDir: string): Promise<void> {
  await dropBackend(dataDir);
  await Deno.remove(dataDir, { recursive: true });
}

/** Registers `username` and logs in; returns the login's tokens. */
export async function userTokens(
  server: TestServer,
  username: string,
  deviceId = "test-device",
): Promise<{ accessToken: string; refreshToken: string; userId: string; sessionId: string }> {
  const password = "correct horse battery";
  const registered = await postJson(server, "/v1/auth/register", { username, password });
  if (registered.status !== 201) throw new Error(`register ${username}: ${registered.status}`);
  const login = await postJson(server, "/v1/auth/login", { username, password, deviceId });
  if (login.status !== 200) throw new Error(`login ${username}: ${login.status}`);
  return login.body as {
    accessToken: string;
    refreshToken: string;
    userId: string;
    sessionId: string;
  };
}

/** POSTs JSON and returns the status and parsed body. */
export async function postJson(
  server: TestServer,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${server.http}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/** A raw protocol connection over TCP or TLS: frames in, frames out, nothing hidden. */
export class RawConnection implements AsyncDisposable {
  readonly conn: Deno.Conn;
  #decoder = new FrameDecoder();
  #frames: Frame[] = [];
  #waiters: (() => void)[] = [];
  #ended = false;
  #reading: Promise<void>;
  #nextId = 1;
  #paused: PromiseWithResolvers<void> | undefined;
  /** The decoder error, if the server sent something undecodable. */
  error: string | undefined;

  private constructor(conn: Deno.Conn) {
    this.conn = conn;
    this.#reading = this.#read();
  }

  static async tcp(port: number): Promise<RawConnection> {
    return new RawConnection(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  static async tls(port: number, caCert: string): Promise<RawConnection> {
    return new RawConnection(
      await Deno.connectTls({ hostname: "localhost", port, caCerts: [caCert] }),
    );
  }

  /** True once the server closed the connection and every frame was taken. */
  get ended(): boolean {
    return this.#ended && this.#frames.length === 0;
  }

  async #read(): Promise<void> {
    const buffer = new Uint8Array(16 * 1024);
    try {
      while (true) {
        if (this.#paused) await this.#paused.promise;
        const n = await this.conn.read(buffer);
        if (n === null) break;
        const result = this.#decoder.push(buffer.subarray(0, n));
        this.#frames.push(...result.frames);
        if (!result.ok) this.error = result.error.message;
        this.#wake();
      }
    } catch { /* reset by peer or closed by us */ }
    this.#ended = true;
    this.#wake();
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** Stops reading from the socket (the kernel buffers fill up, as with a stuck client). */
  pause(): void {
    this.#paused ??= Promise.withResolvers<void>();
  }

  /** Reads again after {@link pause}. */
  resume(): void {
    this.#paused?.resolve();
    this.#paused = undefined;
  }

  /** Writes raw bytes. */
  async write(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) offset += await this.conn.write(bytes.subarray(offset));
  }

  /** Sends a frame (an id is assigned to REQUESTs and PINGs that have none). */
  async send(frame: FrameInit): Promise<number> {
    const id = frame.id !== undefined ? Number(frame.id) : this.#nextId++;
    await this.write(encodeFrame({ ...frame, id: u64(id) }));
    return id;
  }

  /** Sends the Auth request. */
  auth(token: string, options: { deviceId?: string; version?: number } = {}): Promise<number> {
    return this.send({
      kind: FrameKind.REQUEST,
      auth: {
        accessToken: token,
        deviceId: options.deviceId ?? "test-device",
        protocolVersion: options.version ?? PROTOCOL_VERSION,
        clientName: "e2e",
      },
    });
  }

  /** The next frame, or `undefined` when the server closed first. Bounded wait. */
  async next(timeoutMs = 5000): Promise<Frame | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.#frames.length === 0 && !this.#ended) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`No frame within ${timeoutMs} ms`);
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#waiters.push(resolve);
      const timer = setTimeout(resolve, left);
      await promise;
      clearTimeout(timer);
    }
    return this.#frames.shift();
  }

  /** Resolves when the server has closed the connection (bounded). */
  async closedByServer(timeoutMs = 5000): Promise<Frame[]> {
    const rest: Frame[] = [];
    while (true) {
      const frame = await this.next(timeoutMs);
      if (frame === undefined) return rest;
      rest.push(frame);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.resume();
    try {
      this.conn.close();
    } catch { /* already closed */ }
    await this.#reading;
  }
}

/** A logged-in device over TCP (no reconnect) and the NOTIFY frames it has received. */
export async function device(
  server: TestServer,
  user: { readonly accessToken: string },
  deviceId: string,
  transport: "tcp" | "ws" = "tcp",
): Promise<{ conn: FlashConnection; notes: Frame[] }> {
  const conn = new FlashConnection({
    url: transport === "tcp"
      ? `tcp://127.0.0.1:${server.tcpPort}`
      : `ws://127.0.0.1:${server.httpPort}/ws`,
    token: user.accessToken,
    deviceId,
    reconnect: false,
  });
  const notes: Frame[] = [];
  conn.on("notify", (frame) => notes.push(frame));
  await conn.connect();
  return { conn, notes };
}
