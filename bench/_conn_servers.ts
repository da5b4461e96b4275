/**
 * The two servers of the `connections` suite, each a fresh child process per measurement
 * (Deno keeps most of its RSS after connections close, so a process is never reused):
 * a flash-im node (`main.ts`, through the e2e harness) and the raw baseline
 * (`raw_conn_server.ts`). Plus the accounts and access tokens the node's connections use.
 *
 * @module
 */

import { join } from "node:path";
import { NODE_V8_FLAGS } from "../config.ts";
import { startServer, type TestServer, userTokens } from "../tests/harness.ts";
import { AUTH_DEFAULTS, loadOrCreateSigningKeys } from "../services/mod.ts";
import { signAccessToken } from "../services/access_token.ts";

const RAW_SERVER = new URL("./raw_conn_server.ts", import.meta.url).pathname;

/** A server under load: its process id (whose RSS is measured) and where it listens. */
export interface LoadTarget extends AsyncDisposable {
  readonly pid: number;
  readonly port: number;
  /** Warnings and errors it logged so far (flash-im: JSON log lines at warn/error). */
  problems(): string[];
}

/**
 * Flags that keep held connections open and cheap for the whole run: the idle timeout and
 * heartbeat far beyond the hold (no PINGs, no idle closes), a generous auth deadline (the
 * connects queue behind each other), and a rate limit that never triggers.
 */
export const NODE_FLAGS: readonly string[] = [
  "--idle-timeout-ms",
  "600000",
  "--heartbeat-ms",
  "300000",
  "--auth-timeout-ms",
  "60000",
  "--rate-limit",
  "100000",
  "--rate-burst",
  "100000",
];

/** Starts a flash-im node on `host` with `dataDir` (kept: the caller removes it). */
export async function startNode(
  dataDir: string,
  options: { host: string; workers: number },
): Promise<LoadTarget & { readonly server: TestServer }> {
  const server = await startServer({
    workers: options.workers,
    dataDir,
    args: ["--host", options.host, ...NODE_FLAGS],
  });
  return {
    server,
    pid: server.process.pid,
    port: server.tcpPort,
    problems: () =>
      server.stderr().split("\n").filter((line) => /"level":"(warn|error)"/.test(line)),
    [Symbol.asyncDispose]: async () => {
      await server.stop("SIGKILL");
    },
  };
}

/** Starts `raw_conn_server.ts` on `host` and a free port. */
export async function startRawServer(host: string): Promise<LoadTarget> {
  const process = new Deno.Command(Deno.execPath(), {
    // The same V8 flags as the flash-im node: the baseline gets the same runtime tuning.
    args: [
      "run",
      "--allow-all",
      `--v8-flags=${NODE_V8_FLAGS}`,
      RAW_SERVER,
      "--host",
      host,
      "--port",
      "0",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Held open: the server exits when it closes (also if this process dies).
  const stdin = process.stdin.getWriter();
  let errText = "";
  const errDone = process.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => void (errText = (errText + chunk).slice(-65536)) }),
  ).catch(() => {});
  const reader = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stop = async () => {
    try {
      process.kill("SIGKILL");
    } catch { /* gone */ }
    await stdin.close().catch(() => {});
    await reader.cancel().catch(() => {});
    await process.status;
    await errDone;
  };
  let out = "";
  const timer = setTimeout(() => stop(), 30_000);
  try {
    while (!/listening \d+\n/.test(out)) {
      const { value, done } = await reader.read();
      if (done) break;
      out += value;
    }
  } finally {
    clearTimeout(timer);
  }
  const port = Number(out.match(/listening (\d+)\n/)?.[1]);
  if (!(port > 0)) {
    await stop();
    throw new Error(`Raw server did not start: ${errText.trim() || out.trim() || "no output"}`);
  }
  return {
    pid: process.pid,
    port,
    problems: () => errText.split("\n").filter((line) => line.trim() !== ""),
    [Symbol.asyncDispose]: stop,
  };
}

/**
 * Registers and logs in `users` accounts over HTTP, then mints `count` access tokens for
 * them (round robin over their sessions) with the node's own signing key, and writes them
 * to `file`, one per line. Minting locally is fast; the node verifies each token as it
 * would any other, so its cost per connection is unchanged.
 *
 * @returns how long minting took, in ms.
 */
export async function writeTokens(
  node: TestServer,
  file: string,
  options: { users: number; count: number; ttlSec: number },
): Promise<number> {
  const tag = crypto.randomUUID().slice(0, 8);
  const sessions: { userId: string; sessionId: string }[] = [];
  for (let u = 0; u < options.users; u++) {
    const login = await userTokens(node, `bench_${tag}_${u}`, `bench-login-${u}`);
    sessions.push({ userId: login.userId, sessionId: login.sessionId });
  }
  const keys = await loadOrCreateSigningKeys(join(node.dataDir, "keys"));
  const t0 = performance.now();
  const tokens: string[] = [];
  for (let i = 0; i < options.count; i++) {
    const { token } = await signAccessToken(
      keys.current,
      { ...sessions[i % sessions.length]!, ttlSec: options.ttlSec },
      { issuer: AUTH_DEFAULTS.issuer, audience: AUTH_DEFAULTS.audience, now: Date.now },
    );
    tokens.push(token);
  }
  const ms = performance.now() - t0;
  await Deno.writeTextFile(file, tokens.join("\n") + "\n");
  return ms;
}
