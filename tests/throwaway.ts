/**
 * Throwaway Postgres and Redis servers for outage tests: each runs on a free port with its
 * own data (a fresh cluster, an in-memory Redis), can be stopped and started again on the
 * same port and data, and removes everything on dispose (`await using`).
 *
 * Postgres refuses to run as root, so its binaries run as the `postgres` OS user
 * (`runuser`) when the tests run as root; the cluster directory is made theirs.
 *
 * @module
 */

import { freePorts } from "./harness.ts";

const PG_BIN = "/usr/lib/postgresql/15/bin";
/** Bound on every start and stop. */
const START_TIMEOUT_MS = 20_000;

/** A throwaway server that can be stopped and started again where it was. */
export interface Throwaway extends AsyncDisposable {
  /** The URL clients connect with. */
  readonly url: string;
  readonly port: number;
  /** Stops the server (Postgres: fast shutdown); resolves once it no longer listens. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data; resolves once it accepts connections. */
  start(): Promise<void>;
}

/** Whether a throwaway Postgres can run here (binaries, a `postgres` user, `runuser`). */
export async function canRunPostgres(): Promise<boolean> {
  try {
    await Deno.stat(`${PG_BIN}/pg_ctl`);
    if (!isRoot()) return true;
    await Deno.stat("/usr/sbin/runuser").catch(() => Deno.stat("/sbin/runuser"));
    return (await run("id", ["postgres"])).ok;
  } catch {
    return false;
  }
}

/** Whether `redis-server` is on the PATH. */
export async function canRunRedis(): Promise<boolean> {
  try {
    return (await run("redis-server", ["--version"])).ok;
  } catch {
    return false;
  }
}

/** Creates a fresh cluster (trust auth, user `postgres`) and starts it on a free port. */
export async function startThrowawayPostgres(): Promise<Throwaway> {
  const [port] = freePorts(1);
  const base = await Deno.makeTempDir({ prefix: "flash-im-pg-" });
  const dataDir = `${base}/data`;
  const socketDir = `${base}/socket`;
  await Deno.mkdir(dataDir, { mode: 0o700 });
  await Deno.mkdir(socketDir);
  const pg = async (tool: string, args: string[]): Promise<void> => {
    const [command, prefix] = isRoot()
      ? ["runuser", ["-u", "postgres", "--", `${PG_BIN}/${tool}`]]
      : [`${PG_BIN}/${tool}`, []];
    const result = await run(command, [...prefix, ...args]);
    if (!result.ok) throw new Error(`${tool} ${args.join(" ")} failed: ${result.output}`);
  };
  let running = false;
  const server: Throwaway = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port: port!,
    async start() {
      await pg("pg_ctl", [
        "-D",
        dataDir,
        "-l",
        `${base}/log`,
        "-t",
        String(START_TIMEOUT_MS / 1000),
        "-o",
        `-p ${port} -k ${socketDir} -c listen_addresses=127.0.0.1 -c fsync=off`,
        "-w",
        "start",
      ]);
      running = true;
    },
    async stop() {
      await pg("pg_ctl", ["-D", dataDir, "-m", "fast", "-t", "20", "-w", "stop"]);
      running = false;
    },
    async [Symbol.asyncDispose]() {
      try {
        if (running) await server.stop().catch(() => {});
      } finally {
        await Deno.remove(base, { recursive: true }).catch(() => {});
      }
    },
  };
  try {
    if (isRoot()) await run("chown", ["-R", "postgres:postgres", base]);
    await pg("initdb", ["-D", dataDir, "-A", "trust", "-U", "postgres", "--no-sync"]);
    await server.start();
  } catch (error) {
    await server[Symbol.asyncDispose]();
    throw error;
  }
  return server;
}

/** Starts `redis-server` on a free port, without persistence (a restart starts empty). */
export function startThrowawayRedis(): Promise<Throwaway> {
  return startListening("redis-server", (port) => ({
    url: `redis://127.0.0.1:${port}`,
    args: [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--daemonize",
      "no",
    ],
  }));
}

/** Whether `nats-server` is on the PATH. */
export async function canRunNats(): Promise<boolean> {
  try {
    return (await run("nats-server", ["--version"])).ok;
  } catch {
    return false;
  }
}

/**
 * Starts `nats-server` with JetStream on a free port; its JetStream store lives in a
 * temporary directory that survives a restart (removed on dispose).
 */
export async function startThrowawayNats(): Promise<Throwaway> {
  const store = await Deno.makeTempDir({ prefix: "flash-im-nats-" });
  const server = await startListening("nats-server", (port) => ({
    url: `nats://127.0.0.1:${port}`,
    args: ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", store],
  })).catch(async (error) => {
    await Deno.remove(store, { recursive: true }).catch(() => {});
    throw error;
  });
  return {
    ...server,
    async [Symbol.asyncDispose]() {
      await server.stop();
      await Deno.remove(store, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * Runs `command` (built for a free port by `spec`) until stopped; `start()` and `stop()`
 * bring it back and kill it (SIGKILL) on the same port.
 */
async function startListening(
  command: string,
  spec: (port: number) => { url: string; args: string[] },
): Promise<Throwaway> {
  const [port] = freePorts(1);
  const { url, args } = spec(port!);
  let child: Deno.ChildProcess | undefined;
  const server: Throwaway = {
    url,
    port: port!,
    async start() {
      child = new Deno.Command(command, {
        args,
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      const exited = child.status.then(() => true);
      const deadline = Date.now() + START_TIMEOUT_MS;
      while (!(await accepts(port!))) {
        if (await Promise.race([exited, delay(50).then(() => false)])) {
          child = undefined;
          throw new Error(`${command} on port ${port} exited at start`);
        }
        if (Date.now() > deadline) {
          await server.stop();
          throw new Error(`${command} on port ${port} did not listen within 20 s`);
        }
      }
    },
    async stop() {
      const running = child;
      child = undefined;
      if (running === undefined) return;
      try {
        running.kill("SIGKILL");
      } catch { /* already gone */ }
      await running.status;
    },
    [Symbol.asyncDispose]: () => server.stop(),
  };
  await server.start();
  return server;
}

/** True when something accepts TCP connections on 127.0.0.1:`port`. */
async function accepts(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function isRoot(): boolean {
  return Deno.uid() === 0;
}

async function run(command: string, args: string[]): Promise<{ ok: boolean; output: string }> {
  const result = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" })
    .output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { ok: result.success, output: decode(result.stdout) + decode(result.stderr) };
}
