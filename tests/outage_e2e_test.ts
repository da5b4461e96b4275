/**
 * Backend outages end to end: a node on a throwaway Postgres and a throwaway Redis keeps
 * running while either goes away, refuses what it cannot do with a temporary error (never a
 * false ack, never a hang), and recovers by itself when the server comes back; a node
 * started without its servers exits at once, naming the missing one.
 */

import assert from "node:assert/strict";
import { Redis } from "ioredis";
import {
  CloseCode,
  ConnectionClosedError,
  ContentType,
  ErrorCode,
  errorInfo,
  type SendAck,
  ServerError,
  u64ToBigInt,
} from "../client/mod.ts";
import { openStores } from "../services/mod.ts";
import {
  device,
  freePorts,
  postJson,
  startServer,
  type TestServer,
  userTokens,
} from "./harness.ts";
import {
  canRunPostgres,
  canRunRedis,
  startThrowawayPostgres,
  startThrowawayRedis,
  type Throwaway,
} from "./throwaway.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const SCHEMA = "outage";
const PREFIX = "outage:";
const ignore = !(await canRunPostgres()) || !(await canRunRedis());

function text(peerUserId: string, clientMsgId: string) {
  return { peerUserId, clientMsgId, content: { type: ContentType.TEXT, text: clientMsgId } };
}

