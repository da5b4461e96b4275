/**
 * A load generator process of the `messages` suite. It connects its clients (pairs: client
 * `2k` and `2k + 1` are partners; each sends to the other), prints `{"type":"ready"}`, then
 * runs the phases the bench writes on stdin, one JSON {@link PhaseCommand} a line, and
 * answers each with one {@link PhaseReport} line on stdout.
 *
 * Every message carries its send time (`performance.now()` of this process) in its text, so
 * the recipient, in the same process, measures send → receive latency on the same clock.
 *
 * Modes:
 * - `flash`: `FlashConnection` over `tcp://` (reconnect off); a send is acked when its
 *   `SendAck` arrives (the message is durable), delivered when the partner's `MessageNotify`
 *   arrives;
 * - `raw`: `Deno.connect` to `raw_relay_server.ts`; acked on the relay's ack frame.
 *
 * Usage: `deno run -A bench/msg_generator.ts --mode flash --port 7100 --spec FILE`, where
 * FILE is JSON `{ "clients": [{ "id": "...", "token": "..." }, ...] }` (raw: ids are
 * integers as strings, no tokens; a client's optional `port` overrides `--port`). Exits when
 * stdin closes.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { ContentType, FlashConnection } from "../client/mod.ts";
import { encodeRawFrame, RawFrameDecoder, RawKind, RawWriter } from "./raw_relay_server.ts";

/** One client of the spec file. */
export interface GeneratorClient {
  readonly id: string;
  readonly token?: string;
  /** The port this client connects to (default: `--port`; a cluster spreads clients). */
  readonly port?: number;
}

/** A phase to run. */
export type PhaseCommand =
  | {
    readonly phase: "saturate";
    readonly tag: string;
    /** Sends in flight per client. */
    readonly window: number;
    readonly seconds: number;
    readonly drainMs: number;
  }
  | {
    readonly phase: "rate";
    readonly tag: string;
    /** Sends per second over all clients of this generator. */
    readonly perSecond: number;
    readonly seconds: number;
    readonly drainMs: number;
  };

/** What a generator answers to a phase. */
export interface PhaseReport {
  readonly type: "phase";
  readonly tag: string;
  readonly sent: number;
  readonly acked: number;
  readonly delivered: number;
  readonly failed: number;
  readonly ackedInWindow: number;
  readonly deliveredInWindow: number;
  readonly windowMs: number;
  /** Send → partner receive, ms, of every delivery (rate phase only), unsorted. */
  readonly latenciesMs: readonly number[];
  readonly errors: Readonly<Record<string, number>>;
  /** This process's CPU time over the phase, ms (user + system). */
  readonly cpuMs: number;
}

interface Client {
  /** Resolves on the ack. */
  send(text: string): Promise<void>;
  close(): void;
}

type OnDeliver = (text: string) => void;

async function flashClient(
  port: number,
  me: GeneratorClient,
  peer: GeneratorClient,
  onDeliver: OnDeliver,
): Promise<Client> {
  const conn = new FlashConnection({
    url: `tcp://127.0.0.1:${port}`,
    token: me.token!,
    deviceId: `bench-msg-${me.id}`,
    reconnect: false,
    maxInFlight: 4096,
  });
  conn.on("notify", (frame) => {
    if (frame.body !== "messageNotify") return;
    const message = frame.messageNotify!.message;
    if (message?.senderUserId !== peer.id) return;
    onDeliver(message.content?.text ?? "");
  });
  await conn.connect();
  let n = 0;
  return {
    send: async (text) => {
      await conn.sendMessage({
        peerUserId: peer.id,
        clientMsgId: `${me.id}-${n++}`,
        content: { type: ContentType.TEXT, text },
      }, { timeoutMs: 60_000 });
    },
    close: () => void conn.close().catch(() => {}),
  };
}

async function rawClient(
  port: number,
  me: GeneratorClient,
  peer: GeneratorClient,
  onDeliver: OnDeliver,
): Promise<Client> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.setNoDelay(true);
  const writer = new RawWriter(conn);
  const decoder = new RawFrameDecoder();
  const acks: (() => void)[] = [];
  let ackAt = 0;
  const text = new TextDecoder();
  const encoder = new TextEncoder();
  writer.write(encodeRawFrame(RawKind.Hello, Number(me.id), new Uint8Array(0)));
  void (async () => {
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const n = await conn.read(buffer);
        if (n === null) break;
        decoder.push(buffer.subarray(0, n), (kind, _peer, body) => {
          if (kind === RawKind.Ack) {
            acks[ackAt]!();
            acks[ackAt++] = undefined!;
            if (ackAt > 4096 && ackAt * 2 > acks.length) (acks.splice(0, ackAt), ackAt = 0);
          } else if (kind === RawKind.Message) onDeliver(text.decode(body));
        });
      }
    } catch { /* closed */ }
  })();
  const peerId = Number(peer.id);
  return {
    send: (body) =>
      new Promise<void>((resolve) => {
        acks.push(resolve);
        writer.write(encodeRawFrame(RawKind.Message, peerId, encoder.encode(body)));
      }),
    close: () => {
      try {
        conn.close();
      } catch { /* closed */ }
    },
  };
}

function reasonOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error).slice(0, 60);
  const code = (error as { code?: unknown }).code;
  return code === undefined ? error.name : `${error.name}(${code})`;
}

async function cpuMs(): Promise<number> {
  const stat = await Deno.readTextFile("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 (1-based), in clock ticks (100 Hz here).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function runPhase(
  command: PhaseCommand,
  clients: readonly Client[],
  state: { delivered: number; deliveredInWindow: number; latencies: number[]; tag: string },
): Promise<PhaseReport> {
  const cpu0 = await cpuMs();
  state.delivered = 0;
  state.deliveredInWindow = 0;
  state.latencies = [];
  state.tag = command.tag;
  let sent = 0, acked = 0, failed = 0, ackedInWindow = 0;
  let inWindow = true;
  const errors: Record<string, number> = {};
  const pending = new Set<Promise<void>>();
  const sendOne = (client: Client) => {
    sent++;
    const p: Promise<void> = client.send(`${command.tag}:${performance.now()}`).then(
      () => {
        acked++;
        if (inWindow) ackedInWindow++;
      },
      (error) => {
        failed++;
        const reason = reasonOf(error);
        errors[reason] = (errors[reason] ?? 0) + 1;
      },
    ).finally(() => pending.delete(p));
    pending.add(p);
    return p;
  };
  const t0 = performance.now();
  const end = t0 + command.seconds * 1000;
  if (command.phase === "saturate") {
    const loops = clients.flatMap((client) =>
      Array.from({ length: command.window }, async () => {
        while (performance.now() < end) await sendOne(client);
      })
    );
    await Promise.race([Promise.all(loops), sleep(command.seconds * 1000)]);
    inWindow = false;
    state.deliveredInWindow = state.delivered;
  } else {
    const perClient = command.perSecond / clients.length / 1000;
    const done = new Array<number>(clients.length).fill(0);
    while (true) {
      const now = performance.now();
      if (now >= end) break;
      const elapsed = now - t0;
      for (let i = 0; i < clients.length; i++) {
        // Client i's k-th send is due at (k - i / n) / rate: the clients are staggered.
        const due = Math.floor(elapsed * perClient + i / clients.length);
        while (done[i]! < due) (done[i]!++, void sendOne(clients[i]!));
      }
      await sleep(1);
    }
    inWindow = false;
    state.deliveredInWindow = state.delivered;
  }
  const windowMs = performance.now() - t0;
  // Bounded drain: every send answered, then every acked message delivered.
  const deadline = performance.now() + command.drainMs;
  while (pending.size > 0 && performance.now() < deadline) {
    await Promise.race([Promise.allSettled([...pending]), sleep(100)]);
  }
  while (state.delivered < acked && performance.now() < deadline) await sleep(5);
  return {
    type: "phase",
    tag: command.tag,
    sent,
    acked,
    delivered: state.delivered,
    failed,
    ackedInWindow,
    deliveredInWindow: state.deliveredInWindow,
    windowMs,
    latenciesMs: command.phase === "rate" ? state.latencies : [],
    errors,
    cpuMs: (await cpuMs()) - cpu0,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      mode: { type: "string" },
      port: { type: "string" },
      spec: { type: "string" },
    },
    strict: true,
  });
  const port = Number(values.port);
  const spec = JSON.parse(await Deno.readTextFile(values.spec!)) as {
    clients: GeneratorClient[];
  };
  const state = { delivered: 0, deliveredInWindow: 0, latencies: [] as number[], tag: "" };
  const onDeliver: OnDeliver = (text) => {
    const colon = text.indexOf(":");
    if (text.slice(0, colon) !== state.tag) return;
    state.delivered++;
    state.latencies.push(performance.now() - Number(text.slice(colon + 1)));
  };
  const make = values.mode === "raw" ? rawClient : flashClient;
  const clients = await Promise.all(spec.clients.map((me, i) => {
    const peer = spec.clients[i ^ 1]!;
    return make(me.port ?? port, me, peer, onDeliver);
  }));
  // Raw: wait until the relay has every hello (a frame to an unknown id is dropped).
  if (values.mode === "raw") await sleep(200);
  // One unmeasured message per pair first: it creates the conversation, so the phases
  // measure steady-state sends (and both partners' first sends do not race to create it).
  for (let i = 0; i < clients.length; i += 2) await clients[i]!.send("warmup:0");
  console.log(JSON.stringify({ type: "ready" }));
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let buffered = "";
  for await (const chunk of lines) {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line.trim() === "") continue;
      const report = await runPhase(JSON.parse(line) as PhaseCommand, clients, state);
      console.log(JSON.stringify(report));
    }
  }
  for (const client of clients) client.close();
  Deno.exit(0);
}

if (import.meta.main) await main();
