/**
 * The authenticated chat HTTP API end to end: profile, search, the friend request
 * lifecycle, blocks, the conversation list and message history, and who may see what.
 * Real node process; messages are sent over the client SDK.
 */

import assert from "node:assert/strict";
import { ContentType, FlashConnection } from "../client/mod.ts";
import { startServer, type TestServer, userTokens } from "./harness.ts";

type Tokens = Awaited<ReturnType<typeof userTokens>>;
interface Reply {
  status: number;
  // deno-lint-ignore no-explicit-any
  body: any;
}

async function call(
  server: TestServer,
  method: string,
  path: string,
  user?: Tokens | string,
  body?: unknown,
): Promise<Reply> {
  const headers: Record<string, string> = {};
  const token = typeof user === "string" ? user : user?.accessToken;
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`${server.http}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

function errorCode(reply: Reply): string | undefined {
  return reply.body?.error?.code;
}

Deno.test("http chat api e2e", async (t) => {
  await using server = await startServer({ workers: 1 });
  const alice = await userTokens(server, "alice");
  const bob = await userTokens(server, "bob");
  const carol = await userTokens(server, "carol");
  const alicia = await userTokens(server, "alicia");
  const get = (path: string, user?: Tokens | string) => call(server, "GET", path, user);
  const post = (path: string, user: Tokens, body?: unknown) =>
    call(server, "POST", path, user, body ?? {});
  const del = (path: string, user: Tokens) => call(server, "DELETE", path, user);

  await t.step("GET /v1/me names the token's user", async () => {
    const me = await get("/v1/me", alice);
    assert.equal(me.status, 200);
    assert.deepEqual(me.body, { user: { id: alice.userId, username: "alice" } });
  });

  await t.step("search excludes the caller and returns only id and username", async () => {
    const found = await get("/v1/users?q=ali", alice);
    assert.equal(found.status, 200);
    assert.deepEqual(found.body, { users: [{ id: alicia.userId, username: "alicia" }] });
    const fromBob = await get("/v1/users?q=AL&limit=1", bob);
    assert.deepEqual(fromBob.body.users, [{ id: alice.userId, username: "alice" }]);
    const empty = await get("/v1/users?q=", alice);
    assert.equal(empty.status, 400);
    assert.equal(errorCode(empty), "invalid_request");
    const badLimit = await get("/v1/users?q=a&limit=zero", alice);
    assert.equal(badLimit.status, 400);
    assert.match(badLimit.body.error.message, /"zero"/);
  });

  await t.step("request, list both sides, accept, friends on both sides, remove", async () => {
    const sent = await post("/v1/friends/requests", alice, { userId: bob.userId });
    assert.equal(sent.status, 201);
    assert.deepEqual(sent.body, { status: "pending" });
    const again = await post("/v1/friends/requests", alice, { userId: bob.userId });
    assert.equal(again.status, 409);
    assert.equal(errorCode(again), "already_pending");

    const aliceSide = await get("/v1/friends/requests", alice);
    assert.deepEqual(aliceSide.body.incoming, []);
    assert.deepEqual(
      aliceSide.body.outgoing.map((r: { userId: string; username: string }) => [
        r.userId,
        r.username,
      ]),
      [[bob.userId, "bob"]],
    );
    assert.equal(typeof aliceSide.body.outgoing[0].createdAt, "number");
    const bobSide = await get("/v1/friends/requests", bob);
    assert.deepEqual(bobSide.body.outgoing, []);
    assert.equal(bobSide.body.incoming[0].userId, alice.userId);

    // Alice cannot accept her own request: the caller is always the recipient.
    const wrongSide = await post(`/v1/friends/requests/${bob.userId}/accept`, alice);
    assert.equal(wrongSide.status, 404);
    assert.equal(errorCode(wrongSide), "not_found");

    const accepted = await post(`/v1/friends/requests/${alice.userId}/accept`, bob);
    assert.equal(accepted.status, 204);
    for (const [user, other, name] of [[alice, bob, "bob"], [bob, alice, "alice"]] as const) {
      const list = await get("/v1/friends", user);
      assert.equal(list.status, 200);
      assert.equal(list.body.friends.length, 1);
      assert.equal(list.body.friends[0].userId, other.userId);
      assert.equal(list.body.friends[0].username, name);
      assert.equal(typeof list.body.friends[0].since, "number");
      assert.deepEqual((await get("/v1/friends/requests", user)).body, {
        incoming: [],
        outgoing: [],
      });
    }
    const already = await post("/v1/friends/requests", bob, { userId: alice.userId });
    assert.equal(errorCode(already), "already_friends");

    assert.equal((await del(`/v1/friends/${bob.userId}`, alice)).status, 204);
    assert.deepEqual((await get("/v1/friends", bob)).body.friends, []);
    const gone = await del(`/v1/friends/${bob.userId}`, alice);
    assert.equal(gone.status, 404);
    assert.equal(errorCode(gone), "not_friends");
  });

  await t.step("decline and cancel", async () => {
    assert.equal((await post("/v1/friends/requests", carol, { userId: bob.userId })).status, 201);
    assert.equal((await post(`/v1/friends/requests/${carol.userId}/decline`, bob)).status, 204);
    assert.deepEqual((await get("/v1/friends/requests", bob)).body.incoming, []);
    assert.deepEqual((await get("/v1/friends/requests", carol)).body.outgoing, []);

    assert.equal((await post("/v1/friends/requests", carol, { userId: bob.userId })).status, 201);
    assert.equal((await del(`/v1/friends/requests/${bob.userId}`, carol)).status, 204);
    assert.deepEqual((await get("/v1/friends/requests", bob)).body.incoming, []);
    assert.equal(errorCode(await del(`/v1/friends/requests/${bob.userId}`, carol)), "not_found");
  });

  await t.step("refusals carry the store's reason", async () => {
    const self = await post("/v1/friends/requests", alice, { userId: alice.userId });
    assert.equal(self.status, 400);
    assert.equal(errorCode(self), "self");
    const unknown = await post("/v1/friends/requests", alice, { userId: "987654321" });
    assert.equal(unknown.status, 404);
    assert.equal(errorCode(unknown), "unknown_user");
    const notString = await post("/v1/friends/requests", alice, { userId: 5 });
    assert.equal(errorCode(notString), "invalid_request");
  });

  await t.step("a block removes the friendship and refuses requests both ways", async () => {
    assert.equal((await post("/v1/friends/requests", carol, { userId: alice.userId })).status, 201);
    assert.equal((await post(`/v1/friends/requests/${carol.userId}/accept`, alice)).status, 204);
    assert.equal((await get("/v1/friends", carol)).body.friends.length, 1);

    const blocked = await post("/v1/blocks", alice, { userId: carol.userId });
    assert.equal(blocked.status, 200);
    assert.deepEqual(blocked.body, { blocked: true, changed: true });
    assert.deepEqual((await get("/v1/friends", carol)).body.friends, []);
    assert.deepEqual((await get("/v1/friends", alice)).body.friends, []);
    for (const [from, to] of [[carol, alice], [alice, carol]]) {
      const refused = await post("/v1/friends/requests", from, { userId: to.userId });
      assert.equal(refused.status, 403);
      assert.equal(errorCode(refused), "blocked");
    }
    assert.equal((await del(`/v1/blocks/${carol.userId}`, alice)).status, 204);
    assert.equal(errorCode(await del(`/v1/blocks/${carol.userId}`, alice)), "not_blocked");
    assert.deepEqual((await get("/v1/friends", alice)).body.friends, [], "no friendship back");
    const afterUnblock = await post("/v1/friends/requests", carol, { userId: alice.userId });
    assert.deepEqual(afterUnblock.body, { status: "pending" });
  });

  let conversationId = "";
  await t.step("conversations list: unread count and last message", async () => {
    // Befriend again (asking back accepts), then chat over the SDK.
    assert.equal((await post("/v1/friends/requests", alice, { userId: bob.userId })).status, 201);
    const back = await post("/v1/friends/requests", bob, { userId: alice.userId });
    assert.deepEqual(back.body, { status: "accepted" });
    const conn = new FlashConnection({
      url: `tcp://127.0.0.1:${server.tcpPort}`,
      token: alice.accessToken,
      deviceId: "alice-laptop",
      reconnect: false,
    });
    await conn.connect();
    try {
      for (let i = 1; i <= 5; i++) {
        await conn.sendMessage({
          peerUserId: bob.userId,
          clientMsgId: `m-${i}`,
          content: { type: ContentType.TEXT, text: `hello ${i}` },
        });
      }
    } finally {
      await conn.close();
    }
    const bobList = await get("/v1/conversations", bob);
    assert.equal(bobList.status, 200);
    assert.equal(bobList.body.hasMore, false);
    assert.equal(bobList.body.conversations.length, 1);
    const row = bobList.body.conversations[0];
    conversationId = row.conversationId;
    const [low, high] = [alice.userId, bob.userId].sort((a, b) => Number(a) - Number(b));
    assert.equal(conversationId, `d:${low}:${high}`);
    assert.equal(row.kind, "direct");
    assert.equal(row.peer.userId, alice.userId);
    assert.equal(row.lastSeq, "5");
    assert.equal(row.readSeq, "0");
    assert.equal(row.unread, "5");
    assert.equal(typeof row.activityAt, "number");
    assert.equal(row.lastMessage.seq, "5");
    assert.equal(row.lastMessage.senderId, alice.userId);
    assert.equal(row.lastMessage.clientMsgId, "m-5");
    assert.deepEqual(row.lastMessage.content, { type: ContentType.TEXT, text: "hello 5" });
    assert.match(row.lastMessage.messageId, /^[1-9][0-9]*$/);

    const aliceRow = (await get("/v1/conversations?limit=10", alice)).body.conversations[0];
    assert.equal(aliceRow.unread, "0", "the sender has read up to their own message");
    assert.equal(aliceRow.peer.userId, bob.userId);
    assert.deepEqual((await get("/v1/conversations", carol)).body, {
      conversations: [],
      hasMore: false,
      nextCursor: null,
    });
    assert.equal((await get("/v1/conversations?limit=0", bob)).status, 400);
  });

  await t.step("history pages with string seqs", async () => {
    const path = `/v1/conversations/${conversationId}/messages`;
    const all = await get(path, bob);
    assert.equal(all.status, 200);
    assert.deepEqual(all.body.messages.map((m: { seq: string }) => m.seq), [
      "1",
      "2",
      "3",
      "4",
      "5",
    ]);
    assert.equal(all.body.hasMore, false);
    assert.equal(all.body.messages[0].content.text, "hello 1");
    assert.equal(typeof all.body.messages[0].createdAt, "number");

    const newest = await get(`${path}?before=5&limit=2`, bob);
    assert.deepEqual(newest.body.messages.map((m: { seq: string }) => m.seq), ["3", "4"]);
    assert.equal(newest.body.hasMore, true);
    const oldest = await get(`${path}?after=1&limit=2`, alice);
    assert.deepEqual(oldest.body.messages.map((m: { seq: string }) => m.seq), ["2", "3"]);
    assert.equal(oldest.body.hasMore, true);
    const range = await get(`${path}?after=2&before=4`, alice);
    assert.deepEqual(range.body.messages.map((m: { seq: string }) => m.seq), ["3"]);

    const bad = await get(`${path}?before=-1`, bob);
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /before/);
    assert.match(bad.body.error.message, /"-1"/);
  });

  await t.step("only members read a conversation; malformed ids are 404", async () => {
    const path = `/v1/conversations/${conversationId}/messages`;
    const foreign = await get(path, carol);
    assert.equal(foreign.status, 403);
    assert.equal(errorCode(foreign), "not_member");
    // Bob cannot read alice's conversation with carol either.
    const [low, high] = [alice.userId, carol.userId].sort((a, b) => Number(a) - Number(b));
    assert.equal(
      errorCode(await get(`/v1/conversations/d:${low}:${high}/messages`, bob)),
      "not_member",
    );
    for (const id of ["nope", "d:2:1", "g:1", `d:${bob.userId}:${bob.userId}`]) {
      const malformed = await get(`/v1/conversations/${id}/messages`, bob);
      assert.equal(malformed.status, 404, id);
    }
  });

  await t.step("every route without a valid token is 401", async () => {
    const routes: [string, string][] = [
      ["GET", "/v1/me"],
      ["GET", "/v1/users?q=a"],
      ["GET", "/v1/friends"],
      ["GET", "/v1/friends/requests"],
      ["POST", "/v1/friends/requests"],
      ["POST", `/v1/friends/requests/${alice.userId}/accept`],
      ["POST", `/v1/friends/requests/${alice.userId}/decline`],
      ["DELETE", `/v1/friends/requests/${alice.userId}`],
      ["DELETE", `/v1/friends/${alice.userId}`],
      ["POST", "/v1/blocks"],
      ["DELETE", `/v1/blocks/${alice.userId}`],
      ["GET", "/v1/conversations"],
      ["GET", `/v1/conversations/${conversationId}/messages`],
    ];
    for (const [method, path] of routes) {
      const body = method === "POST" ? { userId: alice.userId } : undefined;
      const none = await call(server, method, path, undefined, body);
      assert.equal(none.status, 401, `${method} ${path}`);
      assert.equal(errorCode(none), "unauthorized", `${method} ${path}`);
      const forged = await call(server, method, path, "not.a.token", body);
      assert.equal(forged.status, 401, `${method} ${path}`);
      assert.match(errorCode(forged) ?? "", /^token_/, `${method} ${path}`);
    }
  });

  await t.step("unknown routes are 404, wrong methods 405, auth routes still served", async () => {
    const unknown = await get("/v1/nothing-here", alice);
    assert.equal(unknown.status, 404);
    assert.equal(errorCode(unknown), "not_found");
    assert.equal((await call(server, "PUT", "/v1/me", alice)).status, 405);
    assert.equal((await get("/.well-known/jwks.json")).status, 200);
  });
});
