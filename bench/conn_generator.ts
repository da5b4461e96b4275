/**
 * A load generator process of the `connections` suite: opens `--count` connections with at
 * most `--concurrency` in flight, holds them, and reports on stdout as JSON lines
 * ({@link GeneratorEvent}). The bench drives it through stdin, one command a line:
 *
 * - `start`: begin connecting (sent to every generator at once, after all are `ready`);
 * - `report`: answer with `held` (how many are still open, drops by reason).
 *
 * When stdin closes (the bench is done, or gone) the process exits at once and the kernel
 * closes its sockets. It also exits by itself after `--max-lifetime-s`.
 *
 * Modes:
 * - `flash`: the client SDK (`FlashConnection` over `tcp://`, reconnect off, heartbeat
 *   interval far beyond the hold), token `i` of the `--tokens` file (one per line) and
 *   device id `bench-<first + i>`; up = `AuthOk` received.
 * - `raw`: plain `Deno.connect` to `raw_conn_server.ts`; up = its one-byte greeting read.
 *   Then one pending read with a 4 KiB buffer per connection, as the SDK's transport has.
 *
 * Connection `i` (global index `first + i`) goes to `--host`, or with `--spread K` to
 * `127.0.0.<1 + floor(i / K)>` (the server then listens on 0.0.0.0): each (source,
 * destination) pair has only ~28k ephemeral ports, and the kernel's search for a free one
 * slows down well before they run out.
 * With `--ports P1,P2,...` (a cluster's nodes) connection `i` goes to port `P[i mod K]`.
 *
 * Usage: `deno run -A bench/conn_generator.ts --mode flash --port 5200 --first 0
 * --count 5000 [--concurrency 200] [--tokens FILE] [--host 127.0.0.1] [--spread 0]
 * [--ports P1,P2] [--timeout-ms 30000] [--max-lifetime-s 1800]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { AuthError, FlashConnection } from "../client/mod.ts";
import { RAW_GREETING, RAW_READ_BUFFER_BYTES } from "./raw_conn_server.ts";

/** What a generator prints, one JSON object per line. */
export type GeneratorEvent =
  | { readonly type: "ready" }
  | { readonly type: "progress"; readonly ok: number; readonly failed: number }
  | {
    readonly type: "up";
    readonly ok: number;
    readonly failed: number;
    /** Failures by reason (error class, code, cause). */
    readonly failures: Readonly<Record<string, number>>;
    /** Epoch ms (sub-ms precision) when the first connect started. */
    readonly firstStartMs: number;
    /** Epoch ms when the last connection came up (`AuthOk` or greeting). */
    readonly lastUpMs: number;
    /** Per-connection time from connect to up, ms, sorted ascending (sampled). */
    readonly latencySampleMs: readonly number[];
  }
  | {
    readonly type: "held";
    readonly open: number;
    /** Connections that closed after coming up, by reason. */
    readonly dropped: Readonly<Record<string, number>>;
  };

/** Generator modes. */
export const GeneratorMode = { Flash: "flash", Raw: "raw" } as const;
/** A generator mode. */
export type GeneratorMode = typeof GeneratorMode[keyof typeof GeneratorMode];

/** Most latencies kept for the `up` event (every k-th connection). */
const LATENCY_SAMPLES = 2000;

function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

function emit(event: GeneratorEvent): void {
  console.log(JSON.stringify(event));
}

/** A failure's reason: class, code, and the class and code of its cause. */
export function failureReason(error: unknown): string {
  if (error instanceof AuthError) return `AuthError(code ${error.code}, close ${error.closeCode})`;
  if (!(error instanceof Error)) return `non-error: ${String(error).slice(0, 60)}`;
  const code = (error as { code?: unknown }).code;
  let reason = code === undefined || code === "" ? error.name : `${error.name}(${code})`;
  if (error.cause !== undefined) reason += ` <- ${failureReason(error.cause)}`;
  return reason;
}

