import assert from "node:assert/strict";
import { ActorSystem, type BoundRef, virtualRef } from "../runtime/mod.ts";
import type { StoredMessage } from "../services/mod.ts";
import { userFactory, type UserMessage } from "./user_actor.ts";

function setup(offlineGraceMs?: number) {
  const system = new ActorSystem();
  const got = new Map<number, { type: string; code?: number }[]>();
  system.register("conn", {
    create: (ref) => ({
      receive(m: { type: string; code?: number }) {
        const local = (ref as BoundRef).local;
        got.set(local, [...(got.get(local) ?? []), m]);
      },
    }),
  });
  const friendsOf = () => Promise.resolve({ friends: [], hasMore: false });
  system.register(USER, {
    virtual: true,
    create: userFactory({ friends: { friendsOf }, offlineGraceMs }),
  });
  return { system, got, user: virtualRef<UserMessage>(USER, "42") };
}
const USER = "user";

const message: StoredMessage = {
  messageId: "7",
  conversationId: "d:1:42",
  seq: 3n,
  senderId: "1",
  clientMsgId: "c",
  content: { type: 1, text: "hi" },
  createdAt: 1,
};

Deno.test("user actor pushes a delivered message to every attached device", async () => {
  const { system, got, user } = setup();
  const a = system.spawn("conn") as BoundRef;
  const b = system.spawn("conn") as BoundRef;
  system.tell(user, { type: "attach", conn: a, deviceId: "laptop" });
  system.tell(user, { type: "attach", conn: b, deviceId: "phone" });
  system.tell(user, { type: "deliver", message });
  await system.idle();
  assert.deepEqual(got.get(a.local)?.map((m) => m.type), ["push"]);
  assert.deepEqual(got.get(b.local)?.map((m) => m.type), ["push"]);
  system.tell(user, { type: "detach", conn: a });
  system.tell(user, { type: "deliver", message });
  await system.idle();
  assert.equal(got.get(a.local)?.length, 1, "a detached device gets nothing more");
  assert.equal(got.get(b.local)?.length, 2);
  await system.shutdown();
});

Deno.test("user actor does not push a message back to the device that sent it", async () => {
  const { system, got, user } = setup();
  const sender = system.spawn("conn") as BoundRef;
  const other = system.spawn("conn") as BoundRef;
  system.tell(user, { type: "attach", conn: sender, deviceId: "laptop" });
  system.tell(user, { type: "attach", conn: other, deviceId: "phone" });
  // Across workers the ref arrives as a copy: matched by value, not identity.
  system.tell(user, { type: "deliver", message, except: { ...sender } });
  await system.idle();
  assert.equal(got.get(sender.local), undefined, "the sending device has the ack");
  assert.deepEqual(got.get(other.local)?.map((m) => m.type), ["push"]);
  await system.shutdown();
});

Deno.test("user actor replaces an older connection of the same device (Kicked)", async () => {
  const { system, got, user } = setup();
  const old = system.spawn("conn") as BoundRef;
  const fresh = system.spawn("conn") as BoundRef;
  system.tell(user, { type: "attach", conn: old, deviceId: "phone" });
  system.tell(user, { type: "attach", conn: fresh, deviceId: "phone" });
  // The old connection's late detach must not drop the new one.
  system.tell(user, { type: "detach", conn: old });
  assert.equal(await system.ask(user, { type: "sessions" }, { timeoutMs: 1000 }), 1);
  system.tell(user, { type: "deliver", message });
  await system.idle();
  assert.deepEqual(got.get(old.local), [{
    type: "close",
    code: 4007,
    reason: "logged in elsewhere",
  }]);
  assert.deepEqual(got.get(fresh.local)?.map((m) => m.type), ["push"]);
  await system.shutdown();
});

Deno.test("user actor keeps a connection that attaches again, and drops sessions of gone nodes", async () => {
  const { system, got, user } = setup();
  const here = system.spawn("conn") as BoundRef;
  const there: BoundRef = { kind: "conn", node: "gone-node", worker: 0, local: 5 };
  system.tell(user, { type: "attach", conn: here, deviceId: "phone" });
  system.tell(user, { type: "attach", conn: there, deviceId: "laptop" });
  // A new cluster view: this connection attaches again where its user now lives.
  system.tell(user, { type: "attach", conn: here, deviceId: "phone" });
  assert.equal(await system.ask(user, { type: "sessions" }, { timeoutMs: 1000 }), 2);
  assert.equal(got.get(here.local), undefined, "not kicked by its own second attach");
  // The laptop's node left the view: its session is gone; the phone's stays.
  system.tell(user, { type: "nodesChanged", live: [system.node] });
  assert.equal(await system.ask(user, { type: "sessions" }, { timeoutMs: 1000 }), 1);
  assert.equal(await system.ask(user, { type: "online" }, { timeoutMs: 1000 }), true);
  await system.shutdown();
});

Deno.test("user actor asks again after a view change whether friends seen online still are", async () => {
  const { system, got, user } = setup(10);
  const phone = system.spawn("conn") as BoundRef;
  system.tell(user, { type: "attach", conn: phone, deviceId: "phone" });
  // Friend 7 came online (its actor then died with its node: a fresh one knows no session).
  system.tell(user, { type: "presence", userId: "7", online: true, lastSeenMs: 1 });
  system.tell(user, { type: "nodesChanged", live: [system.node] });
  const statuses = () =>
    (got.get(phone.local) ?? []).map((m) =>
      (m as { frame?: { presenceNotify?: { userId: string; status: number } } }).frame
        ?.presenceNotify
    ).filter((p) => p !== undefined);
  for (let i = 0; i < 100 && statuses().length < 2; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.deepEqual(statuses().map((p) => [p.userId, p.status]), [["7", 1], ["7", 2]]);
  await system.shutdown();
});

Deno.test("user actor: a login learns which friends are online; repeated news is pushed once", async () => {
  const system = new ActorSystem();
  const got = new Map<number, unknown[]>();
  system.register("conn", {
    create: (ref) => ({
      receive(m: unknown) {
        const local = (ref as BoundRef).local;
        got.set(local, [...(got.get(local) ?? []), m]);
      },
    }),
  });
  // 1 and 2 are friends.
  const friendsOf = (id: string) =>
    Promise.resolve({ friends: [{ userId: id === "1" ? "2" : "1" }], hasMore: false });
  system.register(USER, {
    virtual: true,
    create: userFactory({ friends: { friendsOf } as never }),
  });
  const seen = (conn: BoundRef) =>
    (got.get(conn.local) ?? []).map((m) =>
      (m as { frame?: { presenceNotify?: { userId: string; status: number } } }).frame
        ?.presenceNotify
    ).filter((p) => p !== undefined).map((p) => [p.userId, p.status]);
  const one = system.spawn("conn") as BoundRef;
  const two = system.spawn("conn") as BoundRef;
  system.tell(virtualRef<UserMessage>(USER, "1"), { type: "attach", conn: one, deviceId: "a" });
  await system.idle();
  system.tell(virtualRef<UserMessage>(USER, "2"), { type: "attach", conn: two, deviceId: "b" });
  for (let i = 0; i < 100 && seen(two).length < 1; i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.deepEqual(seen(one), [["2", 1]], "1 hears that 2 came online, once");
  assert.deepEqual(seen(two), [["1", 1]], "2 learns at login that 1 is online");
  await system.shutdown();
});