async function until<T>(
  attempt: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const value = await attempt();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** `promise`'s value, or `undefined` when it takes longer than `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** True while the node process has not exited. */
async function alive(server: TestServer): Promise<boolean> {
  return (await within(server.process.status, 50)) === undefined;
}

/** A node on `pg` and `redis`, with its own data dir (keys). */
function startNode(dataDir: string, pg: Throwaway, redis: Throwaway): Promise<TestServer> {
  return startServer({
    dataDir,
    args: [
      "--postgres",
      pg.url,
      "--pg-schema",
      SCHEMA,
      "--redis",
      redis.url,
      "--redis-prefix",
      PREFIX,
      // Sends come faster than the default per-connection rate limit allows.
      "--rate-limit",
      "5000",
      "--rate-burst",
      "2000",
      "--log-level",
      "error",
    ],
  });
}

/** Registers alice, bob and carol; alice is friends with both (through the store). */
async function friends(server: TestServer, pg: Throwaway) {
  const alice = await userTokens(server, "alice");
  const bob = await userTokens(server, "bob");
  const carol = await userTokens(server, "carol");
  const stores = await openStores({
    dataDir: server.dataDir,
    postgres: { url: pg.url, schema: SCHEMA, poolSize: 1 },
  });
  try {
    for (const other of [bob, carol]) {
      await stores.friends.request(alice.userId, other.userId, Date.now());
      assert.deepEqual(await stores.friends.accept(other.userId, alice.userId, Date.now()), {
        ok: true,
      });
    }
  } finally {
    await stores.close();
  }
  return { alice, bob, carol };
}

/** An ack, or the temporary ServerError that refused the send (anything else fails). */
async function ackOrTemporary(
  send: Promise<SendAck>,
  what: string,
): Promise<SendAck | ServerError> {
  try {
    return await send;
  } catch (error) {
    assert.ok(error instanceof ServerError, `${what}: ${error}`);
    assert.equal(errorInfo(error.code).temporary, true, `${what}: ${error.codeName} is temporary`);
    assert.equal(error.code, ErrorCode.Unavailable, `${what}: ${error.codeName} names the outage`);
    return error;
  }
}

Deno.test({
  name: "outage e2e: Postgres down refuses sends as temporary, then recovers by itself",
  ignore,
  async fn() {
    await using pg = await startThrowawayPostgres();
    await using redis = await startThrowawayRedis();
    const dataDir = await Deno.makeTempDir({ prefix: "flash-im-outage-e2e-" });
    let server: TestServer | undefined;
    try {
      server = await startNode(dataDir, pg, redis);
      const { alice, bob, carol } = await friends(server, pg);
      let laptop = await device(server, alice, "alice-laptop");
      let bobs = await device(server, bob, "bob-phone");
      const acked: SendAck[] = [];
      /** Refused and never retried: must not be in the store. */
      const refused = new Set<string>();
      /** Refused while Postgres went away (a commit may have been cut off): retried later. */
      const retry = new Set<string>();
      const send = (from: typeof laptop, to: string, id: string) =>
        ackOrTemporary(from.conn.sendMessage(text(to, id), { timeoutMs: 15_000 }), `send ${id}`);
      acked.push(await laptop.conn.sendMessage(text(bob.userId, "before-1")));

      // Sends keep going while Postgres shuts down: each one is acked or refused.
      let stopped = false;
      const edge: Promise<unknown>[] = [];
      const pump = (async () => {
        for (let i = 0; !stopped; i++) {
          const id = `edge-${i}`;
          edge.push(
            laptop.conn.sendMessage(text(bob.userId, id), { timeoutMs: 15_000 }).then(
              (ack) => void acked.push(ack),
              (error: unknown) => {
                // A connection may drop as Postgres goes (the client resends on a new one).
                if (error instanceof ConnectionClosedError) return void retry.add(id);
                if (!(error instanceof ServerError) || !errorInfo(error.code).temporary) {
                  return error;
                }
                retry.add(id);
                return undefined;
              },
            ),
          );
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      })();
      await pg.stop();
      stopped = true;
      await pump;
      const failures = (await Promise.all(edge)).filter((error) => error !== undefined);
      assert.deepEqual(failures, [], `unexpected failures; node log:\n${server.stderr()}`);
      // The driver's write-after-close throw (porsager/postgres#1154), when it comes, is
      // outlived: a worker that died would have lost the requests its actors held.
      assert.doesNotMatch(server.stderr(), /Worker died/);
      const reconnect = (user: typeof alice, deviceId: string) =>
        until(() => device(server!, user, deviceId).catch(() => undefined), `${deviceId} back`);
      if (laptop.conn.state !== "open") {
        laptop = await reconnect(alice, "alice-laptop");
      }
      if (bobs.conn.state !== "open") {
        bobs = await reconnect(bob, "bob-phone");
      }

      const downAt = Date.now();
      const codes = new Set<string>();
      for (let i = 0; i < 5; i++) {
        const id = `down-${i}`;
        const result = await send(laptop, bob.userId, id);
        assert.ok(result instanceof ServerError, `${id} while Postgres is down was acked`);
        refused.add(id);
        codes.add(result.codeName);
      }
      // A conversation not active yet cannot load its state: refused the same way.
      const fresh = await send(laptop, carol.userId, "carol-down");
      assert.ok(fresh instanceof ServerError, "a new conversation's send was acked");
      refused.add("carol-down");
      const refusedWithinMs = Date.now() - downAt;
      // Refused promptly (the driver's default reconnect backoff made each take seconds).
      assert.ok(refusedWithinMs < 10_000, `6 refusals (${[...codes]}) took ${refusedWithinMs} ms`);
      assert.ok(await alive(server), "the node is still running");
      assert.equal(laptop.conn.state, "open");
      assert.equal(bobs.conn.state, "open");
      // Connecting needs no Postgres (tokens are checked locally).
      const tablet = await device(server, bob, "bob-tablet");
      await tablet.conn.close();

      await pg.start();
      const upAt = Date.now();
      let attempt = 0;
      const first = await until(async () => {
        const id = `recover-${attempt++}`;
        const result = await send(laptop, bob.userId, id);
        if (!(result instanceof ServerError)) return result;
        refused.add(id);
        return undefined;
      }, "a send to succeed after Postgres restarted");
      const recoveredWithinMs = Date.now() - upAt;
      assert.ok(recoveredWithinMs < 20_000, `recovered after ${recoveredWithinMs} ms`);
      acked.push(first);
      // Refused sends retried with their clientMsgId are stored once: "down-0" now, and
      // every send refused while Postgres went away (new, or the ack of a cut-off commit).
      for (const id of ["down-0", ...retry]) {
        const ack = await laptop.conn.sendMessage(text(bob.userId, id));
        assert.equal(u64ToBigInt(ack.seq) > 0n, true);
        acked.push(ack);
      }
      refused.delete("down-0");
      acked.push(await laptop.conn.sendMessage(text(carol.userId, "carol-after")));
      for (let i = 0; i < 3; i++) {
        acked.push(await bobs.conn.sendMessage(text(alice.userId, `after-${i}`)));
      }
      assert.ok(await alive(server), "the node never restarted");

      const stores = await openStores({
        dataDir,
        postgres: { url: pg.url, schema: SCHEMA, poolSize: 1 },
      });
      try {
        for (const conversationId of new Set(acked.map((ack) => ack.conversationId!))) {
          const page = await stores.messages.page(conversationId, { limit: 1000 });
          assert.equal(page.hasMore, false);
          const ids = page.messages.map((m) => m.clientMsgId);
          assert.deepEqual(
            page.messages.map((m) => m.seq),
            page.messages.map((_, i) => BigInt(i + 1)),
            `gap-free seqs in ${conversationId}`,
          );
          assert.equal(new Set(ids).size, ids.length, "each message stored once");
          const mine = acked.filter((ack) => ack.conversationId === conversationId);
          assert.deepEqual(
            [...ids].sort(),
            [...new Set(mine.map((ack) => ack.clientMsgId!))].sort(),
            "exactly the acknowledged messages are stored",
          );
          for (const ack of mine) {
            const stored = page.messages.find((m) => m.clientMsgId === ack.clientMsgId)!;
            assert.equal(stored.seq, u64ToBigInt(ack.seq), `seq of ${ack.clientMsgId}`);
          }
          for (const id of refused) assert.ok(!ids.includes(id), `refused ${id} is not stored`);
        }
      } finally {
        await stores.close();
      }
      await Promise.all([laptop.conn.close(), bobs.conn.close()]);
    } finally {
      await server?.stop("SIGKILL");
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "outage e2e: Redis down keeps chat going and logins bounded; revocation resumes",
  ignore,
  async fn() {
    await using pg = await startThrowawayPostgres();
    await using redis = await startThrowawayRedis();
    const dataDir = await Deno.makeTempDir({ prefix: "flash-im-outage-e2e-" });
    let server: TestServer | undefined;
    try {
      server = await startNode(dataDir, pg, redis);
      const { alice, bob } = await friends(server, pg);
      const laptop = await device(server, alice, "alice-laptop");
      const bobs = await device(server, bob, "bob-phone");
      await laptop.conn.sendMessage(text(bob.userId, "before-1"));

      await redis.stop();
      const started = Date.now();
      const login = await fetch(`${server.http}/v1/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          username: "alice",
          password: "correct horse battery",
          deviceId: "alice-tablet",
        }),
        signal: AbortSignal.timeout(10_000),
      });
      const body = await login.json();
      assert.ok(Date.now() - started < 10_000);
      // Its bucket lives in Redis: refused as temporarily unavailable, with a retry hint.
      assert.equal(login.status, 503, `login while Redis is down: ${JSON.stringify(body)}`);
      assert.equal(body.error?.code, "unavailable");
      assert.equal(login.headers.get("retry-after"), "1");
      // Revocation checks fail open while Redis is down: connects still work.
      const late = await device(server, bob, "bob-tablet");
      await late.conn.close();
      // The message path does not need Redis.
      for (let i = 0; i < 3; i++) {
        const ack = await laptop.conn.sendMessage(text(bob.userId, `redis-down-${i}`), {
          timeoutMs: 10_000,
        });
        assert.equal(ack.duplicate, false);
        await bobs.conn.sendMessage(text(alice.userId, `redis-down-bob-${i}`));
      }
      assert.ok(await alive(server));

      await redis.start();
      // Revocations are pub/sub: wait until every worker has subscribed again.
      const probe = new Redis({ host: "127.0.0.1", port: redis.port, maxRetriesPerRequest: 1 });
      try {
        await until(async () => {
          const [, count] = await probe.pubsub("NUMSUB", `${PREFIX}revoked`) as [string, number];
          return count >= 2 ? true : undefined;
        }, "the workers to resubscribe to revocations");
      } finally {
        probe.disconnect();
      }
      const tablet = await until(async () => {
        const answer = await postJson(server!, "/v1/auth/login", {
          username: "alice",
          password: "correct horse battery",
          deviceId: "alice-tablet",
        });
        return answer.status === 200 ? answer.body as typeof alice : undefined;
      }, "a login after Redis restarted");
      const session = await device(server, tablet, "alice-tablet");
      const logout = await postJson(server, "/v1/auth/logout", {
        refreshToken: tablet.refreshToken,
      });
      assert.equal(logout.status, 204);
      const closed = await within(session.conn.closed, 10_000);
      assert.equal(closed?.code, CloseCode.Revoked, "the logged-out session is closed");
      // The other sessions are untouched.
      await laptop.conn.sendMessage(text(bob.userId, "after-logout"));
      await Promise.all([laptop.conn.close(), bobs.conn.close()]);
    } finally {
      await server?.stop("SIGKILL");
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "outage e2e: a node started without its Postgres or Redis exits, naming it",
  ignore,
  async fn() {
    await using pg = await startThrowawayPostgres();
    await using redis = await startThrowawayRedis();
    const [closed] = freePorts(1);
    const cases = [
      {
        name: "Postgres",
        args: ["--postgres", `postgres://postgres@127.0.0.1:${closed}/x`, "--redis", redis.url],
      },
      {
        name: "Redis",
        args: ["--postgres", pg.url, "--redis", `redis://127.0.0.1:${closed}`],
      },
    ];
    for (const { name, args } of cases) {
      const dataDir = await Deno.makeTempDir({ prefix: "flash-im-outage-e2e-" });
      try {
        const [tcp, http] = freePorts(2);
        const started = Date.now();
        const child = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "--allow-all",
            MAIN,
            "--data-dir",
            dataDir,
            "--tcp-port",
            String(tcp),
            "--http-port",
            String(http),
            "--pg-schema",
            SCHEMA,
            "--redis-prefix",
            PREFIX,
            ...args,
          ],
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
        const output = await child.output();
        clearTimeout(timer);
        const took = Date.now() - started;
        const printed = new TextDecoder().decode(output.stderr) +
          new TextDecoder().decode(output.stdout);
        assert.notEqual(output.code, 0, `${name}: exit code`);
        assert.equal(output.signal, null, `${name}: exited by itself (${took} ms)`);
        assert.ok(took < 15_000, `${name}: exited after ${took} ms`);
        assert.match(printed, new RegExp(name), `${name} is named:\n${printed}`);
        assert.doesNotMatch(printed, /running with/);
      } finally {
        await Deno.remove(dataDir, { recursive: true });
      }
    }
  },
});