function count(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

interface Config {
  readonly mode: GeneratorMode;
  readonly host: string;
  readonly port: number;
  /** Several servers' ports, round robin by global index (empty: `port`). */
  readonly ports: readonly number[];
  readonly first: number;
  readonly count: number;
  readonly concurrency: number;
  readonly spread: number;
  readonly timeoutMs: number;
  readonly tokens: readonly string[];
}

/** Opens and holds the connections; `open` / `dropped` live while the process lives. */
class Fleet {
  ok = 0;
  failed = 0;
  open = 0;
  readonly failures = new Map<string, number>();
  readonly dropped = new Map<string, number>();
  readonly #config: Config;
  /** Strong references: a held connection must not be collected. */
  readonly #held: unknown[] = [];
  readonly #latencies: number[] = [];

  constructor(config: Config) {
    this.#config = config;
  }

  #host(i: number): string {
    const { spread, first, host } = this.#config;
    return spread > 0 ? `127.0.0.${1 + Math.floor((first + i) / spread)}` : host;
  }

  #port(i: number): number {
    const { ports, first, port } = this.#config;
    return ports.length > 0 ? ports[(first + i) % ports.length]! : port;
  }

  async run(): Promise<GeneratorEvent> {
    const { count: total, concurrency } = this.#config;
    const every = Math.max(1, Math.ceil(total / LATENCY_SAMPLES));
    let next = 0;
    let lastUpMs = 0;
    const firstStartMs = epochMs();
    const lane = async () => {
      while (next < total) {
        const i = next++;
        const started = performance.now();
        try {
          await this.#connect(i);
          this.ok++;
          this.open++;
          lastUpMs = Math.max(lastUpMs, epochMs());
          if (i % every === 0) this.#latencies.push(performance.now() - started);
        } catch (error) {
          this.failed++;
          count(this.failures, failureReason(error));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, total) }, lane));
    return {
      type: "up",
      ok: this.ok,
      failed: this.failed,
      failures: Object.fromEntries(this.failures),
      firstStartMs,
      lastUpMs: lastUpMs || epochMs(),
      latencySampleMs: this.#latencies.sort((a, b) => a - b),
    };
  }

  #connect(i: number): Promise<void> {
    return this.#config.mode === GeneratorMode.Flash ? this.#flash(i) : this.#raw(i);
  }

  async #flash(i: number): Promise<void> {
    const { tokens, first, timeoutMs } = this.#config;
    const conn = new FlashConnection({
      url: `tcp://${this.#host(i)}:${this.#port(i)}`,
      token: tokens[(first + i) % tokens.length]!,
      deviceId: `bench-${first + i}`,
      clientName: "flash-im-bench",
      requestTimeoutMs: timeoutMs,
      // Far beyond any hold: no PINGs while held, so only the connection itself is measured.
      heartbeatIntervalMs: 3_600_000,
      reconnect: false,
    });
    try {
      await conn.connect();
    } catch (error) {
      void conn.close().catch(() => {});
      throw error;
    }
    this.#held.push(conn);
    conn.on("close", (event) => {
      this.open--;
      count(this.dropped, `closed(code ${event.code}${event.local ? ", local" : ""})`);
    });
  }

  async #raw(i: number): Promise<void> {
    const { timeoutMs } = this.#config;
    const signal = AbortSignal.timeout(timeoutMs);
    const conn = await Deno.connect({ hostname: this.#host(i), port: this.#port(i), signal });
    const buffer = new Uint8Array(RAW_READ_BUFFER_BYTES);
    // Closing the socket is how a pending read is interrupted at the deadline.
    const timer = setTimeout(() => conn.close(), Math.max(1, timeoutMs - 1));
    let n: number | null;
    try {
      n = await conn.read(buffer);
    } catch (error) {
      throw new Error(`Cannot read the greeting: ${(error as Error).message}`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
    if (n !== 1 || buffer[0] !== RAW_GREETING) {
      try {
        conn.close();
      } catch { /* already closed */ }
      throw new Error(n === null ? "Server closed before the greeting" : "Bad greeting");
    }
    this.#held.push(conn);
    void this.#holdRaw(conn, buffer);
  }

  async #holdRaw(conn: Deno.Conn, buffer: Uint8Array): Promise<void> {
    let reason = "closed(eof)";
    try {
      while ((await conn.read(buffer)) !== null) { /* discard */ }
    } catch (error) {
      reason = `closed(${failureReason(error)})`;
    }
    this.open--;
    count(this.dropped, reason);
  }

  held(): GeneratorEvent {
    return { type: "held", open: this.open, dropped: Object.fromEntries(this.dropped) };
  }
}

async function* stdinLines(): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    let at: number;
    while ((at = rest.indexOf("\n")) >= 0) {
      yield rest.slice(0, at).trim();
      rest = rest.slice(at + 1);
    }
  }
}

function int(name: string, value: string | undefined, min: number): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) {
    throw new RangeError(`Invalid --${name}: ${value} is not an integer >= ${min}`);
  }
  return n;
}

async function readConfig(args: string[]): Promise<Config> {
  const { values } = parseArgs({
    args,
    options: {
      mode: { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string" },
      ports: { type: "string", default: "" },
      first: { type: "string", default: "0" },
      count: { type: "string" },
      concurrency: { type: "string", default: "200" },
      spread: { type: "string", default: "0" },
      "timeout-ms": { type: "string", default: "30000" },
      "max-lifetime-s": { type: "string", default: "1800" },
      tokens: { type: "string" },
    },
    strict: true,
  });
  const mode = values.mode as GeneratorMode;
  if (mode !== GeneratorMode.Flash && mode !== GeneratorMode.Raw) {
    throw new TypeError(`Invalid --mode: ${values.mode} is not flash or raw`);
  }
  let tokens: string[] = [];
  if (mode === GeneratorMode.Flash) {
    if (values.tokens === undefined) throw new TypeError("Missing --tokens for --mode flash");
    tokens = (await Deno.readTextFile(values.tokens)).split("\n").filter((t) => t !== "");
    if (tokens.length === 0) throw new RangeError(`No tokens in ${values.tokens}`);
  }
  const lifetime = int("max-lifetime-s", values["max-lifetime-s"], 1);
  Deno.unrefTimer(setTimeout(() => Deno.exit(3), lifetime * 1000));
  return {
    mode,
    host: values.host,
    port: int("port", values.port, 1),
    ports: values.ports === "" ? [] : values.ports.split(",").map((p) => int("ports", p, 1)),
    first: int("first", values.first, 0),
    count: int("count", values.count, 1),
    concurrency: int("concurrency", values.concurrency, 1),
    spread: int("spread", values.spread, 0),
    timeoutMs: int("timeout-ms", values["timeout-ms"], 1),
    tokens,
  };
}

async function main(): Promise<void> {
  const config = await readConfig(Deno.args);
  const fleet = new Fleet(config);
  // Loaded now, not by the first connect: module code is not a per-connection cost.
  if (config.mode === GeneratorMode.Flash) await import("../client/tcp_transport.ts");
  emit({ type: "ready" });
  let running: Promise<void> | undefined;
  for await (const line of stdinLines()) {
    if (line === "start" && running === undefined) {
      const ticker = setInterval(
        () => emit({ type: "progress", ok: fleet.ok, failed: fleet.failed }),
        200,
      );
      running = fleet.run().then((up) => {
        clearInterval(ticker);
        emit(up);
      });
    } else if (line === "report") {
      emit(fleet.held());
    }
  }
  Deno.exit(0);
}

if (import.meta.main) {
  try {
    await main();
  } catch (error) {
    console.error(`conn_generator: ${error instanceof Error ? error.message : error}`);
    Deno.exit(2);
  }
}
